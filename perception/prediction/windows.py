"""Ground-plane tracks, the evaluation protocols of their windows, and the fixed-length observe/predict windows cut
from them."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from perception.prediction.neighbours import MAX_NEIGHBOURS, Neighbours, nearest_neighbours


@dataclass(frozen=True)
class Protocol:
    """Window lengths and sampling of an evaluation protocol."""

    obs_len: int
    pred_len: int
    frame_step: int  # frame numbers between consecutive steps
    time_step: float  # seconds between consecutive steps
    neighbour_radius: float  # metres: other objects within it are a window's neighbours


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
    # other objects near each window's last observed position; None: every window alone
    neighbours: Neighbours | None = None
    # (N, 2) m/s: the tracker's filtered velocity at each window's last observed instant; None: not known
    velocities: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def observed(self) -> np.ndarray:
        return self.positions[:, : self.obs_len]

    @property
    def future(self) -> np.ndarray:
        return self.positions[:, self.obs_len :]

    def velocities_or_last_step(self, time_step: float) -> np.ndarray:
        """(N, 2) the tracker's velocities; where not known, the last observed step over time_step."""
        if self.velocities is not None:
            return self.velocities
        return (self.observed[:, -1] - self.observed[:, -2]) / time_step

    def neighbours_or_alone(self) -> Neighbours:
        """The windows' neighbours; none at all where they were not extracted."""
        return Neighbours.none(len(self), MAX_NEIGHBOURS) if self.neighbours is None else self.neighbours

    def with_observed_offsets(self, offsets: np.ndarray) -> "Windows":
        """A copy with `offsets` (N, obs_len, 2) added to the observed positions; the future stays as it is."""
        shifted = self.select(np.arange(len(self)))  # index arrays copy the positions
        shifted.positions[:, : self.obs_len] += offsets
        return shifted

    def concatenated(self, other: "Windows") -> "Windows":
        """These windows followed by other's (same lengths); neighbours and velocities only where both have them."""
        if (self.obs_len, self.positions.shape[1]) != (other.obs_len, other.positions.shape[1]):
            raise ValueError("windows of different lengths")
        both = self.neighbours is not None and other.neighbours is not None
        return Windows(
            np.concatenate([self.positions, other.positions]),
            np.concatenate([self.sources, other.sources]),
            np.concatenate([self.object_ids, other.object_ids]),
            np.concatenate([self.first_future_frames, other.first_future_frames]),
            np.concatenate([self.object_classes, other.object_classes]),
            self.obs_len,
            Neighbours(
                np.concatenate([self.neighbours.states, other.neighbours.states]),
                np.concatenate([self.neighbours.present, other.neighbours.present]),
            ) if both else None,
            None if self.velocities is None or other.velocities is None
            else np.concatenate([self.velocities, other.velocities]),
        )

    def select(self, mask_or_index: np.ndarray) -> "Windows":
        return Windows(
            self.positions[mask_or_index],
            self.sources[mask_or_index],
            self.object_ids[mask_or_index],
            self.first_future_frames[mask_or_index],
            self.object_classes[mask_or_index],
            self.obs_len,
            None if self.neighbours is None else self.neighbours.select(mask_or_index),
            None if self.velocities is None else self.velocities[mask_or_index],
        )


def window_starts(frames: np.ndarray, frame_step: int, length: int) -> np.ndarray:
    """Indices i where frames[i : i + length] advance by exactly frame_step each (no gaps)."""
    if len(frames) < length:
        return np.zeros(0, np.int64)
    regular = np.diff(frames) == frame_step
    # a window starting at i needs length - 1 regular steps from i on
    run_sums = np.convolve(regular.astype(np.int64), np.ones(length - 1, np.int64), mode="valid")
    return np.flatnonzero(run_sums == length - 1)


def extract_windows(
    tracks: list[GroundTrack], obs_len: int, pred_len: int, frame_step: int, *, neighbour_radius: float
) -> Windows:
    """Every full window of every track (a track contributes one per start frame), with its neighbours."""
    length = obs_len + pred_len
    positions, sources, object_ids, first_future_frames, classes = [], [], [], [], []
    for track in tracks:
        starts = window_starts(track.frames, frame_step, length)
        positions.extend(track.positions[start : start + length] for start in starts)
        sources.extend([track.source] * len(starts))
        object_ids.extend([track.object_id] * len(starts))
        first_future_frames.extend(track.frames[starts + obs_len].tolist())
        classes.extend([track.object_class] * len(starts))
    windows = Windows(
        positions=np.array(positions, np.float64).reshape(-1, length, 2),
        sources=np.array(sources, dtype=str),
        object_ids=np.array(object_ids, np.int64),
        first_future_frames=np.array(first_future_frames, np.int64),
        object_classes=np.array(classes, dtype=str),
        obs_len=obs_len,
    )
    windows.neighbours = window_neighbours(tracks, windows, frame_step, neighbour_radius)
    return windows


def window_neighbours(tracks: list[GroundTrack], windows: Windows, frame_step: int, radius: float) -> Neighbours:
    """Each window's neighbours at its last observed frame, among every track of the same source there.

    Only that frame and the one before it are read: nothing from the future.
    """
    states: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = defaultdict(list)
    for track in tracks:
        index_of = {int(frame): index for index, frame in enumerate(track.frames)}
        for index, frame in enumerate(track.frames.tolist()):
            previous = index_of.get(frame - frame_step)
            if previous is not None:
                step = track.positions[index] - track.positions[previous]
                states[track.source, frame].append((track.object_id, np.concatenate([track.positions[index], step])))
    last_frames = windows.first_future_frames - frame_step
    by_snapshot: dict[tuple[str, int], list[int]] = defaultdict(list)
    for window, key in enumerate(zip(windows.sources.tolist(), last_frames.tolist())):
        by_snapshot[key].append(window)
    result = Neighbours.none(len(windows), MAX_NEIGHBOURS)
    centres = windows.observed[:, -1]
    for key, members in by_snapshot.items():
        if not states[key]:
            continue
        ids = np.array([object_id for object_id, _ in states[key]])
        others = np.stack([state for _, state in states[key]])
        excluded = windows.object_ids[members][:, None] == ids[None, :]
        found = nearest_neighbours(centres[members], others, excluded, MAX_NEIGHBOURS, radius)
        result.states[members], result.present[members] = found.states, found.present
    return result
