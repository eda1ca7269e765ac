"""Readers and result writers of the public benchmark formats used in evaluation and training (no ROS)."""
