"""Annotate camera images with boxes, classes, scores, track ids and predicted ground paths."""
from __future__ import annotations

import cv2
import numpy as np

from perception.tracking.ground_plane import CameraPose
from perception.types import Detections, ObjectClass
from perception.visualization.style import class_color_bgr255


def _draw_box(image: np.ndarray, box: np.ndarray, label: int, text: str) -> None:
    color = class_color_bgr255(label)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(image, (x1, y1), (x2, y2), color, 2)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    top = max(y1 - height - baseline - 2, 0)
    cv2.rectangle(image, (x1, top), (x1 + width + 4, top + height + baseline + 2), color, -1)
    cv2.putText(image, text, (x1 + 2, top + height + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def draw_boxes(image: np.ndarray, boxes: np.ndarray, labels: list[int], texts: list[str]) -> np.ndarray:
    """A copy of image with one box per row, coloured by class label and captioned."""
    canvas = image.copy()
    for box, label, text in zip(boxes, labels, texts):
        _draw_box(canvas, box, int(label), text)
    return canvas


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of image with one labelled box per detection."""
    texts = [f"{ObjectClass(int(label)).name.lower()} {score:.2f}"
             for label, score in zip(detections.labels, detections.scores)]
    return draw_boxes(image, detections.boxes, list(detections.labels), texts)


def track_caption(track_id: int, label: int) -> str:
    return f"#{track_id} {ObjectClass(int(label)).name.lower()}"


def ground_to_pixels(points: np.ndarray, intrinsics: np.ndarray, pose: CameraPose) -> np.ndarray:
    """(N, 2) ground points (vehicle frame, z = 0) -> (N, 2) pixels; NaN rows for points behind the camera."""
    world = np.column_stack([points, np.zeros(len(points))]) - pose.position
    camera = world @ pose.vehicle_from_optical  # rows: R^T (P - C)
    in_front = camera[:, 2] > 0.1
    pixels = np.full((len(points), 2), np.nan)
    projected = camera[in_front] @ intrinsics.T
    pixels[in_front] = projected[:, :2] / projected[:, 2:3]
    return pixels


def draw_paths(image: np.ndarray, paths: list[tuple[int, np.ndarray]], intrinsics: np.ndarray,
               pose: CameraPose) -> np.ndarray:
    """A copy of image with each (class label, (T, 2) ground path) drawn as a polyline."""
    canvas = image.copy()
    for label, path in paths:
        pixels = ground_to_pixels(path, intrinsics, pose)
        pixels = pixels[np.all(np.isfinite(pixels), axis=1)].round().astype(np.int32)
        if len(pixels) > 1:
            cv2.polylines(canvas, [pixels.reshape(-1, 1, 2)], False, class_color_bgr255(label), 2, cv2.LINE_AA)
    return canvas
