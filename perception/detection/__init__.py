"""ROS-free object detector: COCO YOLOv8 on ONNX Runtime, PyTorch or TensorRT with shared pre/post-processing."""
from perception.detection.detector import Detector, StageTimings
from perception.detection.errors import BackendUnavailableError, DetectorSetupError, ModelFileError
from perception.detection.factory import create_detector

__all__ = [
    "BackendUnavailableError",
    "Detector",
    "DetectorSetupError",
    "ModelFileError",
    "StageTimings",
    "create_detector",
]
