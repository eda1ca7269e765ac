"""Find signs with the fine-tuned YOLOv8n (the main detector's backends, pre- and post-processing) and read
their class with the 43-class classifier on each box's crop."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception import resources
from perception.detection.classes import ClassMapConfig
from perception.detection.factory import create_detector
from perception.signs.classifier import SignClassifier
from perception.signs.gtsdb import DEFAULT_IMGSZ, sign_name
from perception.types import Detections, ObjectClass

DETECTOR_MODEL = "signs/sign_detector_yolov8n.pt"  # in the installed models folder, with its _dynamic and _int8.onnx
CLASSIFIER_MODEL = "signs/sign_classifier.onnx"
SIGN_CLASS_MAP = ClassMapConfig({"traffic sign": ObjectClass.TRAFFIC_SIGN})


@dataclass(frozen=True)
class SignTimings:
    detector_ms: float
    classifier_ms: float


class SignRecognizer:
    """Traffic signs in BGR images: Detections labelled TRAFFIC_SIGN whose source_class_ids are GTSDB class ids
    (0-42) and whose scores are detector score x classifier probability. The detector sees a frame at its own
    resolution, at most `imgsz` on the long side (the network was trained at native resolution); upscale=True
    enlarges smaller frames to `imgsz` (docs/signs.md: more small signs, about twice the time for 960-px frames)."""

    def __init__(
        self,
        detector_model: str | Path | None = None,
        classifier_model: str | Path | None = None,
        backend: str = "auto",
        imgsz: int = DEFAULT_IMGSZ,
        conf: float = 0.05,
        threads: int | None = None,
        upscale: bool = False,
        precision: str = "auto",
    ) -> None:
        self.detector = create_detector(
            detector_model or resources.model_path(DETECTOR_MODEL), backend=backend, imgsz=imgsz, conf=conf,
            precision=precision, class_map=SIGN_CLASS_MAP, upscale=upscale, threads=threads)
        self.classifier = SignClassifier(classifier_model or resources.model_path(CLASSIFIER_MODEL), threads)
        self.last_timings: SignTimings | None = None

    def recognize(self, image_bgr: np.ndarray) -> Detections:
        started = time.perf_counter()
        found = self.detector.detect(image_bgr)
        detected = time.perf_counter()
        class_ids, probabilities = self.classifier.classify(image_bgr, found.boxes)
        self.last_timings = SignTimings((detected - started) * 1e3, (time.perf_counter() - detected) * 1e3)
        return Detections(found.boxes, found.scores * probabilities, found.labels, class_ids)


def sign_records(signs: Detections) -> list[dict]:
    """JSON-ready signs: class id, name, score, box."""
    return [
        {"sign_class_id": int(class_id), "sign_name": sign_name(int(class_id)), "score": round(float(score), 4),
         "box": [round(float(value), 1) for value in box]}
        for box, score, class_id in zip(signs.boxes, signs.scores, signs.source_class_ids)
    ]
