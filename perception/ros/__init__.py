"""The ROS 2 layer: message conversion, QoS, diagnostics. The only place besides nodes that imports rclpy."""
