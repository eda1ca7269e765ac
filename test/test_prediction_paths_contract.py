"""The PredictedPath contract end to end: runtime paths -> messages (one mode with confidence 1, the model that
made it, model_steps marking the extrapolation), and conversion refusing paths that break it."""
from pathlib import Path

import numpy as np
import pytest
from std_msgs.msg import Header

from perception.msg import PredictedPath as PredictedPathMsg
from perception.prediction import runtime
from perception.prediction.runtime import TrajectoryPredictor
from perception.ros.conversions import predictions_to_msg
from perception.types import GroundState, ObjectClass, PredictedPath, Track


def track(track_id: int, label: ObjectClass = ObjectClass.CAR) -> Track:
    ground = GroundState(np.array([float(track_id), 0.0]), np.zeros(2), np.eye(2), np.eye(2))
    return Track(track_id=track_id, label=label, score=0.9, box=np.zeros(4), age=3.0, hits=30,
                 frames_since_update=0, ground=ground)


def path(confidence: float = 1.0, model: str = "rnn", model_steps: int = 3) -> PredictedPath:
    return PredictedPath(np.zeros((3, 2)), np.ones((3, 3)), 0.1, confidence, model, model_steps)


def test_message_constants_are_the_runtime_models():
    assert PredictedPathMsg.MODEL_RNN == runtime.RNN == "rnn"
    assert PredictedPathMsg.MODEL_CONSTANT_VELOCITY == runtime.CONSTANT_VELOCITY == "constant_velocity"
    assert PredictedPathMsg.MODEL_CONSTANT_VELOCITY_FALLBACK == runtime.CONSTANT_VELOCITY_FALLBACK


def test_runtime_paths_convert_with_one_mode_each_and_the_extrapolation_marked(tiny_predictor_checkpoint: Path):
    # the tiny model predicts 12 steps of 0.4 s (4.8 s); 5.6 s asks for two more, extrapolated
    predictor = TrajectoryPredictor(tiny_predictor_checkpoint, horizon_s=5.6)
    stamps = np.arange(0.0, 3.2, 0.4)
    histories = {1: (stamps, np.column_stack([stamps, stamps])), 2: (stamps[-2:], np.zeros((2, 2)))}
    paths = predictor.predict(histories, {1: ObjectClass.PEDESTRIAN, 2: ObjectClass.CAR})
    message = predictions_to_msg([track(1), track(2)], paths, Header(frame_id="camera"), "odom")
    assert [o.track_id for o in message.objects] == [1, 2]
    for obj in message.objects:
        (sent,) = obj.paths
        assert sent.confidence == 1.0 and len(sent.positions) == 14 and sent.model_steps == 12
    assert [o.paths[0].model for o in message.objects] == ["rnn", "constant_velocity_fallback"]


def test_two_modes_whose_probabilities_sum_to_one_convert():
    message = predictions_to_msg([track(1)], {1: [path(0.75), path(0.25)]}, Header(), "odom")
    assert [p.confidence for p in message.objects[0].paths] == [0.75, 0.25]


@pytest.mark.parametrize("paths, reason", [
    ([path(0.3)], "sum to 1"),  # the old fallback's confidence alone
    ([path(0.6), path(0.6)], "sum to 1"),
    ([path(model="lstm")], "model must be one of"),
    ([path(model_steps=4)], "model_steps"),
    ([path(model_steps=-1)], "model_steps"),
    ([path(0.0), path(1.0)], r"confidence must be in \(0, 1\]"),
])
def test_paths_that_break_the_contract_are_refused(paths, reason):
    with pytest.raises(ValueError, match=reason):
        predictions_to_msg([track(1)], {1: paths}, Header(), "odom")
