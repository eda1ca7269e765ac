"""Mirror augmentation: reflected windows are the y -> -y reflection in the heading frame; "both" doubles the data."""
import numpy as np
import pytest
import torch

from perception.prediction.model import PredictorConfig, heading_rotations
from perception.prediction.neighbours import Neighbours
from perception.prediction.training import WindowTensors, training_windows
from perception.prediction.windows import Windows


CONFIG = PredictorConfig(obs_len=8, pred_len=12, time_step=0.4, classes=["pedestrian"])


def turning_windows(count: int = 5) -> Windows:
    """Tracks (8 observed + 12 future positions) with a heading that is not along an axis and a left turn."""
    generator = np.random.default_rng(7)
    steps = np.array([0.3, 0.5]) + 0.1 * generator.normal(size=(count, 20, 2))
    steps[:, 8:] += np.array([-0.2, 0.1])
    labels = np.array(["pedestrian"] * count)
    positions = steps.cumsum(axis=1)
    # one neighbour each: 1 m to the left of the last observed position, walking the same way
    states = np.concatenate([positions[:, 7] + np.array([-0.5, 0.9]), positions[:, 7] - positions[:, 6]], -1)
    neighbours = Neighbours.none(count, 8)
    neighbours.states[:, 0], neighbours.present[:, 0] = states, True
    return Windows(positions, labels, np.arange(count), np.zeros(count, int), labels, 8, neighbours)


def heading_frame(windows: torch.Tensor, obs_len: int = 8) -> torch.Tensor:
    """Windows in the model's input frame: origin at the last observed position, x along the observed heading."""
    observed = windows[:, :obs_len]
    return (windows - observed[:, -1:]) @ heading_rotations(observed)


def test_reflected_window_is_the_mirror_image_in_the_heading_frame() -> None:
    tensors = WindowTensors.of(turning_windows(), CONFIG)
    mirror = tensors.reflected()
    windows = tensors.positions
    torch.testing.assert_close(mirror.positions[..., 0], windows[..., 0], rtol=0, atol=0)
    torch.testing.assert_close(mirror.positions[..., 1], -windows[..., 1], rtol=0, atol=0)
    local, mirror_local = heading_frame(windows), heading_frame(mirror.positions)
    torch.testing.assert_close(mirror_local, local * torch.tensor([1.0, -1.0]), atol=1e-5, rtol=1e-5)
    assert bool((local[:, -1, 1] > 0).all()) and bool((mirror_local[:, -1, 1] < 0).all())  # left turn becomes right
    # the neighbour is reflected with its track: x and step x kept, y and step y negated, presence unchanged
    torch.testing.assert_close(mirror.neighbours, tensors.neighbours * torch.tensor([1.0, -1.0, 1.0, -1.0]))
    torch.testing.assert_close(mirror.present, tensors.present, rtol=0, atol=0)
    torch.testing.assert_close(mirror.classes, tensors.classes, rtol=0, atol=0)  # the class stays


def test_both_doubles_the_training_windows_with_their_reflections() -> None:
    train = turning_windows()
    original = WindowTensors.of(train, CONFIG)
    torch.testing.assert_close(training_windows(train, "random", CONFIG).positions, original.positions, rtol=0, atol=0)
    both = training_windows(train, "both", CONFIG)
    assert both.positions.shape == (2 * len(train), 20, 2) and both.neighbours.shape == (2 * len(train), 8, 4)
    torch.testing.assert_close(both.positions[: len(train)], original.positions, rtol=0, atol=0)
    torch.testing.assert_close(both.positions[len(train) :], original.reflected().positions, rtol=0, atol=0)
    torch.testing.assert_close(both.neighbours[len(train) :], original.reflected().neighbours, rtol=0, atol=0)
    with pytest.raises(ValueError):
        training_windows(train, "never", CONFIG)


def test_random_mirror_reflects_some_windows_and_keeps_the_others() -> None:
    windows = WindowTensors.of(turning_windows(64), CONFIG)
    result = windows.mirrored(torch.Generator().manual_seed(0))
    kept = (result.positions == windows.positions).flatten(1).all(1)
    flipped = (result.positions == windows.reflected().positions).flatten(1).all(1)
    assert bool((kept ^ flipped).all()) and 0 < int(flipped.sum()) < len(windows)
    # neighbours are flipped with their own window, never on their own
    neighbours_flipped = (result.neighbours == windows.reflected().neighbours).flatten(1).all(1)
    assert bool((neighbours_flipped == flipped).all())
