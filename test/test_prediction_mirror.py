"""Mirror augmentation: reflected windows are the y -> -y reflection in the heading frame; "both" doubles the data."""
import numpy as np
import pytest
import torch

from perception.prediction.model import heading_rotations
from perception.prediction.training import mirrored, reflected, training_windows
from perception.prediction.windows import Windows


def turning_windows(count: int = 5) -> Windows:
    """Tracks (8 observed + 12 future positions) with a heading that is not along an axis and a left turn."""
    generator = np.random.default_rng(7)
    steps = np.array([0.3, 0.5]) + 0.1 * generator.normal(size=(count, 20, 2))
    steps[:, 8:] += np.array([-0.2, 0.1])
    labels = np.array(["pedestrian"] * count)
    return Windows(steps.cumsum(axis=1), labels, np.arange(count), np.zeros(count, int), labels, 8)


def heading_frame(windows: torch.Tensor, obs_len: int = 8) -> torch.Tensor:
    """Windows in the model's input frame: origin at the last observed position, x along the observed heading."""
    observed = windows[:, :obs_len]
    return (windows - observed[:, -1:]) @ heading_rotations(observed)


def test_reflected_window_is_the_mirror_image_in_the_heading_frame() -> None:
    windows = torch.tensor(turning_windows().positions, dtype=torch.float32)
    mirror = reflected(windows)
    torch.testing.assert_close(mirror[..., 0], windows[..., 0], rtol=0, atol=0)
    torch.testing.assert_close(mirror[..., 1], -windows[..., 1], rtol=0, atol=0)
    local, mirror_local = heading_frame(windows), heading_frame(mirror)
    torch.testing.assert_close(mirror_local, local * torch.tensor([1.0, -1.0]), atol=1e-5, rtol=1e-5)
    assert bool((local[:, -1, 1] > 0).all()) and bool((mirror_local[:, -1, 1] < 0).all())  # left turn becomes right


def test_both_doubles_the_training_windows_with_their_reflections() -> None:
    train = turning_windows()
    original = torch.tensor(train.positions, dtype=torch.float32)
    torch.testing.assert_close(training_windows(train, "random"), original, rtol=0, atol=0)
    both = training_windows(train, "both")
    assert both.shape == (2 * len(train), 20, 2)
    torch.testing.assert_close(both[: len(train)], original, rtol=0, atol=0)
    torch.testing.assert_close(both[len(train) :], reflected(original), rtol=0, atol=0)
    with pytest.raises(ValueError):
        training_windows(train, "never")


def test_random_mirror_reflects_some_windows_and_keeps_the_others() -> None:
    windows = torch.tensor(turning_windows(64).positions, dtype=torch.float32)
    result = mirrored(windows, torch.Generator().manual_seed(0))
    kept = (result == windows).flatten(1).all(1)
    flipped = (result == reflected(windows)).flatten(1).all(1)
    assert bool((kept ^ flipped).all()) and 0 < int(flipped.sum()) < len(windows)
