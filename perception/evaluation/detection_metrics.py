"""Detection average precision per class at one IoU threshold (all-point interpolation, as PASCAL VOC 2010+)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.tracking.association import iou_matrix


@dataclass
class FrameBoxes:
    boxes: np.ndarray  # (N, 4) x_min, y_min, x_max, y_max
    labels: np.ndarray  # (N,) class labels
    scores: np.ndarray | None = None  # (N,) for detections; None for ground truth


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope of a recall/precision curve sorted by descending score."""
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def detection_ap(detections: list[FrameBoxes], truth: list[FrameBoxes], iou_threshold: float = 0.5) -> dict[int, float]:
    """AP per ground-truth class over frames given in the same order; each truth box matches at most once."""
    results = {}
    for label in np.unique(np.concatenate([t.labels for t in truth] + [np.zeros(0, int)])):
        scored: list[tuple[float, bool]] = []
        positives = 0
        for found, expected in zip(detections, truth):
            truth_boxes = expected.boxes[expected.labels == label]
            positives += len(truth_boxes)
            mine = found.labels == label
            boxes, scores = found.boxes[mine], found.scores[mine]
            order = np.argsort(-scores)
            taken = np.zeros(len(truth_boxes), bool)
            overlaps = iou_matrix(boxes[order].astype(float), truth_boxes.astype(float))
            for row, index in enumerate(order):
                candidates = np.where(taken, -1.0, overlaps[row]) if len(truth_boxes) else np.zeros(0)
                best = int(np.argmax(candidates)) if len(candidates) else -1
                hit = best >= 0 and candidates[best] >= iou_threshold
                if hit:
                    taken[best] = True
                scored.append((float(scores[index]), hit))
        if positives == 0:
            continue
        scored.sort(key=lambda item: -item[0])
        hits = np.array([hit for _, hit in scored], float)
        true_positives = np.cumsum(hits)
        precision = true_positives / np.maximum(np.arange(1, len(hits) + 1), 1)
        results[int(label)] = average_precision(true_positives / positives, precision) if len(hits) else 0.0
    return results
