"""The interface every inference backend implements."""
from __future__ import annotations

from typing import Protocol

import numpy as np


class InferenceBackend(Protocol):
    name: str
    input_hw: tuple[int, int] | None  # the (height, width) the tensor must have; None: any multiple of the stride
    class_names: dict[int, str]
    bgr_input: bool  # True: infer() takes the letterboxed (H, W, 3) uint8 BGR image instead of the tensor

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """(1, 3, H, W) float32 RGB in [0, 1] (or, with bgr_input, the letterboxed image) -> (1, 4 + classes, N)
        float32 head output on the CPU. A backend may also have infer_many(tensors) -> iterator of the outputs in
        order, running several at once (OpenVINO): Detector.detect_many uses it."""
        ...
