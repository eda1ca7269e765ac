"""The social context of a prediction: the nearest other objects at a track's last observed instant.

A neighbour is described by its position and its last step (displacement over one model time step) in
the world frame; the model turns them into positions and steps relative to the predicted track.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATE_SIZE = 4  # x, y, step x, step y
MAX_NEIGHBOURS = 8


@dataclass
class Neighbours:
    """Up to max_count nearest others per track, nearest first; rows without a neighbour are zero."""

    states: np.ndarray  # (N, max_count, 4) x, y, step x, step y in metres
    present: np.ndarray  # (N, max_count) bool

    @classmethod
    def none(cls, count: int, max_count: int) -> "Neighbours":
        return cls(np.zeros((count, max_count, STATE_SIZE)), np.zeros((count, max_count), bool))

    def select(self, mask_or_index: np.ndarray) -> "Neighbours":
        return Neighbours(self.states[mask_or_index], self.present[mask_or_index])


def nearest_neighbours(
    centres: np.ndarray, others: np.ndarray, excluded: np.ndarray, max_count: int, radius: float
) -> Neighbours:
    """For each centre (B, 2), the states (M, 4) of the max_count nearest others within radius metres.

    excluded (B, M) marks pairs that are not neighbours (a track and itself).
    """
    distances = np.linalg.norm(others[None, :, :2] - centres[:, None], axis=-1)
    distances = np.where(excluded | (distances > radius), np.inf, distances)
    order = np.argsort(distances, axis=1, kind="stable")[:, :max_count]
    result = Neighbours.none(len(centres), max_count)
    found = np.isfinite(np.take_along_axis(distances, order, axis=1))
    result.present[:, : order.shape[1]] = found
    result.states[:, : order.shape[1]] = np.where(found[..., None], others[order], 0.0)
    return result
