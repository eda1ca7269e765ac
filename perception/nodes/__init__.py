"""Thin rclpy node shells over the ROS-free pipeline stages; one module per executable."""
