"""Online ADE/FDE by range bin (the object's distance from the vehicle at the prediction's stamp), hand-computed."""
import math

import numpy as np

from perception.evaluation.online_prediction import (
    RANGE_LABELS, RANGE_UNKNOWN, PredictionRecord, online_errors, online_errors_by_range, range_label)


def test_range_labels_and_bin_edges():
    assert RANGE_LABELS == ("0-15 m", "15-30 m", "30-50 m", "50+ m")
    assert [range_label(r) for r in (0.0, 14.99, 15.0, 29.9, 30.0, 50.0, 1e6, math.nan)] == [
        "0-15 m", "0-15 m", "15-30 m", "15-30 m", "30-50 m", "50+ m", "50+ m", RANGE_UNKNOWN]


def record(stamp: float, positions: list[list[float]], range_m: float, model: str = "rnn", model_steps: int = 2,
           track_id: int = 1) -> PredictionRecord:
    return PredictionRecord(stamp=stamp, track_id=track_id, time_step=0.5, positions=np.array(positions),
                            model=model, model_steps=model_steps, range_m=range_m)


def test_errors_per_model_and_range_bin():
    track = [(t, t, 0.0) for t in np.arange(0.0, 3.01, 0.5)]  # 1 m/s along x, observed until t = 3
    records = [
        record(1.0, [[1.5, 0.3], [2.0, 0.4]], 10.0),  # 0-15 m: errors 0.3, 0.4
        record(1.0, [[1.5, 1.0], [2.0, 2.0]], 15.0),  # 15-30 m (a bin holds its lower edge): errors 1, 2
        record(2.5, [[3.0, 3.0], [3.5, 0.0]], 29.9),  # 15-30 m: only t = 3.0 observed, error 3, incomplete
        record(1.0, [[1.5, 0.0], [2.0, 0.0], [2.5, 4.0]], 60.0, model="constant_velocity"),  # 0, 0; extrapolated 4
        record(1.0, [[1.5, 5.0], [2.0, 5.0]], math.nan),  # range unknown: errors 5, 5
        record(1.0, [[1.5, 0.0], [2.0, 0.0]], 40.0, track_id=9),  # never observed: in no bin
    ]
    errors = online_errors_by_range(records, {1: track})
    assert list(errors) == [("constant_velocity", "50+ m"), ("constant_velocity extrapolated", "50+ m"),
                            ("rnn", "0-15 m"), ("rnn", "15-30 m"), ("rnn", RANGE_UNKNOWN)]
    near, middle = errors["rnn", "0-15 m"], errors["rnn", "15-30 m"]
    assert math.isclose(near.ade, 0.35) and math.isclose(near.fde, 0.4) and (near.paths, near.complete_paths) == (1, 1)
    assert math.isclose(middle.ade, (1.0 + 2.0 + 3.0) / 3) and math.isclose(middle.fde, 2.0)
    assert (middle.paths, middle.complete_paths) == (2, 1)
    assert errors["constant_velocity", "50+ m"].ade == 0.0 and errors["constant_velocity", "50+ m"].fde == 0.0
    assert errors["constant_velocity extrapolated", "50+ m"].ade == 4.0
    unknown = errors["rnn", RANGE_UNKNOWN]
    assert unknown.ade == 5.0 and unknown.fde == 5.0 and unknown.paths == 1
    # every path with an observed step counts in exactly one bin of its model
    overall = online_errors(records, {1: track})
    for model, model_errors in overall.items():
        assert sum(e.paths for (m, _), e in errors.items() if m == model) == model_errors.paths
    assert math.isclose(overall["rnn"].ade, (0.3 + 0.4 + 1.0 + 2.0 + 3.0 + 5.0 + 5.0) / 7)


def test_ranges_from_the_vehicle_frame_and_from_odometry_in_an_odom_frame(tmp_path):
    # ROS message classes to write the recording (skipped by `pytest --without-ros`, the tests above are not)
    from builtin_interfaces.msg import Duration
    from geometry_msgs.msg import Point
    from nav_msgs.msg import Odometry
    from rclpy.serialization import serialize_message

    from perception.evaluation.recorded_run import load_run, prediction_records
    from perception.msg import PredictedObject, PredictedObjects, PredictedPath
    from perception.bags import McapFileWriter, perception_typestore

    def odometry(stamp_ns: int, x: float) -> Odometry:
        message = Odometry(child_frame_id="base_link")
        message.header.frame_id = "odom"
        message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        message.pose.pose.position.x, message.pose.pose.position.y, message.pose.pose.orientation.w = x, 1.0, 1.0
        return message

    def predictions(stamp_ns: int, frame: str, positions: list[tuple[float, float]]) -> PredictedObjects:
        message = PredictedObjects(camera_frame_id="camera")
        message.header.frame_id = frame
        message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        path = PredictedPath(model="rnn", time_step=Duration(nanosec=500_000_000), positions=[Point(x=0.0)],
                             position_covariance_xy=[1.0, 1.0, 0.0], model_steps=1, confidence=1.0)
        message.objects = [PredictedObject(track_id=i, position=Point(x=x, y=y), paths=[path])
                           for i, (x, y) in enumerate(positions)]
        return message

    recording = tmp_path / "run.mcap"
    second = 10**9
    # The vehicle drives along x at 10 m/s from (0, 1) at t = 100 s to (10, 1) at t = 101 s.
    messages = [("/odom", 100 * second, odometry(100 * second, 0.0)),
                ("/odom", 101 * second, odometry(101 * second, 10.0)),
                ("/p", 100 * second, predictions(100 * second, "base_link", [(3.0, 4.0)])),
                ("/p", 100 * second + second // 2, predictions(100 * second + second // 2, "odom",
                                                               [(25.0, 1.0), (5.0, 13.0)])),
                ("/p", 102 * second, predictions(102 * second, "odom", [(10.0, -39.0)])),  # after the last pose
                ("/p", 103 * second, predictions(103 * second, "map", [(1.0, 1.0)]))]  # no odometry of "map"
    with McapFileWriter(recording, perception_typestore()) as writer:
        writer.add_topic("/odom", "nav_msgs/msg/Odometry")
        writer.add_topic("/p", "perception/msg/PredictedObjects")
        for topic, stamp_ns, message in messages:
            writer.write(topic, stamp_ns, serialize_message(message))

    records = prediction_records(load_run(recording, images=False))
    ranges = {(round(r.stamp, 1), r.track_id): r.range_m for r in records}
    assert math.isclose(ranges[100.0, 0], 5.0)  # base_link: the norm of (3, 4)
    assert math.isclose(ranges[100.5, 0], 20.0) and math.isclose(ranges[100.5, 1], 12.0)  # vehicle at (5, 1)
    assert math.isclose(ranges[102.0, 0], 40.0)  # the nearest pose, (10, 1)
    assert math.isnan(ranges[103.0, 0])
    assert [range_label(r.range_m) for r in sorted(records, key=lambda r: (r.stamp, r.track_id))] == [
        "0-15 m", "15-30 m", "0-15 m", "30-50 m", RANGE_UNKNOWN]
