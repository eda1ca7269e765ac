"""Correction scale (alpha): constant velocity at 0, blended covariances, chosen on validation, saved."""
from pathlib import Path

import numpy as np
import torch

from perception.prediction.checkpoint import load_checkpoint, save_checkpoint
from perception.prediction.evaluation import predict_windows
from perception.prediction.metrics import constant_velocity
from perception.prediction.model import constant_velocity_covariances
from perception.prediction.runtime import TrajectoryPredictor
from perception.prediction.training import choose_correction_scale
from perception.prediction.windows import Windows


def curved_windows(count: int = 6) -> Windows:
    """Tracks (8 observed + 12 future positions) that speed up and turn, so no model is exact."""
    generator = np.random.default_rng(3)
    steps = 0.4 + 0.1 * generator.normal(size=(count, 20, 2)) + np.linspace(0.0, 0.3, 20)[None, :, None]
    labels = np.array(["pedestrian"] * count)
    return Windows(steps.cumsum(axis=1), labels, np.arange(count), np.zeros(count, int), labels, 8)


def test_scale_zero_is_constant_velocity_with_its_covariances(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    model.config.correction_scale = 0.0
    windows = curved_windows()
    np.testing.assert_allclose(predict_windows(model, windows), constant_velocity(windows.observed, 12), atol=1e-5)
    with torch.no_grad():
        _, covariances = model(torch.tensor(windows.observed, dtype=torch.float32))
    expected = constant_velocity_covariances(model.config).expand_as(covariances)
    torch.testing.assert_close(covariances, expected, rtol=0, atol=0)


def test_means_and_covariances_interpolate_linearly(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    observed = torch.tensor(curved_windows().observed, dtype=torch.float32)
    outputs = {}
    for alpha in (0.0, 0.3, 1.0):
        model.config.correction_scale = alpha
        with torch.no_grad():
            outputs[alpha] = model(observed)
    for blended, prior, learned in zip(outputs[0.3], outputs[0.0], outputs[1.0]):
        torch.testing.assert_close(blended, 0.7 * prior + 0.3 * learned, atol=1e-5, rtol=1e-5)


def test_validation_chooses_the_best_scale_and_the_checkpoint_keeps_it(
    tiny_predictor_checkpoint: Path, tmp_path: Path
) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    windows = curved_windows()
    model.config.correction_scale = 0.3
    windows.positions[:, 8:] = predict_windows(model, windows)  # a future that alpha = 0.3 predicts exactly
    model.config.correction_scale = 1.0
    val_ade = choose_correction_scale(model, windows)
    assert sorted(val_ade) == [round(0.1 * step, 1) for step in range(11)]
    assert model.config.correction_scale == 0.3 and val_ade[0.3] < 1e-5 < min(val_ade[0.2], val_ade[0.4])
    save_checkpoint(model, tmp_path / "calibrated.pt")
    loaded = load_checkpoint(tmp_path / "calibrated.pt")
    assert loaded.config.correction_scale == 0.3
    np.testing.assert_array_equal(predict_windows(loaded, windows), predict_windows(model, windows))


def test_runtime_applies_the_stored_scale(tiny_predictor_checkpoint: Path, tmp_path: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    model.config.correction_scale = 0.0
    save_checkpoint(model, tmp_path / "constant_velocity.pt")
    predictor = TrajectoryPredictor(tmp_path / "constant_velocity.pt", horizon_s=2.0, time_step_s=0.2)
    stamps = np.arange(0.0, 3.2, 0.4)
    history = (stamps, np.array([3.0, -2.0]) + stamps[:, None] * np.array([1.0, 0.5]))
    (path,) = predictor.predict({1: history})[1]
    fallback = predictor.constant_velocity_path(*history)
    assert path.model == "rnn"
    np.testing.assert_allclose(path.positions, fallback.positions, atol=1e-5)
    np.testing.assert_allclose(path.covariances, fallback.covariances, atol=1e-7)
