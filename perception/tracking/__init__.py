"""ROS-free multi-object tracking: association, box and ground-plane motion, ego-motion, metric positions."""
from perception.tracking.ground_plane import CameraPose, GroundMeasurements, GroundPlaneProjector
from perception.tracking.tracker import Tracker, TrackerConfig

__all__ = ["CameraPose", "GroundMeasurements", "GroundPlaneProjector", "Tracker", "TrackerConfig"]
