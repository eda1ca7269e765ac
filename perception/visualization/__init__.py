"""Drawing and plotting of detections, tracks and predicted paths (no ROS)."""
