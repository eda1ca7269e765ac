"""Decode a YOLOv8 head output ([1, 4 + classes, N]) into source-pixel detections, shared by all backends."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.detection.preprocess import LetterboxTransform


@dataclass
class RawDetections:
    """Detections in the detector's own classes: xyxy boxes, scores, class indices."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int64


def decode_candidates(output: np.ndarray, conf_threshold: float, class_ids_allowed: np.ndarray | None) -> RawDetections:
    """Boxes (input-tensor xyxy) whose best score among the allowed classes (all if None) exceeds `conf_threshold`."""
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[1] <= 4:
        raise ValueError(f"expected a YOLOv8 output of shape (1, 4 + classes, N), got {output.shape}")
    predictions = output[0]
    class_scores = predictions[4:] if class_ids_allowed is None else predictions[4 + class_ids_allowed]
    best_scores = class_scores.max(axis=0)
    candidates = np.flatnonzero(best_scores > conf_threshold)
    class_ids = class_scores[:, candidates].argmax(axis=0)
    if class_ids_allowed is not None:
        class_ids = class_ids_allowed[class_ids]
    cx, cy, w, h = predictions[:4, candidates]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return RawDetections(boxes, best_scores[candidates].astype(np.float32), class_ids.astype(np.int64))


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box against many."""
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    intersection = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return intersection / np.maximum(area + areas - intersection, 1e-9)


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS run separately per class, highest score first."""
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    # Shifting each class into its own region keeps boxes of different classes from ever overlapping.
    shifted = boxes + (class_ids.astype(np.float32) * (float(boxes.max()) + 1.0))[:, None]
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(shifted[best], shifted[rest]) <= iou_threshold]
    return np.asarray(keep, np.int64)


def postprocess(
    output: np.ndarray,
    transform: LetterboxTransform,
    conf_threshold: float,
    iou_threshold: float,
    max_detections: int,
    class_ids_allowed: np.ndarray | None = None,
) -> RawDetections:
    """Threshold, class-aware NMS, keep the best `max_detections`, and rescale boxes to source pixels."""
    candidates = decode_candidates(output, conf_threshold, class_ids_allowed)
    keep = class_aware_nms(candidates.boxes, candidates.scores, candidates.class_ids, iou_threshold)[:max_detections]
    return RawDetections(transform.to_source(candidates.boxes[keep]), candidates.scores[keep], candidates.class_ids[keep])
