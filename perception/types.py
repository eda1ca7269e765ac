"""Core data types shared by the ROS-free pipeline stages (no ROS imports here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class ObjectClass(IntEnum):
    """Our object classes; the values equal the constants of perception/msg/ObjectClassification."""

    UNKNOWN = 0
    PEDESTRIAN = 1
    BICYCLE = 2
    CAR = 3
    TRUCK = 4
    BUS = 5
    MOTORCYCLE = 6
    TRAFFIC_LIGHT = 7
    TRAFFIC_SIGN = 8


@dataclass
class Detections:
    """Objects found in one image, as parallel arrays (N rows).

    boxes are x_min, y_min, x_max, y_max in pixels of the source image.
    """

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int, ObjectClass values
    source_class_ids: np.ndarray  # (N,) int, detector's own class index (-1 if none)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros(0, np.float32),
            labels=np.zeros(0, np.int64),
            source_class_ids=np.zeros(0, np.int64),
        )

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, mask_or_index: np.ndarray) -> "Detections":
        """Rows chosen by a boolean mask or an index array."""
        return Detections(
            self.boxes[mask_or_index],
            self.scores[mask_or_index],
            self.labels[mask_or_index],
            self.source_class_ids[mask_or_index],
        )


@dataclass
class GroundState:
    """Position and velocity on the ground plane of the vehicle frame (metres, m/s)."""

    position: np.ndarray  # (2,) x forward, y left
    velocity: np.ndarray  # (2,)
    position_covariance: np.ndarray  # (2, 2)
    velocity_covariance: np.ndarray  # (2, 2)


@dataclass
class Track:
    """A confirmed track at the time of one frame."""

    track_id: int
    label: ObjectClass
    score: float  # the last matched detection's score
    box: np.ndarray  # (4,) x_min, y_min, x_max, y_max, pixels
    age: float  # seconds since birth
    hits: int
    frames_since_update: int
    ground: GroundState | None = None
    class_probabilities: dict[int, float] = field(default_factory=dict)  # most probable first (tracker's formula)
    existence_probability: float | None = None  # the tracker's recursive estimate; None: the score stands for it
    source_class_id: int = -1  # the detector's own class (e.g. a sign's GTSDB id) with the most score over the hits


@dataclass
class PredictedPath:
    """One mode of an object's future: positions[k] lies (k + 1) * time_step seconds after the current time.

    The contract is msg/PredictedPath.msg's: confidences of one object's paths sum to 1; positions[model_steps:]
    lie beyond the horizon the model was trained for (an extrapolation).
    """

    positions: np.ndarray  # (T, 2) metres
    covariances: np.ndarray  # (T, 3) var_x, var_y, cov_xy
    time_step: float
    confidence: float
    model: str  # "rnn", "constant_velocity" or "constant_velocity_fallback"
    model_steps: int  # leading positions within the model's trained horizon
