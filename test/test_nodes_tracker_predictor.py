"""Tracker and predictor nodes as separate processes over DDS, fed real KITTI detections and calibration."""
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import diagnostic_count, diagnostic_values, latest_status
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo

from perception.datasets.kitti import read_calibration, read_objects
from perception.graph import load_graph
from perception.msg import BoundingBox2D, DetectedObject, DetectedObjects, ObjectClassification, PredictedObjects, \
    TrackedObjects
from perception.runtime.runner import GraphRunner

FRAMES = 60
KITTI_CLASSES = {"Car": ObjectClassification.CAR, "Van": ObjectClassification.CAR,
                 "Pedestrian": ObjectClassification.PEDESTRIAN, "Cyclist": ObjectClassification.BICYCLE}


def graph_file(tmp_path: Path) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({
        "cameras": {"kitti": {"camera_info": "/test/kitti/camera_info",
                              "pose": {"x": 0.27, "y": 0.0, "z": 1.65, "pitch": 0.0}}},
        "nodes": {
            "tracker": {"per_camera": True, "remappings": {"camera_info": "{camera_info}"},
                        "parameters": {"camera_x": "{pose[x]}", "camera_z": "{pose[z]}",
                                       "camera_pitch": "{pose[pitch]}"}},
            "predictor": {"per_camera": True, "parameters": {"horizon_s": 3.0, "time_step_s": 0.1}},
        },
    }))
    return path


def camera_info(kitti: Path) -> CameraInfo:
    calibration = read_calibration(kitti / "calib" / "0000.txt")
    message = CameraInfo(width=1242, height=375, distortion_model="plumb_bob")
    message.k = calibration.intrinsics.ravel().tolist()
    message.p = calibration.P2.ravel().tolist()
    message.header.frame_id = "camera_kitti"
    return message


def detection_messages(kitti: Path) -> list[DetectedObjects]:
    rows = [r for r in read_objects(kitti / "det_2d_permatrack" / "0000.txt") if r.type in KITTI_CLASSES]
    messages = []
    for frame in range(FRAMES):
        message = DetectedObjects()
        message.header.frame_id = "camera_kitti"
        message.header.stamp.sec, message.header.stamp.nanosec = 100 + frame // 10, (frame % 10) * 100_000_000
        for row in (r for r in rows if r.frame == frame):
            x_min, y_min, x_max, y_max = (float(v) for v in row.box)
            message.objects.append(DetectedObject(
                score=float(row.score), box=BoundingBox2D(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max),
                classification=[ObjectClassification(label=KITTI_CLASSES[row.type], probability=float(row.score))]))
        messages.append(message)
    return messages


def stamp(message) -> float:
    return message.header.stamp.sec + message.header.stamp.nanosec * 1e-9


def fed(outputs: list, input_stamps: list[float]) -> list:
    """The outputs for the fed frames (an answer to a warm-up message may arrive late)."""
    return [m for m in outputs if stamp(m) >= input_stamps[0]]


def warm_up(ros, info_publisher, info: CameraInfo, detections_publisher, predictions: list) -> None:
    """Empty detections with early stamps (10-89 s) until a prediction in the vehicle frame comes out of the
    tracker -> predictor chain: DDS discovery is per process pair, so the tracker's publisher may match the predictor
    only after the probe sees both, and the tracker's CameraInfo subscription (best effort) may miss the first ones
    (without intrinsics its output stays in the camera's frame)."""
    def in_vehicle_frame() -> bool:
        return bool(predictions) and predictions[-1].header.frame_id != "camera_kitti"

    warm_up_stamp = 10
    while not in_vehicle_frame() and warm_up_stamp < 90:
        message = DetectedObjects()
        message.header.frame_id = "camera_kitti"
        message.header.stamp.sec = warm_up_stamp
        info_publisher.publish(info)
        detections_publisher.publish(message)
        ros.wait_for(in_vehicle_frame, 1.0)
        warm_up_stamp += 1
    assert in_vehicle_frame(), "no prediction in the vehicle frame came out of the tracker -> predictor chain in 80 s"


def test_tracks_and_predictions_keep_stamps_ids_and_ground_frame(ros, tmp_path, shared_data):
    kitti = shared_data / "tracking" / "kitti"
    inputs = detection_messages(kitti)
    with GraphRunner(load_graph(graph_file(tmp_path))) as runner:
        runner.wait_until_up(timeout_s=120)
        info_publisher = ros.node.create_publisher(CameraInfo, "/test/kitti/camera_info", 10)
        detections_publisher = ros.node.create_publisher(DetectedObjects, "/perception/kitti/detections", 100)
        tracks = ros.collect(TrackedObjects, "/perception/kitti/tracks", 100)
        predictions = ros.collect(PredictedObjects, "/perception/kitti/predicted_objects", 100)
        diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
        # Generous: the predictor subscribes only once torch and its model are loaded, slow on a busy machine.
        assert ros.wait_for(lambda: detections_publisher.get_subscription_count() > 0
                            and info_publisher.get_subscription_count() > 0
                            and ros.node.count_subscribers("/perception/kitti/tracks") >= 2, 90)
        warm_up(ros, info_publisher, camera_info(kitti), detections_publisher, predictions)
        predictor = "/perception/kitti/predictor"
        # One frame at a time: the next goes out once this one's prediction is back. The predictor skips older
        # tracks only when it falls behind (NewestMessageWorker, tested with the detector), so here every frame must
        # be predicted, however fast or busy the machine is.
        for message in inputs:
            info_publisher.publish(camera_info(kitti))
            detections_publisher.publish(message)
            assert ros.wait_for(lambda: predictions and stamp(predictions[-1]) == stamp(message), 30), (
                f"no prediction for the frame stamped {stamp(message):.1f}: {len(tracks)} tracks, {len(predictions)} "
                f"predictions, predictor diagnostics {diagnostic_values(diagnostics, predictor)}")
        # A duplicate and an out-of-order stamp: rejected and counted, no output for them.
        detections_publisher.publish(inputs[-1])
        detections_publisher.publish(inputs[-5])
        tracker = "/perception/kitti/tracker"
        assert ros.wait_for(lambda: diagnostic_count(diagnostics, tracker, "rejected.duplicate_stamp") == 1
                            and diagnostic_count(diagnostics, tracker, "rejected.out_of_order_stamp") == 1, 20), (
            f"tracker diagnostics {diagnostic_values(diagnostics, tracker)}")
        input_stamps = [stamp(m) for m in inputs]
        assert ros.wait_for(lambda: len(fed(tracks, input_stamps)) == FRAMES, 20), (
            f"{len(fed(tracks, input_stamps))} of {FRAMES} tracks arrived")
        runner.check()
        # the predictor says where its network runs (ONNX Runtime here; torch, with the reason, where that fails)
        assert latest_status(diagnostics, predictor).message == "running, network on onnxruntime"

    tracks, predictions = fed(tracks, input_stamps), fed(predictions, input_stamps)
    assert [stamp(m) for m in tracks] == pytest.approx(input_stamps)
    assert [stamp(m) for m in predictions] == pytest.approx(input_stamps)
    assert {m.camera_frame_id for m in tracks + predictions} == {"camera_kitti"}
    assert {m.header.frame_id for m in tracks[5:] + predictions[5:]} == {"base_link"}

    # Stable identities: the longest-lived track is seen in most frames with one id.
    appearances = {}
    for message in tracks:
        for obj in message.objects:
            appearances[obj.track_id] = appearances.get(obj.track_id, 0) + 1
    assert max(appearances.values()) >= FRAMES // 2

    # Ground positions lie ahead of the car; paths cover the horizon at the time step, one mode per object, the
    # 3 s horizon past the model's 2 s marked as extrapolated.
    positions = np.array([[o.position.x, o.position.y] for m in tracks for o in m.objects if o.has_kinematics])
    assert len(positions) and np.all(positions[:, 0] > 0) and np.all(positions[:, 0] < 150)
    assert all(len(o.paths) == 1 and o.paths[0].confidence == 1.0 for m in predictions for o in m.objects)
    paths = [p for m in predictions for o in m.objects for p in o.paths]
    assert {"rnn", "constant_velocity_fallback"} <= {p.model for p in paths}
    assert {p.model for p in paths} <= {"rnn", "constant_velocity", "constant_velocity_fallback"}
    assert {len(p.positions) for p in paths} == {30} and {p.model_steps for p in paths} == {20}
    assert all(p.time_step.nanosec == 100_000_000 for p in paths)
