"""Constant-velocity baseline and displacement errors, shared by evaluation and training."""
from __future__ import annotations

import numpy as np


def constant_velocity(observed: np.ndarray, pred_len: int) -> np.ndarray:
    """(N, obs_len, 2) observed -> (N, pred_len, 2): the last step's displacement repeated."""
    last_step = observed[:, -1] - observed[:, -2]
    steps = np.arange(1, pred_len + 1)[None, :, None]
    return observed[:, -1:, :] + steps * last_step[:, None, :]


def displacement_errors(predicted: np.ndarray, future: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window: average displacement error over all steps and final displacement error (metres)."""
    distances = np.linalg.norm(predicted - future, axis=-1)
    return distances.mean(axis=1), distances[:, -1]
