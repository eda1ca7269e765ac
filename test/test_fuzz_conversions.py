"""Fuzzing the ROS <-> core conversions: valid values survive message + CDR round trips; anything else
(NaN, inf, empty, wrong shapes, out-of-range ids and labels) converts or raises a clear ValueError."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from perception.msg import (
    BoundingBox2D, DetectedObject, DetectedObjects, ObjectClassification, PredictedObjects, TrackedObject,
    TrackedObjects,
)
from perception.message_decoding import image_size, tracks_from_msg
from perception.ros.conversions import (
    detections_from_msg, detections_to_msg, predictions_to_msg, sign_detections_from_msg, signs_to_msg, tracks_to_msg,
)
from perception.tracking.ground_plane import GroundMeasurements
from perception.types import Detections, GroundState, ObjectClass, PredictedPath, Track

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = Header(frame_id="camera")
F32 = np.finfo(np.float32).max
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=32)
LABELS = st.sampled_from(list(ObjectClass))


def cdr_round_trip(message):
    return deserialize_message(serialize_message(message), type(message))


def finite(low: float, high: float, width: int = 32):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)


@st.composite
def valid_detections(draw):
    n = draw(st.integers(0, 12))
    corners = draw(hnp.arrays(np.float32, (n, 2), elements=finite(-1e4, 1e4)))
    sizes = draw(hnp.arrays(np.float32, (n, 2), elements=finite(0, 1e4)))
    return Detections(
        boxes=np.concatenate([corners, corners + sizes], axis=1).astype(np.float32),
        scores=draw(hnp.arrays(np.float32, n, elements=finite(0, 1))),
        labels=np.array(draw(st.lists(LABELS, min_size=n, max_size=n)), np.int64),
        source_class_ids=draw(hnp.arrays(np.int64, n, elements=st.integers(-1, 2**31 - 1))),
    )


@SETTINGS
@given(detections=valid_detections())
def test_detections_round_trip(detections):
    message = cdr_round_trip(detections_to_msg(detections, HEADER))
    back = detections_from_msg(message)
    order = [int(i) for i in np.argsort(-detections.scores)]
    assert len(back) == len(detections)
    assert np.array_equal(back.boxes, detections.boxes[order]) and np.array_equal(back.scores, detections.scores[order])
    assert np.array_equal(back.labels, detections.labels[order])
    assert np.array_equal(back.source_class_ids, detections.source_class_ids[order])


@SETTINGS
@given(n=st.integers(0, 5), m=st.integers(0, 5), data=st.data())
def test_arbitrary_detection_arrays_convert_or_raise_value_error(n, m, data):
    detections = Detections(
        boxes=data.draw(hnp.arrays(np.float64, (n, data.draw(st.sampled_from([4, 3]))), elements=st.floats())),
        scores=data.draw(hnp.arrays(np.float64, m, elements=st.floats())),
        labels=data.draw(hnp.arrays(np.int64, n, elements=st.integers(-300, 300))),
        source_class_ids=data.draw(hnp.arrays(np.int64, n, elements=st.integers(-2**40, 2**40))),
    )
    try:
        message = detections_to_msg(detections, HEADER)
    except ValueError:
        return
    assert len(cdr_round_trip(message).objects) == n


@SETTINGS
@given(values=st.lists(st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT, ANY_FLOAT, ANY_FLOAT), max_size=6),
       labels=st.lists(st.integers(0, 255), min_size=6, max_size=6))
def test_hostile_detected_objects_give_finite_detections_or_value_error(values, labels):
    """A message from a broken publisher must not hand NaN/inf or inverted boxes to the tracker."""
    message = DetectedObjects(header=HEADER)
    for (x0, y0, x1, y1, score), label in zip(values, labels):
        obj = DetectedObject(score=score)
        obj.box.x_min, obj.box.y_min, obj.box.x_max, obj.box.y_max = x0, y0, x1, y1
        obj.classification = [ObjectClassification(label=label, probability=1.0)] if label % 2 else []
        message.objects.append(obj)
    try:
        detections = detections_from_msg(message)
    except ValueError as error:
        assert str(error)
        return
    assert np.all(np.isfinite(detections.boxes)) and np.all(np.isfinite(detections.scores))
    assert np.all(detections.boxes[:, 2:] >= detections.boxes[:, :2])


@st.composite
def valid_tracks(draw, with_ground=None):
    tracks = []
    for track_id in draw(st.lists(st.integers(0, 2**63), max_size=6, unique=True)):
        ground = None
        if with_ground or (with_ground is None and draw(st.booleans())):
            ground = GroundState(*(draw(hnp.arrays(np.float64, shape, elements=finite(-1e6, 1e6, 64)))
                                   for shape in ((2,), (2,), (2, 2), (2, 2))))
        probabilities = draw(st.dictionaries(LABELS.map(int), finite(0, 1), max_size=3))
        tracks.append(Track(
            track_id=track_id, label=draw(LABELS), score=draw(finite(0, 1)),
            box=draw(hnp.arrays(np.float32, 4, elements=finite(-1e4, 1e4))).astype(np.float64),
            age=draw(finite(0, 1e5)), hits=draw(st.integers(0, 2**32 - 1)),
            frames_since_update=draw(st.integers(0, 2**32 - 1)), ground=ground, class_probabilities=probabilities))
    return tracks


@SETTINGS
@given(tracks=valid_tracks())
def test_tracks_round_trip(tracks):
    back = tracks_from_msg(cdr_round_trip(tracks_to_msg(tracks, HEADER, "base_link")))
    assert [t.track_id for t in back] == [t.track_id for t in tracks]
    for got, sent in zip(back, tracks):
        probabilities = sent.class_probabilities or {int(sent.label): 1.0}
        assert got.class_probabilities == pytest.approx(probabilities, rel=1e-6)
        assert got.score == pytest.approx(sent.score, rel=1e-6) and np.allclose(got.box, sent.box, rtol=1e-6)
        assert (got.hits, got.frames_since_update) == (sent.hits, sent.frames_since_update)
        assert (got.ground is None) == (sent.ground is None)
        if sent.ground is not None:
            for field in ("position", "velocity", "position_covariance", "velocity_covariance"):
                assert np.array_equal(getattr(got.ground, field), getattr(sent.ground, field))


def test_outputs_name_the_frame_of_their_positions_and_the_camera_apart():
    track = Track(track_id=3, label=ObjectClass.CAR, score=0.8, box=np.array([1.0, 2.0, 30.0, 40.0]), age=1.0,
                  hits=4, frames_since_update=0, existence_probability=0.7,
                  class_probabilities={ObjectClass.CAR: 0.75, ObjectClass.TRUCK: 0.25},
                  ground=GroundState(np.array([12.0, -1.0]), np.zeros(2), np.eye(2), np.eye(2)))
    image = Header(frame_id="camera_front_optical_frame")
    image.stamp.sec = 42
    path = PredictedPath(np.zeros((1, 2)), np.ones((1, 3)), 0.1, 1.0, "rnn", 1)
    for message in (tracks_to_msg([track], image, "odom"), predictions_to_msg([track], {3: [path]}, image, "odom")):
        message = cdr_round_trip(message)
        assert (message.header.frame_id, message.header.stamp.sec, message.camera_frame_id) == (
            "odom", 42, "camera_front_optical_frame")
        (obj,) = message.objects
        assert obj.existence_probability == pytest.approx(0.7)
        assert [(c.label, c.probability) for c in obj.classification] == [(ObjectClass.CAR, 0.75),
                                                                         (ObjectClass.TRUCK, 0.25)]
    # no ground frame (no intrinsics): the header names the image's frame, where the boxes are, and a ground state
    # left over gives no position (it would be read as one in the camera's frame)
    without = tracks_to_msg([track], image)
    assert without.header.frame_id == without.camera_frame_id == "camera_front_optical_frame"
    assert not without.objects[0].has_kinematics and without.objects[0].position.x == 0.0


def test_a_track_id_given_twice_and_an_unknown_sign_class_are_value_errors():
    """A broken or foreign publisher: the fusion and the tracker reject such a message (bad_tracks, bad_signs)
    instead of failing on it later."""
    twice = TrackedObjects(header=HEADER, objects=[TrackedObject(track_id=7), TrackedObject(track_id=8),
                                                   TrackedObject(track_id=7)])
    with pytest.raises(ValueError, match="track id 7 appears more than once"):
        tracks_from_msg(twice)
    for sign_class_id, error in ((99, "sign_class_id 99 is neither -1 nor a GTSDB class"), (-2, "-2"), (42, None),
                                 (-1, None)):
        obj = DetectedObject(score=0.9, sign_class_id=sign_class_id,
                             box=BoundingBox2D(x_min=1.0, y_min=1.0, x_max=6.0, y_max=6.0))
        message = DetectedObjects(header=HEADER, objects=[obj])
        if error is None:
            assert sign_detections_from_msg(message).source_class_ids.tolist() == [sign_class_id]
        else:
            with pytest.raises(ValueError, match=error):
                sign_detections_from_msg(message)


def test_placed_detections_carry_the_ground_positions_in_ground_frame_id():
    detections = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 30], [1, 1, 2, 2]], np.float32),
                            np.array([0.5, 0.9, 0.7], np.float32), np.array([3, 1, 8]), np.full(3, -1))
    ground = GroundMeasurements(np.array([[10.0, 1.0], [20.0, -2.0], [0.0, 0.0]]),
                                np.array([np.eye(2), 2 * np.eye(2), np.eye(2)]), np.array([True, True, False]))
    message = cdr_round_trip(detections_to_msg(detections, HEADER, ground, "base_link"))
    assert message.header.frame_id == "camera" and message.ground_frame_id == "base_link"
    # descending score: rows 1, 2 (a sign: no position), 0
    assert [o.has_position for o in message.objects] == [True, False, True]
    assert [(o.position.x, o.position.y) for o in message.objects if o.has_position] == [(20.0, -2.0), (10.0, 1.0)]
    assert list(message.objects[0].position_covariance) == [2.0, 0, 0, 0, 2.0, 0, 0, 0, 0]
    assert cdr_round_trip(detections_to_msg(detections, HEADER)).ground_frame_id == ""


def test_detections_carry_their_image_size_and_zero_where_it_is_unknown():
    detections = Detections(np.array([[0, 0, 10, 10]], np.float32), np.array([0.5], np.float32), np.array([3]),
                            np.array([2]))
    message = cdr_round_trip(detections_to_msg(detections, HEADER, image_size=(1280, 720)))
    assert (message.image_width, message.image_height) == (1280, 720) and image_size(message) == (1280, 720)
    assert image_size(cdr_round_trip(signs_to_msg(detections, HEADER, (960, 540)))) == (960, 540)
    unknown = cdr_round_trip(detections_to_msg(detections, HEADER))
    assert (unknown.image_width, unknown.image_height) == (0, 0) and image_size(unknown) is None


@SETTINGS
@given(track_id=st.integers(-2**70, 2**70), hits=st.integers(-5, 2**40), label=st.integers(-3, 300),
       score=ANY_FLOAT, box=st.lists(st.floats(), min_size=0, max_size=6))
def test_arbitrary_track_values_convert_or_raise_value_error(track_id, hits, label, score, box):
    track = Track(track_id=track_id, label=label, score=score, box=np.array(box), age=1.0, hits=hits,
                  frames_since_update=0)
    try:
        message = tracks_to_msg([track], HEADER)
    except ValueError:
        return
    assert cdr_round_trip(message).objects[0].track_id == track_id


@SETTINGS
@given(label=st.integers(0, 255), x=ANY_FLOAT, vx=ANY_FLOAT)
def test_hostile_tracked_objects_give_tracks_or_value_error(label, x, vx):
    obj = TrackedObject(track_id=1, has_kinematics=True)
    obj.classification = [ObjectClassification(label=label, probability=1.0)] if label else []
    obj.position.x, obj.velocity.x = float(x), float(vx)
    try:
        tracks = tracks_from_msg(TrackedObjects(header=HEADER, objects=[obj]))
    except ValueError as error:
        assert str(error)
        return
    assert tracks[0].label in list(ObjectClass)
    assert np.all(np.isfinite(tracks[0].ground.position)) and np.all(np.isfinite(tracks[0].ground.velocity))


@SETTINGS
@given(tracks=valid_tracks(with_ground=True), steps=st.integers(0, 8), data=st.data())
def test_predictions_to_message_and_back_over_cdr(tracks, steps, data):
    paths = {}
    for track in tracks:
        paths[track.track_id] = [PredictedPath(
            positions=data.draw(hnp.arrays(np.float64, (steps, 2), elements=finite(-1e6, 1e6, 64))),
            covariances=data.draw(hnp.arrays(np.float64, (steps, 3), elements=finite(0, 1e6, 64))),
            time_step=data.draw(finite(0.01, 5, 64)), confidence=1.0,
            model=data.draw(st.sampled_from(["rnn", "constant_velocity", "constant_velocity_fallback"])),
            model_steps=data.draw(st.integers(0, steps)))]
    message = cdr_round_trip(predictions_to_msg(tracks, paths, HEADER, "base_link"))
    assert isinstance(message, PredictedObjects) and [o.track_id for o in message.objects] == list(paths)
    for obj, track in zip(message.objects, tracks):
        (sent,), (got,) = paths[track.track_id], obj.paths
        assert [(p.x, p.y) for p in got.positions] == [tuple(row) for row in sent.positions]
        assert list(got.position_covariance_xy) == sent.covariances.ravel().tolist()
        assert got.model == sent.model and got.model_steps == sent.model_steps and got.confidence == 1.0
        assert got.time_step.sec + got.time_step.nanosec * 1e-9 == pytest.approx(sent.time_step, abs=1e-9)
        assert math.isclose(obj.position.x, track.ground.position[0])


@SETTINGS
@given(steps=st.integers(0, 4), width=st.integers(1, 4), values=ANY_FLOAT, time_step=ANY_FLOAT)
def test_arbitrary_paths_convert_or_raise_value_error(steps, width, values, time_step):
    track = Track(track_id=1, label=ObjectClass.CAR, score=1.0, box=np.zeros(4), age=0.0, hits=1,
                  frames_since_update=0, ground=GroundState(np.zeros(2), np.zeros(2), np.eye(2), np.eye(2)))
    path = PredictedPath(np.full((steps, width), values), np.full((steps, 3), values), float(time_step), 1.0, "rnn",
                         steps)
    try:
        message = predictions_to_msg([track], {1: [path]}, HEADER, "base_link")
    except ValueError:
        return
    assert len(cdr_round_trip(message).objects[0].paths[0].positions) == steps
