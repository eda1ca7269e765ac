"""A velocity_base model: the tracker's velocity is its constant-velocity base (alpha 0 is constant velocity from the
tracker's state, at run time too) and an input of the network."""
from pathlib import Path

import numpy as np
import torch

from perception.prediction.checkpoint import save_checkpoint
from perception.prediction.metrics import constant_velocity, velocity_extrapolation
from perception.prediction.model import PredictorConfig, TrajectoryRNN, predict_windows
from perception.prediction.runtime import TrajectoryPredictor
from perception.prediction.training import TrainingSettings, train_predictor
from perception.prediction.windows import Protocol, Windows

PROTOCOL = Protocol(obs_len=8, pred_len=12, frame_step=1, time_step=0.4, neighbour_radius=10.0)


def tracked_windows(count: int = 32) -> Windows:
    """Windows whose observed steps are noisy and whose velocities (the 'tracker's') are the true ones."""
    generator = np.random.default_rng(5)
    velocities = generator.normal(size=(count, 2))
    times = PROTOCOL.time_step * np.arange(20)
    positions = times[None, :, None] * velocities[:, None]
    positions[:, :8] += 0.2 * generator.normal(size=(count, 8, 2))
    labels = np.array(["vehicle"] * count)
    return Windows(positions, labels, np.arange(count), np.zeros(count, int), labels, 8, velocities=velocities)


def velocity_base_model(alpha: float) -> TrajectoryRNN:
    torch.manual_seed(0)
    config = PredictorConfig(obs_len=8, pred_len=12, time_step=0.4, hidden_size=16, displacement_scale=0.4,
                             constant_velocity_rmse=[0.1] * 12, correction_scale=alpha, velocity_base=True)
    return TrajectoryRNN(config)


def test_alpha_zero_is_constant_velocity_from_the_tracker_state_in_training_and_at_run_time(tmp_path: Path) -> None:
    model = velocity_base_model(0.0)
    windows = tracked_windows(4)
    expected = velocity_extrapolation(windows.observed, windows.velocities, 12, 0.4)
    np.testing.assert_allclose(predict_windows(model, windows), expected, atol=1e-5)
    save_checkpoint(model, tmp_path / "velocity_base.pt")
    predictor = TrajectoryPredictor(tmp_path / "velocity_base.pt")  # ONNX Runtime, velocities an input
    stamps = 0.4 * np.arange(8)
    histories = {i: (stamps, windows.observed[i]) for i in range(4)}
    paths = predictor.predict(histories, velocities={i: windows.velocities[i] for i in range(4)})
    for i in range(4):
        (path,) = paths[i]
        assert path.model == "constant_velocity"
        np.testing.assert_allclose(path.positions, expected[i], atol=1e-4)


def test_the_network_sees_the_velocity(tmp_path: Path) -> None:
    save_checkpoint(velocity_base_model(1.0), tmp_path / "velocity_base.pt")
    predictor = TrajectoryPredictor(tmp_path / "velocity_base.pt")
    stamps = 0.4 * np.arange(8)
    history = (stamps, np.column_stack([stamps, np.zeros(8)]))
    slow, fast = (predictor.predict({1: history}, velocities={1: np.array([speed, 0.0])})[1][0].positions
                  for speed in (1.0, 3.0))
    # the base alone moves the last point by 2 m/s x 4.8 s; the learned correction differs too
    assert not np.allclose(fast - slow, 2.0 * 0.4 * np.arange(1, 13)[:, None] * np.array([1.0, 0.0]), atol=1e-3)


def test_the_fallback_path_takes_the_tracker_velocity(tiny_predictor_checkpoint: Path) -> None:
    predictor = TrajectoryPredictor(tiny_predictor_checkpoint, horizon_s=1.2, time_step_s=0.4)
    stamps = np.array([0.0, 0.4])
    history = (stamps, np.array([[0.0, 0.0], [0.4, 0.0]]))
    (path,) = predictor.predict({1: history}, velocities={1: np.array([0.0, 2.0])})[1]
    assert path.model == "constant_velocity_fallback"
    np.testing.assert_allclose(path.positions, [[0.4, 0.8], [0.4, 1.6], [0.4, 2.4]])


def test_training_keeps_to_the_tracker_velocity() -> None:
    """With noisy observed steps and exact velocities, the trained network (alpha 1) stays far closer to the future
    than the last observed step's constant velocity."""
    windows = tracked_windows()
    settings = TrainingSettings(epochs=3, hidden_size=16, velocity_base=True)
    model, _ = train_predictor(windows, None, PROTOCOL, settings, {})
    trained = np.linalg.norm(predict_windows(model, windows) - windows.future, axis=-1).mean()
    last_step = constant_velocity(windows.observed, 12)
    assert trained < 0.5 * np.linalg.norm(last_step - windows.future, axis=-1).mean()
