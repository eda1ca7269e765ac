"""Ground-plane tracks and the fixed-length observe/predict windows cut from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GroundTrack:
    """One object's positions on the ground plane at regularly numbered frames."""

    source: str  # file name or sequence the track comes from
    object_id: int
    object_class: str  # "pedestrian", "vehicle", "cyclist"
    frames: np.ndarray  # (N,) int, ascending
    positions: np.ndarray  # (N, 2) metres


@dataclass
class Windows:
    """N windows of obs_len observed followed by pred_len future positions each."""

    positions: np.ndarray  # (N, obs_len + pred_len, 2)
    sources: np.ndarray  # (N,) str
    object_ids: np.ndarray  # (N,) int
    first_future_frames: np.ndarray  # (N,) int
    object_classes: np.ndarray  # (N,) str
    obs_len: int

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def observed(self) -> np.ndarray:
        return self.positions[:, : self.obs_len]

    @property
    def future(self) -> np.ndarray:
        return self.positions[:, self.obs_len :]

    def with_observed_offsets(self, offsets: np.ndarray) -> "Windows":
        """A copy with `offsets` (N, obs_len, 2) added to the observed positions; the future stays as it is."""
        shifted = self.select(np.arange(len(self)))  # index arrays copy the positions
        shifted.positions[:, : self.obs_len] += offsets
        return shifted

    def select(self, mask_or_index: np.ndarray) -> "Windows":
        return Windows(
            self.positions[mask_or_index],
            self.sources[mask_or_index],
            self.object_ids[mask_or_index],
            self.first_future_frames[mask_or_index],
            self.object_classes[mask_or_index],
            self.obs_len,
        )


def window_starts(frames: np.ndarray, frame_step: int, length: int) -> np.ndarray:
    """Indices i where frames[i : i + length] advance by exactly frame_step each (no gaps)."""
    if len(frames) < length:
        return np.zeros(0, np.int64)
    regular = np.diff(frames) == frame_step
    # a window starting at i needs length - 1 regular steps from i on
    run_sums = np.convolve(regular.astype(np.int64), np.ones(length - 1, np.int64), mode="valid")
    return np.flatnonzero(run_sums == length - 1)


def extract_windows(tracks: list[GroundTrack], obs_len: int, pred_len: int, frame_step: int) -> Windows:
    """Every full window of every track (a track contributes one per start frame)."""
    length = obs_len + pred_len
    positions, sources, object_ids, first_future_frames, classes = [], [], [], [], []
    for track in tracks:
        starts = window_starts(track.frames, frame_step, length)
        positions.extend(track.positions[start : start + length] for start in starts)
        sources.extend([track.source] * len(starts))
        object_ids.extend([track.object_id] * len(starts))
        first_future_frames.extend(track.frames[starts + obs_len].tolist())
        classes.extend([track.object_class] * len(starts))
    return Windows(
        positions=np.array(positions, np.float64).reshape(-1, length, 2),
        sources=np.array(sources, dtype=str),
        object_ids=np.array(object_ids, np.int64),
        first_future_frames=np.array(first_future_frames, np.int64),
        object_classes=np.array(classes, dtype=str),
        obs_len=obs_len,
    )
