"""Tracker and predictor nodes under bad calibration, detection gaps (a detector restart), time jumping back
and a corrupt predictor checkpoint, fed real KITTI detections. One graph serves the whole module; each test
starts from its own stamps, far from the others'."""
import copy
import math

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import CameraInfo

from conftest import RunningGraph, diagnostic_count, diagnostic_values, latest_status
from perception.msg import DetectedObjects, PredictedObjects, TrackedObjects
from test_nodes_tracker_predictor import camera_info, detection_messages
from waiting import log_contains, publish_until

TRACKER, PREDICTOR = "/perception/rel/tracker", "/perception/rel/predictor"
INFO_TOPIC, DETECTIONS_TOPIC = "/rel/kitti/camera_info", "/perception/rel/detections"
MAX_COAST_TIME = 1.0


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_module, shared_data):
    folder = tmp_path_factory.mktemp("tracking")
    checkpoint = folder / "corrupt.pt"
    checkpoint.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)  # starts like a zip, is none
    document = {
        "cameras": {"rel": {"camera_info": INFO_TOPIC}},
        "nodes": {
            "tracker": {"per_camera": True, "remappings": {"camera_info": "{camera_info}"}, "parameters": {
                "camera_x": 0.27, "camera_z": 1.65, "max_coast_time": MAX_COAST_TIME}},
            "predictor": {"per_camera": True, "parameters": {"model": str(checkpoint)}},
        },
    }
    with RunningGraph(folder, document) as running:
        ros = ros_module
        running.kitti = shared_data / "tracking" / "kitti"
        running.inputs = detection_messages(running.kitti)
        running.diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
        running.tracks = ros.collect(TrackedObjects, "/perception/rel/tracks", 100)
        running.predictions = ros.collect(PredictedObjects, "/perception/rel/predicted_objects", 100)
        running.info_publisher = ros.node.create_publisher(CameraInfo, INFO_TOPIC, 10)
        running.detections_publisher = ros.node.create_publisher(DetectedObjects, DETECTIONS_TOPIC, 100)
        assert ros.wait_for(lambda: running.info_publisher.get_subscription_count() > 0
                            and running.detections_publisher.get_subscription_count() > 0
                            and ros.node.count_subscribers("/perception/rel/tracks") >= 2, 90)
        yield running
        for node in running.runner.nodes:
            assert node.process.poll() is None, f"{node.spec.full_name} died during the module"


def stamp_of(message) -> float:
    return message.header.stamp.sec + message.header.stamp.nanosec * 1e-9


def feed(ros, graph, frames: list[int], base: float) -> dict[int, list[int]]:
    """Publish KITTI frames stamped base + frame / 10, each once the previous one's tracks are back (a busy tracker
    never has to queue); returns each frame's published track ids."""
    stamps = {}
    for frame in frames:
        message = copy.deepcopy(graph.inputs[frame])
        seconds = base + frame / 10
        message.header.stamp.sec, message.header.stamp.nanosec = int(seconds), round(seconds % 1 * 1e9) % 10**9
        stamps[frame] = stamp_of(message)
        graph.detections_publisher.publish(message)
        assert ros.wait_for(lambda: any(math.isclose(stamp_of(m), stamps[frame]) for m in graph.tracks), 30), (
            f"no tracks for frame {frame} (stamp {stamps[frame]:.1f})")
    by_stamp = {}
    for message in graph.tracks:
        by_stamp[round(stamp_of(message), 3)] = sorted(o.track_id for o in message.objects)
    return {frame: by_stamp[round(stamp, 3)] for frame, stamp in stamps.items()}


def test_nan_or_zero_intrinsics_are_rejected_then_good_camera_info_is_used(graph, ros_module):
    good = camera_info(graph.kitti)
    nan_k = copy.deepcopy(good)
    nan_k.p, nan_k.k = [0.0] * 12, [math.nan] + list(good.k[1:])
    zero_f = copy.deepcopy(good)
    zero_f.p = [0.0] + list(good.p[1:])
    zero_f.k = [0.0] + list(good.k[1:])
    for message, reason in [(nan_k, "camera matrix contains NaN or infinity"),
                            (zero_f, "focal lengths must be > 0, got fx=0.0")]:
        before = diagnostic_count(graph.diagnostics, TRACKER, "rejected.bad_camera_info")

        def counted():
            values = diagnostic_values(graph.diagnostics, TRACKER)
            return (int(values.get("rejected.bad_camera_info", 0)) > before
                    and reason in values.get("last_rejection.bad_camera_info", ""))

        assert publish_until(ros_module, graph.info_publisher, message, counted), reason  # best-effort: again
    assert log_contains(graph, TRACKER, "rejected input (bad_camera_info, 1 so far): camera matrix contains NaN")
    assert latest_status(graph.diagnostics, TRACKER).message.startswith("waiting for camera_info")

    publish_until(ros_module, graph.info_publisher, good,
                  lambda: latest_status(graph.diagnostics, TRACKER).level == DiagnosticStatus.OK)
    assert latest_status(graph.diagnostics, TRACKER).message == "tracking on the ground plane"
    feed(ros_module, graph, list(range(10)), base=500.0)
    last = max((m for m in graph.tracks if 500 <= stamp_of(m) < 502), key=stamp_of)
    assert last.header.frame_id == "base_link" and last.objects
    assert all(o.has_kinematics and np.isfinite(o.position.x) for o in last.objects)


def test_tracks_keep_their_ids_through_a_gap_shorter_than_max_coast_time_and_not_through_a_longer_one(
        graph, ros_module):
    # Frames 15-20 (0.7 s) are missing, as while a detector restarts; then 36-50 (1.5 s > max_coast_time).
    ids = feed(ros_module, graph, list(range(0, 15)) + list(range(21, 36)) + list(range(51, 60)), base=1000.0)
    before_short_gap, after_short_gap = ids[14], ids[21]
    assert len(before_short_gap) == 3 and after_short_gap == before_short_gap
    seen_before_long_gap = {i for frame, frame_ids in ids.items() if frame <= 35 for i in frame_ids}
    after_long_gap = {i for frame, frame_ids in ids.items() if frame >= 51 for i in frame_ids}
    assert after_long_gap and not after_long_gap & seen_before_long_gap
    assert min(after_long_gap) > max(seen_before_long_gap), "track ids must never be reused"


def test_time_jumping_back_resets_the_tracker_and_is_counted(graph, ros_module):
    ids_before = feed(ros_module, graph, list(range(10)), base=3000.0)
    resets = diagnostic_count(graph.diagnostics, TRACKER, "resets_time_jumped_back")
    ids_after = feed(ros_module, graph, list(range(10)), base=2990.0)  # a bag starting over, 10 s back
    assert ros_module.wait_for(
        lambda: diagnostic_count(graph.diagnostics, TRACKER, "resets_time_jumped_back") == resets + 1, 30)
    assert log_contains(graph, TRACKER, "time jumped back to 2990.000: tracker reset")
    assert ids_after[0] and ids_after[9]  # tracking restarted on the new timeline
    graph.state_ids = (ids_before, ids_after)


def test_track_ids_are_not_reused_after_a_time_jump_reset(graph):
    ids_before, ids_after = graph.state_ids
    assert min(i for ids in ids_after.values() for i in ids) > max(i for ids in ids_before.values() for i in ids)


def test_predictor_with_a_corrupt_checkpoint_stays_up_and_gives_every_track_a_constant_velocity_path(
        graph, ros_module):
    """The planner keeps getting every tracked object: the predictor says ERROR and why, and publishes one
    constant-velocity fallback path per track (no step within a model's horizon) at the tracks' stamps."""
    assert ros_module.wait_for(lambda: (s := latest_status(graph.diagnostics, PREDICTOR)) is not None
                               and s.level == DiagnosticStatus.ERROR and "cannot load predictor model" in s.message
                               and "constant-velocity paths" in s.message, 30)
    assert log_contains(graph, PREDICTOR, "predictor runs without its network (constant-velocity paths): cannot load "
                                          "predictor model")

    # The tracker published a TrackedObjects for every frame fed above: each one is counted, none lost (processed,
    # or skipped for a newer one when the worker was busy).
    def all_counted():
        values = diagnostic_values(graph.diagnostics, PREDICTOR)
        received = int(values.get("messages_received", 0))
        return received >= len(graph.tracks) > 0 and received == (
            int(values.get("messages_processed", 0)) + int(values.get("messages_skipped", 0)))

    assert ros_module.wait_for(all_counted, 30), diagnostic_values(graph.diagnostics, PREDICTOR)
    tracks = {(stamp_of(m), o.track_id): o for m in graph.tracks for o in m.objects}
    predicted = [(stamp_of(m), o) for m in graph.predictions for o in m.objects]
    assert predicted and all((stamp, o.track_id) in tracks for stamp, o in predicted)
    for stamp, obj in predicted:
        (path,) = obj.paths
        assert (path.model, path.model_steps, path.confidence) == (path.MODEL_CONSTANT_VELOCITY_FALLBACK, 0, 1.0)
        if tracks[stamp, obj.track_id].has_kinematics:  # it goes on at the track's velocity from its position
            track = tracks[stamp, obj.track_id]
            step = path.time_step.nanosec * 1e-9
            first = path.positions[0]
            assert first.x == pytest.approx(track.position.x + step * track.velocity.x, abs=1e-6)
            assert first.y == pytest.approx(track.position.y + step * track.velocity.y, abs=1e-6)
            assert path.position_covariance_xy[0] > track.position_covariance[0]
    graph.runner.check()
