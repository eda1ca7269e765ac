"""Social context: which objects are a track's neighbours, from which instant, and what the model does with them."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_eth_ucy_scene
from perception.datasets.ground_tracks import eth_ucy_tracks
from perception.prediction.checkpoint import load_checkpoint, save_checkpoint
from perception.prediction.model import TrajectoryRNN
from perception.prediction.neighbours import nearest_neighbours
from perception.prediction.runtime import TrajectoryPredictor
from perception.prediction.windows import extract_windows


def test_nearest_neighbours_within_the_radius_nearest_first_without_the_track_itself() -> None:
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    others = np.array(
        [[0.0, 0.0, 0.4, 0.0], [3.0, 4.0, 0.0, 0.3], [1.0, 0.0, -0.4, 0.0], [0.0, 5.5, 0.0, 0.0], [10.0, 1.0, 0.1, 0.1]]
    )
    excluded = np.zeros((2, 5), bool)
    excluded[0, 0] = True  # the first centre is the first object
    found = nearest_neighbours(centres, others, excluded, max_count=2, radius=5.0)
    # centre 0: itself excluded, (1, 0) at 1 m, (3, 4) at exactly 5 m; (0, 5.5) beyond the radius
    np.testing.assert_array_equal(found.present, [[True, True], [True, False]])
    np.testing.assert_array_equal(found.states[0], others[[2, 1]])
    np.testing.assert_array_equal(found.states[1], [others[4], np.zeros(4)])
    assert found.states.shape == (2, 2, 4)


def test_more_slots_than_objects_leaves_the_rest_absent() -> None:
    found = nearest_neighbours(np.zeros((1, 2)), np.array([[1.0, 1.0, 0.0, 0.0]]), np.zeros((1, 1), bool), 8, 5.0)
    assert found.states.shape == (1, 8, 4) and found.present.tolist() == [[True] + [False] * 7]


def test_window_neighbours_come_from_the_last_observed_frame_only(tmp_path: Path) -> None:
    # 1 walks along x for 20 frames; 2 walks beside it 1 m to the left at 0.3 m a step; 3 stands 8 m away;
    # 4 appears next to 1 only in its future (frames 80 on): it must not be a neighbour of that window
    rows = [(10 * k, 1, 0.5 * k, 0.0) for k in range(20)]
    rows += [(10 * k, 2, 0.3 * k, 1.0) for k in range(20)]
    rows += [(10 * k, 3, 0.0, 8.0) for k in range(20)]
    rows += [(10 * k, 4, 0.5 * k, -0.5) for k in range(8, 20)]
    write_eth_ucy_scene(tmp_path, sorted(rows))
    windows = extract_windows(eth_ucy_tracks(tmp_path, "eth", "test"), 8, 12, 10, neighbour_radius=5.0)
    first = {object_id: index for index, object_id in enumerate(windows.object_ids)}
    walker = windows.neighbours.select(first[1])
    assert walker.present.tolist() == [True] + [False] * 7
    np.testing.assert_allclose(walker.states[0], [0.3 * 7, 1.0, 0.3, 0.0])  # 2 at frame 70 and its last step
    beside = windows.neighbours.select(first[2])
    np.testing.assert_allclose(beside.states[0], [0.5 * 7, 0.0, 0.5, 0.0])
    assert not windows.neighbours.select(first[3]).present.any()  # 3 has nobody within 5 m


@pytest.fixture
def social_checkpoint(tiny_predictor_checkpoint: Path, tmp_path: Path) -> Path:
    """The tiny untrained model with a neighbour input (5 m radius), its neighbour weights drawn large enough
    to matter."""
    config = load_checkpoint(tiny_predictor_checkpoint).config
    config.neighbour_radius = 5.0
    torch.manual_seed(3)
    model = TrajectoryRNN(config)
    with torch.no_grad():
        for parameter in model.neighbour_encoder.parameters():
            parameter.normal_(0.0, 0.5)
    save_checkpoint(model, tmp_path / "social.pt")
    return tmp_path / "social.pt"


def walkers() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    observed = torch.stack([torch.stack([0.4 * torch.arange(8.0), torch.zeros(8)], -1)] * 2)
    observed[1, :, 1] += 1.0
    neighbours = torch.zeros(2, 8, 4)
    neighbours[0, 0] = torch.tensor([0.4 * 7, 1.0, 0.4, 0.0])  # each one is the other's neighbour
    neighbours[1, 0] = torch.tensor([0.4 * 7, 0.0, 0.4, 0.0])
    present = torch.zeros(2, 8, dtype=torch.bool)
    present[:, 0] = True
    return observed, neighbours, present


def test_neighbours_change_the_prediction_and_absent_rows_do_not(social_checkpoint: Path) -> None:
    model = load_checkpoint(social_checkpoint)
    observed, neighbours, present = walkers()
    with torch.no_grad():
        alone = model(observed)[0]
        together = model(observed, neighbours, present)[0]
        absent = model(observed, torch.randn(2, 8, 4) * 5, torch.zeros(2, 8, dtype=torch.bool))[0]
    assert (together - alone).abs().max() > 1e-3
    torch.testing.assert_close(absent, alone, rtol=0, atol=0)


def test_a_model_without_neighbour_input_ignores_neighbours(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    assert model.config.neighbour_radius is None and model.neighbour_encoder is None
    observed, neighbours, present = walkers()
    with torch.no_grad():
        torch.testing.assert_close(model(observed, neighbours, present), model(observed), rtol=0, atol=0)


def test_prediction_with_neighbours_moves_and_turns_with_the_scene(social_checkpoint: Path) -> None:
    model = load_checkpoint(social_checkpoint)
    observed, neighbours, present = walkers()
    angle = -1.1
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shift = torch.tensor([-7.0, 22.0])
    moved = torch.cat([neighbours[..., :2] @ rotation.T + shift, neighbours[..., 2:] @ rotation.T], -1)
    with torch.no_grad():
        means = model(observed, neighbours, present)[0]
        moved_means = model(observed @ rotation.T + shift, moved, present)[0]
    torch.testing.assert_close(moved_means, means @ rotation.T + shift, atol=1e-4, rtol=1e-4)


def test_runtime_predictions_see_the_other_tracks_within_the_radius(social_checkpoint: Path) -> None:
    predictor = TrajectoryPredictor(social_checkpoint)
    stamps = np.arange(0.0, 3.2, 0.4)

    def walker(y: float, first_stamp: int = 0) -> tuple[np.ndarray, np.ndarray]:
        return stamps[first_stamp:], np.stack([stamps[first_stamp:], np.full(8 - first_stamp, y)], -1)

    alone = predictor.predict({1: walker(0.0)})[1][0].positions
    far = predictor.predict({1: walker(0.0), 2: walker(6.0)})[1][0].positions  # beyond the 5 m radius
    np.testing.assert_allclose(far, alone, atol=1e-6)  # batches of 1 and 2 round differently
    paths = predictor.predict({1: walker(0.0), 2: walker(1.0), 3: walker(-1.0, first_stamp=6)})
    assert paths[3][0].model == "constant_velocity_fallback"  # too short for the model, still a neighbour
    assert np.abs(paths[1][0].positions - alone).max() > 1e-3
    with_short_one = paths[1][0].positions
    without_short_one = predictor.predict({1: walker(0.0), 2: walker(1.0)})[1][0].positions
    assert np.abs(with_short_one - without_short_one).max() > 1e-4
