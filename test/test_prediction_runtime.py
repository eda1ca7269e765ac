"""Runtime predictor: resampling, output time step, short-track constant-velocity fallback, the path contract
(one mode with confidence 1, the model named, the extrapolated part marked)."""
from pathlib import Path

import numpy as np

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
