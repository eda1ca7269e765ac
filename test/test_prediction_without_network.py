"""A predictor whose model cannot be loaded: the stage gives every track a constant-velocity path (for the node, so
that the planner still gets every object), while an evaluation refuses to score it."""
import numpy as np
import pytest

from perception.evaluation.kitti_pipeline import PipelineError, load_predictor
from perception.pipeline.health import ERROR
from perception.pipeline.models import ModelCache
from perception.pipeline.parameters import defaults
from perception.pipeline.prediction import CameraPrediction
from perception.prediction.paths import CONSTANT_VELOCITY_FALLBACK
from perception.types import GroundState, ObjectClass, Track


def track(track_id: int, position, velocity, ground: bool = True) -> Track:
    state = GroundState(np.array(position, float), np.array(velocity, float), np.diag([0.5, 0.2]), np.eye(2))
    return Track(track_id=track_id, label=ObjectClass.CAR, score=0.9, box=np.array([0.0, 0.0, 10.0, 10.0]), age=1.0,
                 hits=5, frames_since_update=0, ground=state if ground else None)


def test_a_corrupt_checkpoint_gives_constant_velocity_paths_that_grow_like_the_trackers_motion_model(tmp_path):
    checkpoint = tmp_path / "corrupt.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    parameters = {**defaults("predictor"), "model": str(checkpoint), "horizon_s": 0.0, "time_step_s": 0.5}
    prediction = CameraPrediction(parameters)
    assert not prediction.load()
    assert prediction.health.level == ERROR and "constant-velocity paths" in prediction.health.message
    assert str(checkpoint) in prediction.health.message

    for stamp in (0.0, 0.1, 0.2):
        output = prediction.predict([track(1, [10.0 + 8 * stamp, 2.0], [8.0, 0.0]),
                                     track(2, [5.0, 1.0], [0.0, 0.0], ground=False)], stamp, "base_link")
    paths = output.paths
    assert sorted(paths) == [1]  # as with the network: a track without a ground position has no path
    (moving,) = paths[1]
    assert moving.model == CONSTANT_VELOCITY_FALLBACK and moving.confidence == 1.0 and moving.model_steps == 0
    times = 0.5 * np.arange(1, 5)  # the bundled model's 2 s horizon at 0.5 s
    np.testing.assert_allclose(moving.positions, np.column_stack([11.6 + 8.0 * times, np.full(4, 2.0)]))
    growth = 2.0**2 * times**3 / 3  # white-noise acceleration of the tracker's 2 m/s^2
    np.testing.assert_allclose(moving.covariances, np.column_stack([0.5 + growth, 0.2 + growth, np.zeros(4)]))


def test_an_evaluation_refuses_a_predictor_without_its_network(tmp_path):
    checkpoint = tmp_path / "corrupt.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(PipelineError, match="cannot load predictor model"):
        load_predictor({**defaults("predictor"), "model": str(checkpoint)}, ModelCache())
