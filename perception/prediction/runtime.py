"""Runtime predictor for the node: every track's future path in one batched forward pass.

The path contract (msg/PredictedPath.msg): one path per mode of the checkpoint (one for a single-mode model), most
probable first, their confidences (the modes' probabilities) summing to 1; each labelled with what produced it, and
`model_steps` marking how much of it lies within the horizon the model was trained for. Every path's covariances
start from the track's position covariance, added at every step: the prediction's own uncertainty comes on top of
where the track is.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.prediction.checkpoint import bundled_model_path, load_checkpoint
from perception.prediction.inference import ONNXRUNTIME, forward_for
from perception.prediction.neighbours import MAX_NEIGHBOURS, nearest_neighbours
from perception.prediction.paths import (
    CONSTANT_VELOCITY, CONSTANT_VELOCITY_FALLBACK, MIN_MODE_PROBABILITY, RNN, SINGLE_MODE_CONFIDENCE, History,
    history_velocity, with_position_covariances,
)
from perception.types import ObjectClass, PredictedPath

# the predictor's classes (KITTI: Car/Van/Truck, Pedestrian/Person_sitting, Cyclist) of our object classes;
# others (traffic lights and signs, unknown) have no class of their own: the checkpoint's default
PREDICTOR_CLASSES = {
    ObjectClass.CAR: "vehicle",
    ObjectClass.TRUCK: "vehicle",
    ObjectClass.BUS: "vehicle",
    ObjectClass.PEDESTRIAN: "pedestrian",
    ObjectClass.BICYCLE: "cyclist",
    ObjectClass.MOTORCYCLE: "cyclist",  # a rider on two wheels; KITTI has too few motorcycles for a class
}
# a history may start up to this many model steps after its first resampled instant
HISTORY_TOLERANCE_STEPS = 0.5


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

    Past the model's horizon, paths continue at their last predicted velocity and their covariances keep
    growing at their last rate; each path's model_steps says where that extrapolation begins.
    """

    def __init__(
        self, model_path: str | Path | None = None, horizon_s: float | None = None, time_step_s: float | None = None,
        runtime: str = ONNXRUNTIME,
    ):
        """runtime: where the network runs (perception.prediction.inference: onnxruntime, or torch); `forward`
        says which it got, and why not ONNX Runtime where that failed."""
        checkpoint = Path(model_path or bundled_model_path())
        self.model = load_checkpoint(checkpoint)
        self.forward = forward_for(self.model, checkpoint, runtime)
        config = self.model.config
        self._alphas = np.array(config.correction_scale_table())  # by class index; -1: unknown
        self.time_step_s = time_step_s or config.time_step
        self.horizon_s = horizon_s or config.pred_len * config.time_step
        self.min_history_s = (config.obs_len - 1 - HISTORY_TOLERANCE_STEPS) * config.time_step
        self._output_times = self.time_step_s * np.arange(1, int(self.horizon_s / self.time_step_s + 1e-6) + 1)
        self.model_horizon_s = config.pred_len * config.time_step
        self.model_steps = int((self._output_times <= self.model_horizon_s + 1e-6).sum())
        model_times = config.time_step * np.arange(config.pred_len + 1)  # 0 = the current position
        self._to_output = interpolation_matrix(model_times, self._output_times)
        self._history_offsets = config.time_step * np.arange(1 - config.obs_len, 1)
        # constant velocity's covariances per class (last row: unknown class): the RNN's at correction scale 0,
        # interpolated the same way
        fallback = self.model.constant_velocity_covariances.numpy()
        self._fallback_covariances = self._to_output @ np.concatenate([np.zeros((len(fallback), 1, 3)), fallback], 1)

    def predict(
        self, histories: dict[int, History], labels: dict[int, ObjectClass] | None = None,
        position_covariances: dict[int, np.ndarray] | None = None,
        velocities: dict[int, np.ndarray] | None = None,
    ) -> dict[int, list[PredictedPath]]:
        """The paths of each track id: the model's modes for long enough histories (RNN, or CONSTANT_VELOCITY where
        the checkpoint chose constant velocity for the track's class), else one CONSTANT_VELOCITY_FALLBACK path.

        labels: the tracks' classes (missing: unknown, the checkpoint's default correction scale).
        position_covariances: each track's current (2, 2) position covariance, added to every step of its paths
        (missing: none).
        velocities: each track's filtered velocity (2,) m/s in the histories' frame: an input of a model that takes
        it (PredictorConfig.uses_velocity), the base of a velocity_base one, and the fallback path's velocity
        (missing: the history's own).
        """
        velocities = velocities or {}
        is_long = {i: stamps[-1] - stamps[0] >= self.min_history_s for i, (stamps, _) in histories.items()}
        classes = {i: PREDICTOR_CLASSES.get((labels or {}).get(i, ObjectClass.UNKNOWN), "") for i in histories}
        long_ids = [i for i, long in is_long.items() if long]
        paths = {
            i: [self.constant_velocity_path(*histories[i], classes[i], velocities.get(i))]
            for i, long in is_long.items() if not long
        }
        if long_ids:
            paths.update(zip(long_ids, self._model_paths(histories, long_ids, [classes[i] for i in long_ids],
                                                         velocities)))
        return with_position_covariances(paths, position_covariances)

    def _model_paths(
        self, histories: dict[int, History], track_ids: list[int], classes: list[str],
        velocities: dict[int, np.ndarray],
    ) -> list[list[PredictedPath]]:
        """Model paths of track_ids; every history given (short ones too) is a neighbour of the others."""
        radius = self.model.config.neighbour_radius
        resampled = {i: self._resample(*histories[i]) for i in (track_ids if radius is None else histories)}
        observed = np.stack([resampled[i] for i in track_ids])
        class_indices = np.array([self.model.config.class_index(name) for name in classes], dtype=np.int64)
        neighbours = None
        if radius is not None:
            # (x, y, step x, step y) now, from the last two instants resampled at the model's time step
            last_two = np.stack(list(resampled.values()))[:, -2:]
            states = np.concatenate([last_two[:, 1], last_two[:, 1] - last_two[:, 0]], -1)
            excluded = np.array(track_ids)[:, None] == np.array(list(resampled))[None, :]
            neighbours = nearest_neighbours(observed[:, -1], states, excluded, MAX_NEIGHBOURS, radius)
        inputs = {}
        if neighbours is not None:
            inputs.update(neighbours=neighbours.states.astype(np.float32), present=neighbours.present)
        if self.model.config.uses_velocity:  # the tracker's velocity, else the resampled history's last step
            last_steps = (observed[:, -1] - observed[:, -2]) / self.model.config.time_step
            inputs["velocities"] = np.stack([velocities.get(i, step) for i, step in zip(track_ids, last_steps)]
                                            ).astype(np.float32)
        means, covariances, probabilities = self.forward(observed.astype(np.float32), class_indices, **inputs)
        alphas = self._alphas[class_indices].tolist()
        modes = means.shape[1]
        current = np.repeat(observed[:, None, -1:], modes, 1)
        means = self._to_output @ np.concatenate([current, means], 2)
        zero = np.zeros((len(observed), modes, 1, 3))
        covariances = self._to_output @ np.concatenate([zero, covariances], 2)
        # every mode a probability in (0, 1] (a float32 softmax can underflow), summing to 1 in float64
        probabilities = np.maximum(probabilities.astype(np.float64), MIN_MODE_PROBABILITY)
        probabilities /= probabilities.sum(-1, keepdims=True)
        return [
            [PredictedPath(mean[m], covariance[m], self.time_step_s, float(probability[m]),
                           RNN if alpha > 0.0 else CONSTANT_VELOCITY, self.model_steps)
             for m in np.argsort(-probability, kind="stable")]
            for mean, covariance, probability, alpha in zip(means, covariances, probabilities, alphas)
        ]

    def _resample(self, stamps: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Positions at the model's observation instants ending at the last stamp."""
        times = stamps[-1] + self._history_offsets
        return np.stack([np.interp(times, stamps, positions[:, axis]) for axis in range(2)], -1)

    def constant_velocity_path(
        self, stamps: np.ndarray, positions: np.ndarray, object_class: str = "", velocity: np.ndarray | None = None
    ) -> PredictedPath:
        """The fallback: the track's filtered velocity where given, else the history's mean velocity, with constant
        velocity's uncertainty for object_class (one of the checkpoint's classes; others: over all training
        windows)."""
        if velocity is None:
            velocity = history_velocity(stamps, positions)
        return PredictedPath(
            positions[-1] + self._output_times[:, None] * velocity,
            self._fallback_covariances[self.model.config.class_index(object_class)].copy(),
            self.time_step_s,
            SINGLE_MODE_CONFIDENCE,
            CONSTANT_VELOCITY_FALLBACK,
            self.model_steps,
        )
