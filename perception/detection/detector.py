"""The detector: one backend between the shared letterbox preprocessing and YOLOv8 postprocessing."""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from perception.detection.backends.base import InferenceBackend
from perception.detection.classes import ClassMap
from perception.detection.postprocess import postprocess
from perception.detection.preprocess import LetterboxTransform, letterbox_frame, to_tensor
from perception.types import Detections

Key = TypeVar("Key")


@dataclass(frozen=True)
class StageTimings:
    """Milliseconds spent in each stage of the last detect() call."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


class Detector:
    """Detects objects in BGR images; `last_timings` holds the per-stage latency of the latest call.

    Backends with a fixed input get a letterbox of that size; the others the smallest stride-aligned
    rectangle whose long side is imgsz (as Ultralytics does), which skips most of the padding; with upscale=False a
    smaller frame is not enlarged to imgsz but keeps its own size.
    """

    def __init__(
        self,
        backend: InferenceBackend,
        class_map: ClassMap,
        imgsz: int = 640,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_detections: int = 300,
        upscale: bool = True,
    ) -> None:
        self.backend = backend
        self.class_map = class_map
        self.imgsz = imgsz
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.upscale = upscale
        self._kept_class_ids = class_map.kept_class_ids
        self.last_timings: StageTimings | None = None

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def class_names(self) -> dict[int, str]:
        return self.backend.class_names

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Objects in one HxWx3 uint8 BGR image, boxes in its pixels."""
        start = time.perf_counter()
        tensor, transform = self._preprocess(image_bgr)
        preprocessed = time.perf_counter()
        output = self.backend.infer(tensor)
        return self._finish(output, transform, start, preprocessed, time.perf_counter())

    def detect_many(self, frames: Iterable[tuple[Key, np.ndarray]]) -> Iterator[tuple[Key, np.ndarray, Detections]]:
        """detect() over (key, image) pairs, yielded in order with their detections. Where the backend can run
        several frames at once (OpenVINO) the next frames are already inferred while the caller handles one: more
        frames a second over a video, the same detections. last_timings then counts a frame's inference from its
        submission to its output."""
        infer_many = getattr(self.backend, "infer_many", None)
        if infer_many is None:
            for key, image in frames:
                yield key, image, self.detect(image)
            return
        submitted: deque = deque()

        def tensors() -> Iterator[np.ndarray]:
            for key, image in frames:
                start = time.perf_counter()
                tensor, transform = self._preprocess(image)
                submitted.append((key, image, transform, start, time.perf_counter()))
                yield tensor

        for output in infer_many(tensors()):
            key, image, transform, start, preprocessed = submitted.popleft()
            yield key, image, self._finish(output, transform, start, preprocessed, time.perf_counter())

    def _preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, LetterboxTransform]:
        padded, transform = letterbox_frame(image_bgr, self.backend.input_hw, self.imgsz, self.upscale)
        return (padded if self.backend.bgr_input else to_tensor(padded)), transform

    def _finish(self, output: np.ndarray, transform: LetterboxTransform, start: float, preprocessed: float,
                inferred: float) -> Detections:
        """The detections of a head output; last_timings from the stage boundaries (perf_counter seconds)."""
        raw = postprocess(
            output, transform, self.conf_threshold, self.iou_threshold, self.max_detections, self._kept_class_ids
        )
        detections = Detections(raw.boxes, raw.scores, self.class_map.to_labels(raw.class_ids), raw.class_ids)
        done = time.perf_counter()
        self.last_timings = StageTimings(
            (preprocessed - start) * 1e3, (inferred - preprocessed) * 1e3, (done - inferred) * 1e3
        )
        return detections
