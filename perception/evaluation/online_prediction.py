"""Online prediction error: each predicted path against the positions the tracker observed later (no ROS).

A path's positions within its model's trained horizon (the first model_steps) count for its model; the
extrapolated rest (PredictedPath.msg) counts apart, as "<model> extrapolated", so that an extrapolation
never passes for the model's error.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np


@dataclass
class PredictionRecord:
    stamp: float  # time of the prediction; positions[k] is at stamp + (k + 1) * time_step
    track_id: int
    time_step: float
    positions: np.ndarray  # (T, 2)
    model: str
    model_steps: int  # positions[:model_steps] are within the model's trained horizon, the rest extrapolated


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


def online_errors(records: list[PredictionRecord],
                  tracks: dict[int, list[tuple[float, float, float]]]) -> dict[str, OnlineErrors]:
    """Errors per model; observed positions are linearly interpolated between tracker outputs."""
    step_errors: dict[str, list[float]] = defaultdict(list)
    final_errors: dict[str, list[float]] = defaultdict(list)
    paths: dict[str, int] = defaultdict(int)
    observed = {track_id: observed_positions(samples) for track_id, samples in tracks.items() if len(samples) > 1}
    for record in records:
        if record.track_id not in observed:
            continue
        stamps, positions = observed[record.track_id]
        future_times = record.stamp + record.time_step * np.arange(1, len(record.positions) + 1)
        parts = {record.model: slice(0, record.model_steps),
                 f"{record.model} extrapolated": slice(record.model_steps, len(record.positions))}
        for model, part in parts.items():
            times = future_times[part]
            covered = times <= stamps[-1] + 1e-6
            if not covered.any():
                continue
            truth = np.column_stack([np.interp(times[covered], stamps, positions[:, axis]) for axis in (0, 1)])
            errors = np.linalg.norm(record.positions[part][covered] - truth, axis=1)
            step_errors[model].extend(errors.tolist())
            paths[model] += 1
            if covered.all():
                final_errors[model].append(float(errors[-1]))
    return {
        model: OnlineErrors(float(np.mean(step_errors[model])),
                            float(np.mean(final_errors[model])) if final_errors[model] else float("nan"),
                            paths[model], len(final_errors[model]))
        for model in step_errors
    }
