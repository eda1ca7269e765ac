"""The per-camera pipeline without ROS: the stages the nodes, offline evaluation and the fleet run."""
