"""Traffic signs: a YOLOv8n sign detector and a 43-class GTSRB/GTSDB classifier on its crops."""
