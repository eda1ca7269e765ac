"""Readers for the public benchmark formats used in evaluation and training (no ROS)."""
