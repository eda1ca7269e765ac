"""Runtime predictor for the node: every track's future path in one batched forward pass."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from perception.prediction.checkpoint import bundled_model_path, load_checkpoint
from perception.prediction.neighbours import MAX_NEIGHBOURS, nearest_neighbours
from perception.types import PredictedPath

RNN_CONFIDENCE = 1.0  # the model's single hypothesis
FALLBACK_CONFIDENCE = 0.3  # constant velocity from a history too short for the model
# a history may start up to this many model steps after its first resampled instant
HISTORY_TOLERANCE_STEPS = 0.5

History = tuple[np.ndarray, np.ndarray]  # stamps (N,) seconds ascending, positions (N, 2) metres


def interpolation_matrix(source_times: np.ndarray, target_times: np.ndarray) -> np.ndarray:
    """(len(target), len(source)) weights that linearly interpolate values given at source_times.

    Beyond the last source time they extrapolate the last interval's trend.
    """
    weights = np.zeros((len(target_times), len(source_times)))
    for row, time in enumerate(target_times):
        upper = int(np.clip(np.searchsorted(source_times, time), 1, len(source_times) - 1))
        fraction = (time - source_times[upper - 1]) / (source_times[upper] - source_times[upper - 1])
        weights[row, upper - 1], weights[row, upper] = 1.0 - fraction, fraction
    return weights


class TrajectoryPredictor:
    """Predicts horizon_s seconds ahead at time_step_s (defaults: the model's own).

    Past the model's horizon, paths continue at their last predicted velocity and their
    covariances keep growing at their last rate.
    """

    def __init__(
        self, model_path: str | Path | None = None, horizon_s: float | None = None, time_step_s: float | None = None
    ):
        self.model = load_checkpoint(model_path or bundled_model_path())
        config = self.model.config
        self.time_step_s = time_step_s or config.time_step
        self.horizon_s = horizon_s or config.pred_len * config.time_step
        self.min_history_s = (config.obs_len - 1 - HISTORY_TOLERANCE_STEPS) * config.time_step
        self._output_times = self.time_step_s * np.arange(1, int(self.horizon_s / self.time_step_s + 1e-6) + 1)
        model_times = config.time_step * np.arange(config.pred_len + 1)  # 0 = the current position
        self._to_output = interpolation_matrix(model_times, self._output_times)
        self._history_offsets = config.time_step * np.arange(1 - config.obs_len, 1)
        # constant velocity's covariances: the RNN's at correction scale 0, interpolated the same way
        fallback = self.model.constant_velocity_covariances.numpy()
        self._fallback_covariances = self._to_output @ np.concatenate([np.zeros((1, 3)), fallback])

    def predict(self, histories: dict[int, History]) -> dict[int, list[PredictedPath]]:
        """Paths per track id: model="rnn" for long enough histories, else "constant_velocity"."""
        is_long = {i: stamps[-1] - stamps[0] >= self.min_history_s for i, (stamps, _) in histories.items()}
        long_ids = [i for i, long in is_long.items() if long]
        paths = {i: [self.constant_velocity_path(*histories[i])] for i, long in is_long.items() if not long}
        if long_ids:
            paths.update(zip(long_ids, self._rnn_paths(histories, long_ids)))
        return paths

    def _rnn_paths(self, histories: dict[int, History], track_ids: list[int]) -> list[list[PredictedPath]]:
        """Model paths of track_ids; every history given (short ones too) is a neighbour of the others."""
        radius = self.model.config.neighbour_radius
        resampled = {i: self._resample(*histories[i]) for i in (track_ids if radius is None else histories)}
        observed = np.stack([resampled[i] for i in track_ids])
        inputs = [torch.from_numpy(observed).float()]
        if radius is not None:
            # (x, y, step x, step y) now, from the last two instants resampled at the model's time step
            last_two = np.stack(list(resampled.values()))[:, -2:]
            states = np.concatenate([last_two[:, 1], last_two[:, 1] - last_two[:, 0]], -1)
            excluded = np.array(track_ids)[:, None] == np.array(list(resampled))[None, :]
            neighbours = nearest_neighbours(observed[:, -1], states, excluded, MAX_NEIGHBOURS, radius)
            inputs += [torch.from_numpy(neighbours.states).float(), torch.from_numpy(neighbours.present)]
        with torch.no_grad():
            means, covariances = self.model(*inputs)
        current = observed[:, -1:]
        means = self._to_output @ np.concatenate([current, means.numpy()], 1)
        zero = np.zeros((len(observed), 1, 3))
        covariances = self._to_output @ np.concatenate([zero, covariances.numpy()], 1)
        return [
            [PredictedPath(mean, covariance, self.time_step_s, RNN_CONFIDENCE, "rnn")]
            for mean, covariance in zip(means, covariances)
        ]

    def _resample(self, stamps: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Positions at the model's observation instants ending at the last stamp."""
        times = stamps[-1] + self._history_offsets
        return np.stack([np.interp(times, stamps, positions[:, axis]) for axis in range(2)], -1)

    def constant_velocity_path(self, stamps: np.ndarray, positions: np.ndarray) -> PredictedPath:
        duration = stamps[-1] - stamps[0]
        velocity = (positions[-1] - positions[0]) / duration if duration > 0 else np.zeros(2)
        return PredictedPath(
            positions[-1] + self._output_times[:, None] * velocity,
            self._fallback_covariances.copy(),
            self.time_step_s,
            FALLBACK_CONFIDENCE,
            "constant_velocity",
        )
