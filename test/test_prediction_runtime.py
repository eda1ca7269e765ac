"""Runtime predictor: resampling, output time step, short-track constant-velocity fallback, the path contract
(one path per mode, most probable first, confidences summing to 1, the model named, the extrapolated part marked),
covariances that start from the track's position covariance."""
import copy
from pathlib import Path

import numpy as np
import torch

from perception.prediction.checkpoint import load_checkpoint, save_checkpoint
from perception.prediction.model import TrajectoryRNN

from perception.prediction.runtime import TrajectoryPredictor


def straight_history(stamps: np.ndarray, speed: tuple[float, float] = (1.0, 0.5)) -> tuple[np.ndarray, np.ndarray]:
    return stamps, np.array([3.0, -2.0]) + stamps[:, None] * np.array(speed)


def test_short_track_gets_the_constant_velocity_fallback_as_its_only_mode(tiny_predictor_checkpoint: Path) -> None:
    predictor = TrajectoryPredictor(tiny_predictor_checkpoint, horizon_s=1.2, time_step_s=0.4)
    stamps = np.array([10.0, 10.3, 10.6])  # 0.6 s of history, the model needs 2.8 s
    (path,) = predictor.predict({7: straight_history(stamps)})[7]
    assert path.model == "constant_velocity_fallback" and path.confidence == 1.0 and path.model_steps == 3
    last = np.array([3.0 + 10.6, -2.0 + 0.5 * 10.6])
    np.testing.assert_allclose(path.positions, last + np.outer([0.4, 0.8, 1.2], [1.0, 0.5]))
    # per-axis variance: half the squared constant-velocity RMSE of the checkpoint (0.1 m per step)
    np.testing.assert_allclose(path.covariances[:, 0], [0.005, 0.02, 0.045])
    assert path.time_step == 0.4


def test_long_tracks_are_predicted_by_the_rnn_in_one_batch(tiny_predictor_checkpoint: Path) -> None:
    predictor = TrajectoryPredictor(tiny_predictor_checkpoint)
    histories = {track: straight_history(np.arange(0.0, 3.2, 0.4), (0.2 * track, 1.0)) for track in range(4)}
    histories[9] = straight_history(np.array([0.0]))  # one detection only
    paths = predictor.predict(histories)
    assert sorted(paths) == [0, 1, 2, 3, 9]
    assert paths[9][0].model == "constant_velocity_fallback"
    np.testing.assert_allclose(paths[9][0].positions, np.tile([3.0, -2.0], (12, 1)))
    for track in range(4):
        (path,) = paths[track]
        assert path.model == "rnn" and path.confidence == 1.0 and path.model_steps == 12
        assert path.positions.shape == (12, 2) and path.covariances.shape == (12, 3)


def test_uneven_history_is_resampled_to_the_model_step(tiny_predictor_checkpoint: Path) -> None:
    predictor = TrajectoryPredictor(tiny_predictor_checkpoint)
    regular = straight_history(np.arange(0.0, 3.2, 0.4))
    uneven = straight_history(np.array([-0.3, 0.05, 0.5, 0.9, 1.1, 1.7, 1.75, 2.2, 2.6, 2.8]))
    paths = predictor.predict({1: regular, 2: uneven})
    np.testing.assert_allclose(paths[2][0].positions, paths[1][0].positions, atol=1e-5)


def test_output_time_step_interpolates_the_model_steps(tiny_predictor_checkpoint: Path) -> None:
    history = {1: straight_history(np.arange(0.0, 3.2, 0.4))}
    coarse = TrajectoryPredictor(tiny_predictor_checkpoint).predict(history)[1][0]
    fine = TrajectoryPredictor(tiny_predictor_checkpoint, horizon_s=2.0, time_step_s=0.2).predict(history)[1][0]
    assert fine.positions.shape == (10, 2) and fine.time_step == 0.2
    np.testing.assert_allclose(fine.positions[1::2], coarse.positions[:5], atol=1e-6)
    np.testing.assert_allclose(fine.positions[2], (coarse.positions[0] + coarse.positions[1]) / 2, atol=1e-6)



def test_horizon_past_the_model_continues_the_last_step(tiny_predictor_checkpoint: Path) -> None:
    history = {1: straight_history(np.arange(0.0, 3.2, 0.4))}
    model_horizon = TrajectoryPredictor(tiny_predictor_checkpoint).predict(history)[1][0]
    longer = TrajectoryPredictor(tiny_predictor_checkpoint, horizon_s=5.6).predict(history)[1][0]
    assert longer.positions.shape == (14, 2)
    assert model_horizon.model_steps == 12 and longer.model_steps == 12  # the last two steps are extrapolated
    short = {1: straight_history(np.array([0.0, 0.4]))}
    assert TrajectoryPredictor(tiny_predictor_checkpoint, horizon_s=5.6).predict(short)[1][0].model_steps == 12
    np.testing.assert_allclose(longer.positions[:12], model_horizon.positions, atol=1e-6)
    last_step = model_horizon.positions[-1] - model_horizon.positions[-2]
    np.testing.assert_allclose(longer.positions[13], model_horizon.positions[-1] + 2 * last_step, atol=1e-5)


def test_a_three_mode_model_gives_three_paths_most_probable_first(tiny_predictor_checkpoint: Path,
                                                                  tmp_path: Path) -> None:
    config = copy.deepcopy(load_checkpoint(tiny_predictor_checkpoint).config)
    config.modes = 3
    torch.manual_seed(1)
    model = TrajectoryRNN(config).eval()
    path = tmp_path / "modes.pt"
    save_checkpoint(model, path)
    history = straight_history(np.arange(0.0, 3.2, 0.4))
    for runtime in ("onnxruntime", "torch"):
        paths = TrajectoryPredictor(path, runtime=runtime).predict({1: history})[1]
        assert len(paths) == 3 and all(p.model == "rnn" for p in paths)
        confidences = [p.confidence for p in paths]
        assert confidences == sorted(confidences, reverse=True) and abs(sum(confidences) - 1.0) < 1e-9
        assert all(0.0 < c <= 1.0 for c in confidences)
        assert not np.allclose(paths[0].positions, paths[1].positions)  # the modes differ
        # the most probable path is the model's own (forward: its most probable mode)
        observed = torch.tensor(history[1][None], dtype=torch.float32)
        with torch.no_grad():
            means, _ = model(observed)
        np.testing.assert_allclose(paths[0].positions, means[0].numpy(), atol=1e-4)


def test_paths_start_from_the_track_position_covariance(tiny_predictor_checkpoint: Path) -> None:
    predictor = TrajectoryPredictor(tiny_predictor_checkpoint)
    histories = {1: straight_history(np.arange(0.0, 3.2, 0.4)), 2: straight_history(np.array([0.0, 0.4]))}
    without = predictor.predict(histories)
    covariance = np.array([[0.5, 0.1], [0.1, 0.3]])
    with_track = predictor.predict(histories, position_covariances={1: covariance, 2: covariance})
    for track in (1, 2):  # the network's path and the constant-velocity fallback
        np.testing.assert_allclose(with_track[track][0].covariances - without[track][0].covariances,
                                   np.tile([0.5, 0.3, 0.1], (12, 1)), atol=1e-9)
        np.testing.assert_allclose(with_track[track][0].positions, without[track][0].positions)
