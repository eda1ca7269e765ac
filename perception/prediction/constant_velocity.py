"""Paths without a network: what the predictor publishes when its model cannot be loaded, so that the planner still
gets every tracked object (the status says ERROR and why)."""
from __future__ import annotations

import numpy as np

from perception.prediction.paths import (
    CONSTANT_VELOCITY_FALLBACK, SINGLE_MODE_CONFIDENCE, History, history_velocity, with_position_covariances,
)
from perception.tracking.tracker import TrackerConfig
from perception.types import ObjectClass, PredictedPath

# how far ahead when the parameter leaves it to the model (horizon_s 0): the bundled model's horizon
HORIZON_S = 2.0


class ConstantVelocityPredictor:
    """Each track goes on at its filtered velocity (else its history's mean velocity), one path of confidence 1.

    Its covariance is the track's position covariance plus what the tracker's own motion model (white-noise
    acceleration of ground_acceleration_std) adds over t seconds: q t^3 / 3 per axis. No step lies within a model's
    horizon (model_steps 0)."""

    min_history_s = 0.0

    def __init__(self, horizon_s: float, time_step_s: float,
                 acceleration_std: float = TrackerConfig.ground_acceleration_std) -> None:
        self.time_step_s = time_step_s
        self.times = time_step_s * np.arange(1, int(horizon_s / time_step_s + 1e-6) + 1)
        growth = acceleration_std**2 * self.times**3 / 3.0
        self.covariances = np.column_stack([growth, growth, np.zeros_like(growth)])

    def predict(
        self, histories: dict[int, History], labels: dict[int, ObjectClass] | None = None,
        position_covariances: dict[int, np.ndarray] | None = None,
        velocities: dict[int, np.ndarray] | None = None,
    ) -> dict[int, list[PredictedPath]]:
        """The path of each track id (labels are not needed: every class moves on at its velocity)."""
        paths = {}
        for track_id, (stamps, positions) in histories.items():
            velocity = (velocities or {}).get(track_id)
            velocity = history_velocity(stamps, positions) if velocity is None else velocity
            paths[track_id] = [PredictedPath(positions[-1] + self.times[:, None] * velocity, self.covariances.copy(),
                                             self.time_step_s, SINGLE_MODE_CONFIDENCE, CONSTANT_VELOCITY_FALLBACK, 0)]
        return with_position_covariances(paths, position_covariances)
