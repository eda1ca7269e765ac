"""Prediction windows from what the predictor sees at run time: the deployed tracker's output on KITTI detections.

The tracker node's stage (perception.evaluation.kitti_pipeline.run_sequence: CameraTracking with the tracker node's
parameters, as `eval-kitti` runs it) runs on a sequence's 2D detections, with its camera poses as odometry (tracks in the odom frame) or without (tracks in
base_link, relative to the moving vehicle). A window's observed part is what a track published (the estimator's
positions, with their noise) over the model's observation window; its future is the labelled object that the track
matches (box IoU, as evaluation/ego_motion.py matches) at the window's last observed frame, its label_02 location at
the following frames: in the odom frame with odometry, else in the vehicle frame of each future instant (how the
runtime predictor, without odometry, is used). The tracker's filtered state at the last observed frame comes with
each window (velocity and position covariance): the constant-velocity baseline the predictor has to beat.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.datasets.ground_tracks import KITTI_CLASSES
from perception.datasets.kitti_rig import MIN_BOX_IOU, KittiRig, label_positions
from perception.evaluation.kitti_pipeline import load_sequence, run_sequence
from perception.prediction.metrics import velocity_extrapolation
from perception.prediction.windows import Protocol, Windows
from perception.tracking.association import match_boxes
from perception.types import Track



@dataclass
class TrackerWindows:
    """Windows of tracker histories with ground-truth futures, and the tracker's state at each last observed frame."""

    windows: Windows  # with velocities: the track's filtered velocity (N, 2) m/s in the windows' frame
    position_covariances: np.ndarray  # (N, 2, 2) m^2, the track's position covariance
    truth_now: np.ndarray  # (N, 2) the matched label's position at the last observed frame

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def velocities(self) -> np.ndarray:
        """(N, 2) m/s: the track's filtered velocity at the last observed frame."""
        assert self.windows.velocities is not None
        return self.windows.velocities

    def select(self, mask_or_index: np.ndarray) -> "TrackerWindows":
        return TrackerWindows(self.windows.select(mask_or_index), self.position_covariances[mask_or_index],
                              self.truth_now[mask_or_index])

    @classmethod
    def concatenate(cls, parts: list["TrackerWindows"]) -> "TrackerWindows":
        windows = parts[0].windows
        for part in parts[1:]:
            windows = windows.concatenated(part.windows)
        return cls(windows, np.concatenate([p.position_covariances for p in parts]),
                   np.concatenate([p.truth_now for p in parts]))

    def motion_targets(self) -> Windows:
        """The windows with futures moved by the estimator's error at the last observed frame: the last published
        position plus the truth's displacement from then on. The network cannot know the current position error
        (its input is relative to the last position), so these targets leave only the motion to learn."""
        shifted = self.windows.select(np.arange(len(self)))
        shifted.positions[:, shifted.obs_len:] += (shifted.observed[:, -1] - self.truth_now)[:, None]
        return shifted

    def state_constant_velocity(self, time_step: float) -> np.ndarray:
        """(N, pred_len, 2): the last published position moved on at the tracker's velocity."""
        pred_len = self.windows.positions.shape[1] - self.windows.obs_len
        return velocity_extrapolation(self.windows.observed, self.velocities, pred_len, time_step)


def truth_positions(labels: list, rig: KittiRig, odom_from_vehicle: np.ndarray | None
                    ) -> dict[tuple[int, int], tuple[str, np.ndarray]]:
    """(frame, label track id) -> (predictor class, ground position): odom frame with poses, else the vehicle frame
    of that frame."""
    labels = [o for o in labels if o.type in KITTI_CLASSES]
    placed = label_positions(labels, rig, odom_from_vehicle)
    return {(o.frame, o.track_id): (KITTI_CLASSES[o.type], placed[o.frame, o.track_id][1]) for o in labels}


def matched_labels(tracks: list[Track], labels: list, frame: int) -> dict[int, int]:
    """Track id -> label track id at one frame: updated tracks against the frame's labelled boxes, by box IoU."""
    tracks = [t for t in tracks if t.ground is not None and t.frames_since_update == 0]
    objects = [o for o in labels if o.frame == frame and o.type in KITTI_CLASSES]
    return {tracks[row].track_id: objects[column].track_id
            for row, column in match_boxes(np.array([t.box for t in tracks]).reshape(-1, 4),
                                           np.array([o.box for o in objects]).reshape(-1, 4), MIN_BOX_IOU)}


def sequence_windows(kitti_dir: str | Path, sequence: str, odometry: bool, tracker: dict[str, Any],
                     protocol: Protocol, detections: str = "det_2d_permatrack") -> TrackerWindows:
    """Every window of one sequence (tracker: the tracker node's parameters): a track published at obs_len
    consecutive frames, matched to a label at the last of them, that label present then and at the pred_len frames
    after it."""
    loaded = load_sequence(Path(kitti_dir), sequence, detections, odometry)
    labels = loaded.labels
    truth = truth_positions(labels, loaded.rig, loaded.odom_from_vehicle)
    results = [(output.number, output.tracks) for output in run_sequence(loaded, tracker)]
    published: dict[int, dict[int, Track]] = {}  # track id -> frame -> the track as published then
    for frame, tracks in results:
        for track in tracks:
            if track.ground is not None:
                published.setdefault(track.track_id, {})[frame] = track
    labels_by_frame: dict[int, list] = {}
    for o in labels:
        labels_by_frame.setdefault(o.frame, []).append(o)
    rows = []
    for frame, tracks in results:
        for track_id, label_id in matched_labels(tracks, labels_by_frame.get(frame, []), frame).items():
            history = [published[track_id].get(f) for f in range(frame - protocol.obs_len + 1, frame + 1)]
            future = [truth.get((f, label_id)) for f in range(frame + 1, frame + protocol.pred_len + 1)]
            now = truth.get((frame, label_id))
            if any(t is None for t in history) or any(t is None for t in future) or now is None:
                continue
            last = history[-1].ground
            positions = [t.ground.position for t in history] + [position for _, position in future]
            rows.append((np.array(positions, float), label_id, frame + 1, future[0][0], last.velocity,
                         last.position_covariance, now[1]))
    length = protocol.obs_len + protocol.pred_len
    windows = Windows(
        positions=np.array([r[0] for r in rows], float).reshape(-1, length, 2),
        sources=np.array([sequence] * len(rows), dtype=str),
        object_ids=np.array([r[1] for r in rows], np.int64),
        first_future_frames=np.array([r[2] for r in rows], np.int64),
        object_classes=np.array([r[3] for r in rows], dtype=str),
        obs_len=protocol.obs_len,
        velocities=np.array([r[4] for r in rows], float).reshape(-1, 2),
    )
    return TrackerWindows(windows, np.array([r[5] for r in rows], float).reshape(-1, 2, 2),
                          np.array([r[6] for r in rows], float).reshape(-1, 2))
