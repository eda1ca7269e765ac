"""Annotation-noise augmentation: which windows get noise, how much, and that it teaches the model to smooth."""
import numpy as np
import pytest
import torch

from perception.evaluation.prediction import with_position_noise
from perception.prediction.metrics import constant_velocity, displacement_errors
from perception.prediction.model import predict_windows
from perception.prediction.training import (
    TrainingSettings,
    train_predictor,
    with_noisy_observations,
    with_observation_noise,
)
from perception.prediction.windows import Protocol, Windows

PROTOCOL = Protocol(obs_len=8, pred_len=12, frame_step=1, time_step=0.4, neighbour_radius=5.0)


def straight_walkers(count: int, seed: int, noise: float = 0.0) -> Windows:
    """Pedestrians walking straight at 0.8-1.6 m/s in random directions; observed positions optionally noisy."""
    generator = np.random.default_rng(seed)
    speed = generator.uniform(0.8, 1.6, count) * PROTOCOL.time_step
    angle = generator.uniform(0.0, 2 * np.pi, count)
    velocity = np.stack([np.cos(angle), np.sin(angle)], -1) * speed[:, None]
    positions = np.arange(20)[None, :, None] * velocity[:, None, :] + generator.uniform(-5, 5, (count, 1, 2))
    positions[:, :8] += noise * generator.normal(size=(count, 8, 2))
    labels = np.array(["pedestrian"] * count)
    return Windows(positions, labels, np.arange(count), np.zeros(count, int), labels, PROTOCOL.obs_len)


def test_no_noise_leaves_the_windows_untouched() -> None:
    observed = torch.randn(16, 8, 2)
    generator = torch.Generator().manual_seed(0)
    assert with_observation_noise(observed, 0.0, 0.5, generator) is observed
    assert with_observation_noise(observed, 0.05, 0.0, generator) is observed


def test_a_share_of_the_windows_gets_noise_of_the_drawn_size() -> None:
    observed = torch.zeros(4000, 8, 2)
    noisy = with_observation_noise(observed, 0.05, 0.5, torch.Generator().manual_seed(0))
    changed = noisy.flatten(1).abs().amax(1) > 0
    assert 0.45 < float(changed.float().mean()) < 0.55
    # sigma uniform in [0, 0.05]: the noise's RMS is 0.05 / sqrt(3)
    assert float(noisy[changed].pow(2).mean().sqrt()) == pytest.approx(0.05 / np.sqrt(3), rel=0.05)
    assert float(noisy.abs().max()) < 5 * 0.05  # nothing beyond five times the largest sigma


def test_training_with_noise_sees_through_noisy_observations() -> None:
    """On straight walkers observed with 5 cm noise, constant velocity extrapolates the noise; the noise-trained
    model smooths it and is more accurate, while the model trained on clean windows only is not."""
    torch.set_num_threads(1)
    train, val = straight_walkers(3000, seed=1), straight_walkers(300, seed=2, noise=0.05)
    test = straight_walkers(500, seed=3, noise=0.05)
    cv_ade = displacement_errors(constant_velocity(test.observed, 12), test.future)[0].mean()
    ades = {}
    for noise in (0.0, 0.08):
        settings = TrainingSettings(epochs=10, hidden_size=32, observation_noise=noise, noisy_fraction=1.0)
        model, _ = train_predictor(train, val, PROTOCOL, settings, data={})
        ades[noise] = displacement_errors(predict_windows(model, test), test.future)[0].mean()
    assert ades[0.08] < 0.6 * cv_ade
    assert ades[0.08] < 0.6 * ades[0.0]


def test_noisy_validation_copies_are_reproducible_and_leave_the_future_alone() -> None:
    windows = straight_walkers(400, seed=4)
    original = windows.positions.copy()
    first = with_noisy_observations(windows, 0.1, 0.5, seed=0)
    again = with_noisy_observations(windows, 0.1, 0.5, seed=0)
    np.testing.assert_array_equal(windows.positions, original)
    np.testing.assert_array_equal(first.positions, again.positions)
    np.testing.assert_array_equal(first.future, windows.future)
    changed = np.abs(first.observed - windows.observed).reshape(len(windows), -1).max(1) > 0
    assert 0.35 < changed.mean() < 0.65


def test_evaluation_noise_has_the_given_deviation_on_the_observed_part_only() -> None:
    windows = straight_walkers(400, seed=5)
    noisy = with_position_noise(windows, 0.1, seed=1)
    np.testing.assert_array_equal(noisy.future, windows.future)
    assert float(np.std(noisy.observed - windows.observed)) == pytest.approx(0.1, rel=0.05)
    np.testing.assert_array_equal(with_position_noise(windows, 0.1, seed=1).positions, noisy.positions)
