"""Constant-velocity baseline and displacement errors, shared by evaluation and training."""
from __future__ import annotations

import numpy as np


def constant_velocity(observed: np.ndarray, pred_len: int) -> np.ndarray:
    """(N, obs_len, 2) observed -> (N, pred_len, 2): the last step's displacement repeated."""
    last_step = observed[:, -1] - observed[:, -2]
    steps = np.arange(1, pred_len + 1)[None, :, None]
    return observed[:, -1:, :] + steps * last_step[:, None, :]


def velocity_extrapolation(observed: np.ndarray, velocities: np.ndarray, pred_len: int, time_step: float
                           ) -> np.ndarray:
    """(N, pred_len, 2): the last observed position moved on at velocities (N, 2) m/s (e.g. the tracker's)."""
    times = time_step * np.arange(1, pred_len + 1)
    return observed[:, -1:] + times[None, :, None] * velocities[:, None]


def displacement_errors(predicted: np.ndarray, future: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window: average displacement error over all steps and final displacement error (metres)."""
    distances = np.linalg.norm(predicted - future, axis=-1)
    return distances.mean(axis=1), distances[:, -1]
