"""Box similarity and gated one-to-one assignment (Jonker-Volgenant via `lap`)."""
from __future__ import annotations

import lap
import numpy as np


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every (x_min, y_min, x_max, y_max) box in a against every box in b."""
    a, b = boxes_a.T[:, :, None], boxes_b.T[:, None, :]
    width = np.maximum(np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]), 0.0)
    height = np.maximum(np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]), 0.0)
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / np.maximum(union, 1e-9)


def mahalanobis_squared(means_a: np.ndarray, covariances_a: np.ndarray, means_b: np.ndarray,
                        covariances_b: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of every estimate in a (N, d means, N, d, d covariances) from every one in b
    (M, d; M, d, d), their errors taken as independent (covariance of the difference a - b: Pa + Pb): (N, M)."""
    difference = means_b[None, :, :] - means_a[:, None, :]
    covariance = covariances_a[:, None] + covariances_b[None, :]
    return np.einsum("nmi,nmi->nm", difference, np.linalg.solve(covariance, difference[..., None])[..., 0])


def match_boxes(boxes_a: np.ndarray, boxes_b: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """(row of a, row of b) pairs of the minimum-cost matching on 1 - IoU, each pair overlapping at least min_iou."""
    if len(boxes_a) == 0 or len(boxes_b) == 0:
        return []
    rows, columns = assign(1.0 - iou_matrix(boxes_a, boxes_b), 1.0 - min_iou)
    return list(zip(rows.tolist(), columns.tolist()))


def assign(cost: np.ndarray, max_cost: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost matching that leaves a row or column unmatched rather than pay more than max_cost.

    Returns the matched row indices and their column indices.
    """
    if 0 in cost.shape:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, column_of_row, _ = lap.lapjv(cost, extend_cost=True, cost_limit=max_cost)
    rows = np.flatnonzero(column_of_row >= 0)
    return rows, column_of_row[rows]
