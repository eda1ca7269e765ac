"""The detector's and the sign recognizer's work for one camera, without ROS: models loaded with their status,
image messages decoded and detected, bad images rejected and counted."""
from __future__ import annotations

import os
import threading
import traceback
from typing import TYPE_CHECKING, Any

from perception.detection.errors import DetectorSetupError
from perception.imaging import ImageDecodeError, decode_image_message
from perception.pipeline.health import ERROR, OK, WARN, Health
from perception.pipeline.models import ModelCache
from perception.types import Detections

if TYPE_CHECKING:  # the detection stack (ONNX Runtime, OpenVINO, torch) loads only where it runs
    from perception.detection.detector import Detector
    from perception.signs.recognizer import SignRecognizer


def detector_from_parameters(p: dict[str, Any], status_callback=None, **backend_options: Any) -> "Detector":
    """The detector of the detector parameters (backend_options: see create_detector)."""
    from perception.detection.factory import create_detector

    return create_detector(
        model=p["model"] or None, backend=p["backend"], imgsz=p["imgsz"], conf=p["conf_threshold"],
        iou=p["iou_threshold"], device=p["device"] or None, fallback=p["fallback"], precision=p["precision"],
        unknown_classes=p["unknown_classes"], status_callback=status_callback, **backend_options,
    )


def _setup_failure(health: Health, what: str, error: Exception) -> None:
    from perception.detection.factory import setup_failure_reason

    reason = setup_failure_reason(error)
    detail = "" if isinstance(error, (DetectorSetupError, ValueError, OSError)) else "\n" + traceback.format_exc()
    health.log(ERROR, f"{what} cannot start: {reason}{detail}")
    health.set_status(ERROR, f"no {what}: {reason}")


class DetectionStage:
    """Camera images in, Detections out. `load` may take long (a TensorRT engine build): the status says so."""

    def __init__(self, parameters: dict[str, Any], health: Health | None = None, models: ModelCache | None = None,
                 **backend_options: Any) -> None:
        self.parameters, self.backend_options = parameters, backend_options
        self.health = health or Health()
        self.models = models or ModelCache()
        self.detector: "Detector | None" = None

    def load(self) -> bool:
        """Load the model; False (status ERROR, with the reason) when it cannot run."""
        self.health.set_status(WARN, "loading model")
        try:
            self.detector = self.models.get("detector", {**self.parameters, **self.backend_options},
                                            lambda: detector_from_parameters(
                                                self.parameters, status_callback=self._report_setup,
                                                **self.backend_options))
        except Exception as error:  # whatever a backend raises, the caller stays up and the status says why
            _setup_failure(self.health, "detector", error)
            return False
        self.health.set_values(backend=self.detector.backend_name)
        self.health.set_status(OK, f"running ({self.detector.backend_name})")
        self.health.log(OK, f"detector ready: backend {self.detector.backend_name}")
        return True

    def _report_setup(self, message: str) -> None:
        self.health.log(OK, message)
        self.health.set_status(WARN, message)  # e.g. "building engine ..."

    def detect(self, message: Any) -> tuple[Any, Detections] | None:
        """Decode an Image / CompressedImage message (rclpy or rosbags) and detect: (BGR image, detections), or
        None for an image that cannot be decoded (rejected as bad_image, with the reason)."""
        try:
            image = decode_image_message(message)
        except ImageDecodeError as error:
            self.health.reject("bad_image", str(error))
            return None
        return image, self.detector.detect(image)


class SignStage:
    """Traffic signs on at most `rate_hz` frames a second (SIGNS parameters); the caller says what a second is:
    wall time in a node, image stamps offline (so that an evaluation is deterministic)."""

    def __init__(self, parameters: dict[str, Any], health: Health | None = None, models: ModelCache | None = None
                 ) -> None:
        self.parameters = parameters
        self.health = health or Health()
        self.models = models or ModelCache()
        self.recognizer: "SignRecognizer | None" = None
        self.next_time: float | None = None

    def load(self) -> bool:
        """Load the sign models; False when they cannot run. A thread of its own (the node's) calls
        lower_thread_priority first; the offline mode and fleet workers run the signs in the pipeline's thread, at
        its priority."""
        from perception.signs.recognizer import SignRecognizer

        self.health.set_status(WARN, "loading sign models")
        p = self.parameters
        try:
            self.recognizer = self.models.get("signs", p, lambda: SignRecognizer(
                p["detector_model"] or None, p["classifier_model"] or None, p["backend"], p["imgsz"],
                p["conf_threshold"], p["threads"], p["upscale"], p["precision"]))
        except Exception as error:
            _setup_failure(self.health, "sign recognizer", error)
            return False
        self.health.set_status(OK, "running")
        return True

    def lower_thread_priority(self) -> None:
        """Add `nice` to the calling thread's niceness, before load: the networks run in this thread (one thread) or
        in threads that their loading starts, which inherit it. Where the OS refuses, the stage runs at normal
        priority and says so."""
        thread = threading.get_native_id()
        try:
            niceness = min(19, os.getpriority(os.PRIO_PROCESS, thread) + self.parameters["nice"])
            os.setpriority(os.PRIO_PROCESS, thread, niceness)
        except (AttributeError, OSError) as error:
            self.health.log(WARN, f"sign thread keeps its CPU priority: {error}")
            return
        self.health.set_values(thread_niceness=niceness)

    def due(self, now: float) -> bool:
        """Whether a frame at time `now` (seconds) is to be processed at the rate; the others are counted
        (frames_skipped_by_rate). Time going back by more than a period (a bag starting over) restarts the rate."""
        rate = self.parameters["rate_hz"]
        period = 1.0 / rate if rate > 0 else 0.0
        if self.next_time is not None and self.next_time - period <= now < self.next_time:
            self.health.count("frames_skipped_by_rate")
            return False
        self.next_time = now + period
        return True

    def recognize(self, message: Any) -> tuple[Any, Detections] | None:
        """Decode an image message and find its signs above conf_threshold: (BGR image, signs), or None for an image
        that cannot be decoded (bad_image)."""
        try:
            image = decode_image_message(message)
        except ImageDecodeError as error:
            self.health.reject("bad_image", str(error))
            return None
        return image, self.recognize_image(image)

    def recognize_image(self, image: Any) -> Detections:
        """Signs of a decoded BGR image above conf_threshold."""
        signs = self.recognizer.recognize(image)
        return signs.select(signs.scores >= self.parameters["conf_threshold"])
