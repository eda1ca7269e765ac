"""Online prediction error: each predicted path against the positions the tracker observed later (no ROS).

A path's positions within its model's trained horizon (the first model_steps) count for its model; the
extrapolated rest (PredictedPath.msg) counts apart, as "<model> extrapolated", so that an extrapolation
never passes for the model's error. Errors are also given per range bin (the object's distance from the vehicle at
the prediction's stamp), since far, noisy positions dominate the overall error.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

RANGE_BINS_M = (0.0, 15.0, 30.0, 50.0, math.inf)  # edges of the range bins, metres: [low, high)
RANGE_LABELS = tuple(f"{low:g}+ m" if math.isinf(high) else f"{low:g}-{high:g} m"
                     for low, high in zip(RANGE_BINS_M, RANGE_BINS_M[1:]))
RANGE_UNKNOWN = "range unknown"  # e.g. positions in an odom frame of a recording without odometry

Key = TypeVar("Key", bound=Hashable)
Observed = dict[int, tuple[np.ndarray, np.ndarray]]


@dataclass
class PredictionRecord:
    stamp: float  # time of the prediction; positions[k] is at stamp + (k + 1) * time_step
    track_id: int
    time_step: float
    positions: np.ndarray  # (T, 2)
    model: str
    model_steps: int  # positions[:model_steps] are within the model's trained horizon, the rest extrapolated
    range_m: float = math.nan  # the object's distance from the vehicle at the stamp, metres; NaN when unknown


@dataclass
class OnlineErrors:
    ade: float  # mean displacement over every future step the tracker observed, metres
    fde: float  # displacement at the last step, over paths whose whole horizon was observed (NaN if none)
    paths: int  # paths with at least one observed future step
    complete_paths: int  # paths whose whole horizon was observed


def observed_positions(observations: list[tuple[float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(t, x, y) samples of one track -> sorted stamps (N,) and positions (N, 2)."""
    array = np.array(sorted(observations))
    return array[:, 0], array[:, 1:3]


def range_label(range_m: float) -> str:
    """The label of the range bin holding range_m, RANGE_UNKNOWN for NaN."""
    for label, low, high in zip(RANGE_LABELS, RANGE_BINS_M, RANGE_BINS_M[1:]):
        if low <= range_m < high:
            return label
    return RANGE_UNKNOWN


def observed_at(times: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """Which times the track's observations (sorted stamps) cover: at an observation, or between two at most twice
    the track's median spacing apart. Across a longer gap (the track was not published) the truth is unknown, and
    interpolating would invent it."""
    limit = 2.0 * float(np.median(np.diff(stamps))) + 1e-6
    after = np.searchsorted(stamps, times - 1e-6)  # the first observation at or after each time
    found = after < len(stamps)
    after = np.minimum(after, len(stamps) - 1)
    at = found & (np.abs(stamps[after] - times) <= 1e-6)
    between = found & (after > 0) & (stamps[after] - stamps[np.maximum(after - 1, 0)] <= limit)
    return at | between


def _path_errors(record: PredictionRecord, observed: Observed) -> Iterator[tuple[str, np.ndarray, bool]]:
    """(model, displacement at each observed future step, whether every step was observed) of the path's part
    within its model's horizon and of its extrapolated part, for each part with an observed step."""
    if record.track_id not in observed:
        return
    stamps, positions = observed[record.track_id]
    future_times = record.stamp + record.time_step * np.arange(1, len(record.positions) + 1)
    parts = {record.model: slice(0, record.model_steps),
             f"{record.model} extrapolated": slice(record.model_steps, len(record.positions))}
    for model, part in parts.items():
        times = future_times[part]
        covered = observed_at(times, stamps)
        if covered.any():
            truth = np.column_stack([np.interp(times[covered], stamps, positions[:, axis]) for axis in (0, 1)])
            yield model, np.linalg.norm(record.positions[part][covered] - truth, axis=1), bool(covered.all())


def _grouped_errors(records: list[PredictionRecord], tracks: dict[int, list[tuple[float, float, float]]],
                    key: Callable[[PredictionRecord, str], Key]) -> dict[Key, OnlineErrors]:
    """Errors per key(record, model); observed positions are linearly interpolated between tracker outputs."""
    step_errors: dict[Key, list[float]] = defaultdict(list)
    final_errors: dict[Key, list[float]] = defaultdict(list)
    paths: dict[Key, int] = defaultdict(int)
    observed = {track_id: observed_positions(samples) for track_id, samples in tracks.items() if len(samples) > 1}
    for record in records:
        for model, errors, complete in _path_errors(record, observed):
            group = key(record, model)
            step_errors[group].extend(errors.tolist())
            paths[group] += 1
            if complete:
                final_errors[group].append(float(errors[-1]))
    return {
        group: OnlineErrors(float(np.mean(errors)),
                            float(np.mean(final_errors[group])) if final_errors[group] else math.nan,
                            paths[group], len(final_errors[group]))
        for group, errors in step_errors.items()
    }


def online_errors(records: list[PredictionRecord],
                  tracks: dict[int, list[tuple[float, float, float]]]) -> dict[str, OnlineErrors]:
    """Errors per model; observed positions are linearly interpolated between tracker outputs."""
    return _grouped_errors(records, tracks, lambda record, model: model)


def online_errors_by_range(records: list[PredictionRecord], tracks: dict[int, list[tuple[float, float, float]]]
                           ) -> dict[tuple[str, str], OnlineErrors]:
    """Errors per (model, range label), ordered by model, then range (RANGE_LABELS, then RANGE_UNKNOWN)."""
    errors = _grouped_errors(records, tracks, lambda record, model: (model, range_label(record.range_m)))
    order = RANGE_LABELS + (RANGE_UNKNOWN,)
    return {key: errors[key] for key in sorted(errors, key=lambda key: (key[0], order.index(key[1])))}
