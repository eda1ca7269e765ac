"""Our interfaces import, serialize over rclpy and read back identically with rosbags."""
import numpy as np
from geometry_msgs.msg import Point
from rclpy.serialization import deserialize_message, serialize_message

from perception import msg
from perception.bags import perception_typestore
from perception.types import ObjectClass


def sample_predicted_objects() -> msg.PredictedObjects:
    path = msg.PredictedPath(model=msg.PredictedPath.MODEL_RNN, confidence=0.75)  # exact in float32
    path.time_step.nanosec = 100_000_000
    path.positions = [Point(x=1.0 + k, y=2.0, z=0.0) for k in range(3)]
    path.position_covariance_xy = [0.1, 0.2, 0.01] * 3
    obj = msg.PredictedObject(track_id=42, paths=[path])
    obj.classification = [msg.ObjectClassification(label=msg.ObjectClassification.PEDESTRIAN, probability=0.875)]
    message = msg.PredictedObjects(camera_frame_id="camera_front_optical_frame", objects=[obj])
    message.header.frame_id = "base_link"
    message.header.stamp.sec, message.header.stamp.nanosec = 1_700_000_000, 40_000_000
    return message


def test_class_constants_match_core_enum():
    for item in ObjectClass:
        assert getattr(msg.ObjectClassification, item.name) == item.value


def test_every_message_round_trips_through_cdr():
    for name in ["ObjectClassification", "BoundingBox2D", "DetectedObject", "DetectedObjects", "TrackedObject",
                 "TrackedObjects", "PredictedPath", "PredictedObject", "PredictedObjects"]:
        message_type = getattr(msg, name)
        assert deserialize_message(serialize_message(message_type()), message_type) == message_type()
    original = sample_predicted_objects()
    assert deserialize_message(serialize_message(original), msg.PredictedObjects) == original


def test_rosbags_reads_rclpy_serialized_messages():
    original = sample_predicted_objects()
    decoded = perception_typestore().deserialize_cdr(serialize_message(original), "perception/msg/PredictedObjects")
    assert decoded.header.stamp.sec == 1_700_000_000 and decoded.header.frame_id == "base_link"
    assert decoded.camera_frame_id == "camera_front_optical_frame"
    (obj,) = decoded.objects
    assert obj.track_id == 42 and obj.classification[0].label == ObjectClass.PEDESTRIAN
    assert obj.paths[0].model == "rnn"
    np.testing.assert_allclose([p.x for p in obj.paths[0].positions], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(obj.paths[0].position_covariance_xy, [0.1, 0.2, 0.01] * 3)
