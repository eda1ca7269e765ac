"""Offline evaluation of pipeline stages against benchmark ground truth: detection, tracking, ego-motion, ground
positions, prediction and signs; reports of runs (no ROS)."""
