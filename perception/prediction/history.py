"""Per-track position histories fed to the predictor, built from successive tracker outputs (no ROS)."""
from __future__ import annotations

from collections import deque

import numpy as np

from perception.types import Track


class TrackHistories:
    """Keeps the last `max_age_s` seconds of ground positions per track id; forgets tracks unseen for as long."""

    def __init__(self, max_age_s: float) -> None:
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self.max_age_s = max_age_s
        self._samples: dict[int, deque[tuple[float, float, float]]] = {}

    def update(self, stamp: float, tracks: list[Track]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Add the tracks' current positions; returns (stamps, positions) of every track given here."""
        histories = {}
        for track in tracks:
            if track.ground is None:
                continue
            samples = self._samples.setdefault(track.track_id, deque())
            samples.append((stamp, float(track.ground.position[0]), float(track.ground.position[1])))
            while samples[0][0] < stamp - self.max_age_s:
                samples.popleft()
            array = np.array(samples)
            histories[track.track_id] = (array[:, 0], array[:, 1:3])
        for track_id in [i for i, s in self._samples.items() if s[-1][0] < stamp - self.max_age_s]:
            del self._samples[track_id]
        return histories

    def reset(self) -> None:
        self._samples.clear()

    def __len__(self) -> int:
        return len(self._samples)
