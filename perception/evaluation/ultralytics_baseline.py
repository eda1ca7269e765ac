"""Ultralytics' BYTETracker with its default settings behind the Tracker interface, as a baseline."""
from __future__ import annotations

import numpy as np

from perception.types import Detections, ObjectClass, Track


class UltralyticsByteTrack:
    """Frame-counting tracker: `stamp` only sets the reported track ages; its buffer is 30 frames."""

    def __init__(self) -> None:
        from ultralytics.engine.results import Boxes
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import ROOT, YAML, IterableSimpleNamespace

        settings = IterableSimpleNamespace(**YAML.load(ROOT / "cfg" / "trackers" / "bytetrack.yaml"))
        self._tracker = BYTETracker(settings)
        self._boxes = Boxes
        self._births: dict[int, float] = {}

    def update(self, detections: Detections, stamp: float) -> list[Track]:
        table = np.column_stack([detections.boxes, detections.scores, detections.labels]).astype(np.float32)
        rows = self._tracker.update(self._boxes(table, orig_shape=(1, 1)))
        tracks = []
        for x_min, y_min, x_max, y_max, track_id, score, label, _ in rows.reshape(-1, 8):
            birth = self._births.setdefault(int(track_id), stamp)
            tracks.append(
                Track(
                    track_id=int(track_id),
                    label=ObjectClass(int(label)),
                    score=float(score),
                    box=np.array([x_min, y_min, x_max, y_max]),
                    age=stamp - birth,
                    hits=0,  # not exposed by the baseline
                    frames_since_update=0,
                )
            )
        return tracks
