"""What the predictors' paths are made of, without torch: what produced a path, and the helpers both the network's
runtime (perception.prediction.runtime) and the constant-velocity fallback (constant_velocity) use."""
from __future__ import annotations

import numpy as np

from perception.types import PredictedPath

# what produced a path (PredictedPath.msg MODEL_*): the network; constant velocity because validation chose it
# for the object's class (correction scale 0); constant velocity because the history is too short for the network
RNN = "rnn"
CONSTANT_VELOCITY = "constant_velocity"
CONSTANT_VELOCITY_FALLBACK = "constant_velocity_fallback"
SINGLE_MODE_CONFIDENCE = 1.0  # the probability of the only mode (fallback paths, single-mode checkpoints)
MIN_MODE_PROBABILITY = 1e-6  # a mode's confidence is at least this (PredictedPath.msg: in (0, 1])
History = tuple[np.ndarray, np.ndarray]  # stamps (N,) seconds ascending, positions (N, 2) metres


def history_velocity(stamps: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """A history's mean velocity (zero over no time)."""
    duration = stamps[-1] - stamps[0]
    return (positions[-1] - positions[0]) / duration if duration > 0 else np.zeros(2)


def with_position_covariances(paths: dict[int, list[PredictedPath]],
                              position_covariances: dict[int, np.ndarray] | None) -> dict[int, list[PredictedPath]]:
    """The paths with each track's (2, 2) position covariance added at every step (where given)."""
    for track_id, covariance in (position_covariances or {}).items():
        for path in paths.get(track_id, []):
            path.covariances = path.covariances + np.array([covariance[0, 0], covariance[1, 1], covariance[0, 1]])
    return paths
