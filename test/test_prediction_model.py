"""Trajectory RNN: shapes, invariances, no peeking at the future, checkpoint round trip."""
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from perception.prediction.checkpoint import bundled_model_path, load_checkpoint, save_checkpoint
from perception.prediction.model import gaussian_nll, predict_windows
from perception.prediction.windows import Windows


def random_tracks(count: int, length: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    steps = 0.4 + 0.1 * torch.randn(count, length, 2, generator=generator)
    return steps.cumsum(dim=1)


def test_output_shapes_and_positive_definite_covariances(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    with torch.no_grad():
        means, covariances = model(random_tracks(5, 8))
    assert means.shape == (5, 12, 2) and covariances.shape == (5, 12, 3)
    var_x, var_y, cov_xy = covariances.unbind(-1)
    assert bool((var_x > 0).all()) and bool((var_x * var_y - cov_xy**2 > 0).all())


def test_prediction_moves_and_turns_with_the_track(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    observed = random_tracks(4, 8)
    angle = 0.7
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shift = torch.tensor([12.0, -30.0])
    with torch.no_grad():
        means, covariances = model(observed)
        moved_means, moved_covariances = model(observed @ rotation.T + shift)
    torch.testing.assert_close(moved_means, means @ rotation.T + shift, atol=1e-4, rtol=1e-4)
    matrices = torch.stack([covariances[..., [0, 2]], covariances[..., [2, 1]]], -2)
    turned = rotation @ matrices @ rotation.T
    torch.testing.assert_close(moved_covariances[..., 0], turned[..., 0, 0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(moved_covariances[..., 2], turned[..., 0, 1], atol=1e-5, rtol=1e-4)


def test_changing_the_future_does_not_change_predictions(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    positions = random_tracks(3, 20).double().numpy()

    def windows(array: np.ndarray) -> Windows:
        return Windows(array, np.array(["a"] * 3), np.arange(3), np.zeros(3, int), np.array(["pedestrian"] * 3), 8)
    altered = positions.copy()
    altered[:, 8:] = np.random.default_rng(0).normal(size=(3, 12, 2)) * 50
    original = predict_windows(model, windows(positions))
    np.testing.assert_array_equal(predict_windows(model, windows(altered)), original)
    altered[:, 7] += 1.0  # the current position does matter
    assert not np.allclose(predict_windows(model, windows(altered)), original)


def test_checkpoint_round_trip(tiny_predictor_checkpoint: Path, tmp_path: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    save_checkpoint(model, tmp_path / "copy.pt")
    loaded = load_checkpoint(tmp_path / "copy.pt")
    assert asdict(loaded.config) == asdict(model.config)
    observed = random_tracks(2, 8)
    with torch.no_grad():
        for original, restored in zip(model(observed), loaded(observed)):
            torch.testing.assert_close(original, restored, rtol=0, atol=0)


def test_gaussian_nll_matches_torch_distribution() -> None:
    means = torch.tensor([[0.5, -1.0]])
    covariances = torch.tensor([[2.0, 0.5, 0.3]])
    targets = torch.tensor([[1.5, 0.0]])
    reference = torch.distributions.MultivariateNormal(means, torch.tensor([[[2.0, 0.3], [0.3, 0.5]]]))
    torch.testing.assert_close(gaussian_nll(means, covariances, targets), -reference.log_prob(targets).mean())


def test_bundled_default_model_loads_with_its_config() -> None:
    model = load_checkpoint(bundled_model_path())
    # trained on the deployed tracker's output in both frames, every shared sequence (issue 27)
    assert model.config.data["dataset"] == "kitti_tracker" and model.config.data["frame"] == "odom,base_link"
    assert model.config.data["train"] == ",".join(f"{s:04d}" for s in range(11)) and model.config.modes == 1
    assert set(model.config.class_correction_scales) == {"vehicle", "pedestrian", "cyclist"}
    assert (model.config.obs_len, model.config.pred_len, model.config.time_step) == (10, 20, 0.1)
    assert len(model.config.constant_velocity_rmse) == model.config.pred_len
