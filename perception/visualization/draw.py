"""Annotate camera images with boxes, classes, scores and track ids."""
from __future__ import annotations

import cv2
import numpy as np

from perception.types import Detections, ObjectClass, Track
from perception.visualization.style import class_color_bgr255


def _draw_box(image: np.ndarray, box: np.ndarray, label: int, text: str) -> None:
    color = class_color_bgr255(label)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(image, (x1, y1), (x2, y2), color, 2)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    top = max(y1 - height - baseline - 2, 0)
    cv2.rectangle(image, (x1, top), (x1 + width + 4, top + height + baseline + 2), color, -1)
    cv2.putText(image, text, (x1 + 2, top + height + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of image with one labelled box per detection."""
    canvas = image.copy()
    for box, label, score in zip(detections.boxes, detections.labels, detections.scores):
        _draw_box(canvas, box, int(label), f"{ObjectClass(int(label)).name.lower()} {score:.2f}")
    return canvas


def draw_tracks(image: np.ndarray, tracks: list[Track]) -> np.ndarray:
    """A copy of image with one box per track, labelled with its id and class."""
    canvas = image.copy()
    for track in tracks:
        _draw_box(canvas, track.box, int(track.label), f"#{track.track_id} {track.label.name.lower()}")
    return canvas
