"""Letterbox a BGR image into the detector's input tensor, and map boxes back to source pixels."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # the grey Ultralytics pads with during training
STRIDE = 32  # YOLOv8's largest downsampling factor: input sides must be multiples of it


@dataclass(frozen=True)
class LetterboxTransform:
    """How a source image was scaled and padded: input = source * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float
    source_hw: tuple[int, int]

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Input-tensor xyxy boxes -> source-pixel xyxy boxes, clipped to the image."""
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        source = (boxes - offset) / self.scale
        height, width = self.source_hw
        np.clip(source[:, 0::2], 0, width, out=source[:, 0::2])
        np.clip(source[:, 1::2], 0, height, out=source[:, 1::2])
        return source

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Source-pixel xyxy boxes -> input-tensor xyxy boxes."""
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        return boxes * self.scale + offset


def validate_image(image: np.ndarray) -> None:
    """Raise TypeError/ValueError unless `image` is a non-empty HxWx3 uint8 BGR array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8 BGR, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (height, width, 3) BGR, got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")


def stride_aligned_hw(image_hw: tuple[int, int], imgsz: int, upscale: bool = True) -> tuple[int, int]:
    """Smallest input (height, width), multiples of the stride, holding the image scaled to long side `imgsz`
    (upscale=False: never enlarged, a smaller image keeps its own size)."""
    scale = imgsz / max(image_hw) if upscale else min(1.0, imgsz / max(image_hw))
    return tuple(math.ceil(max(1, round(side * scale)) / STRIDE) * STRIDE for side in image_hw)


def letterbox(image: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, LetterboxTransform]:
    """Resize keeping the aspect ratio and pad (centred) to `input_hw`; returns the padded BGR image."""
    height, width = image.shape[:2]
    input_h, input_w = input_hw
    scale = min(input_h / height, input_w / width)
    resized_w, resized_h = max(1, round(width * scale)), max(1, round(height * scale))
    if (resized_w, resized_h) != (width, height):
        image = cv2.resize(image, (resized_w, resized_h), interpolation=cv2.INTER_LINEAR)
    pad_w, pad_h = (input_w - resized_w) / 2, (input_h - resized_h) / 2
    top, left = round(pad_h - 0.1), round(pad_w - 0.1)
    bottom, right = input_h - resized_h - top, input_w - resized_w - left
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return padded, LetterboxTransform(scale, float(left), float(top), (height, width))


def letterbox_frame(
    image_bgr: np.ndarray, input_hw: tuple[int, int] | None, imgsz: int, upscale: bool = True
) -> tuple[np.ndarray, LetterboxTransform]:
    """Validated BGR uint8 image -> its letterboxed BGR uint8 image, and the transform.

    `input_hw` is the backend's fixed input; None letterboxes to stride_aligned_hw(image, imgsz, upscale).
    """
    validate_image(image_bgr)
    return letterbox(image_bgr, input_hw or stride_aligned_hw(image_bgr.shape[:2], imgsz, upscale))


def to_tensor(padded_bgr: np.ndarray) -> np.ndarray:
    """Letterboxed BGR uint8 image -> contiguous float32 RGB tensor (1, 3, H, W) in [0, 1]."""
    return cv2.dnn.blobFromImage(padded_bgr, scalefactor=1 / 255.0, swapRB=True)


def preprocess(
    image_bgr: np.ndarray, input_hw: tuple[int, int] | None, imgsz: int, upscale: bool = True
) -> tuple[np.ndarray, LetterboxTransform]:
    """letterbox_frame, then to_tensor."""
    padded, transform = letterbox_frame(image_bgr, input_hw, imgsz, upscale)
    return to_tensor(padded), transform
