"""Faults under a live stream of real 1280x720 frames: the detector killed mid-stream comes back (runner respawn)
and the pipeline resumes; a consumer stuck in its callback never holds the detector up, and a burst of frames is
skipped down to the newest."""
import os
import signal
import threading
import time

import cv2
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CompressedImage

from conftest import RosTestNode, RunningGraph, diagnostic_count, diagnostic_values, frames_unaccounted
from perception.msg import DetectedObjects, TrackedObjects
from waiting import publish_until

DETECTOR, TRACKER = "/perception/fault/detector", "/perception/fault/tracker"
IMAGE_TOPIC = "/fault/image/compressed"
STUCK_QUEUE_DEPTH = 10  # queue of the subscriber that stops taking detections


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_module, highway_frames):
    folder = tmp_path_factory.mktemp("faults")
    document = {
        "cameras": {"fault": {"image": IMAGE_TOPIC}},
        "nodes": {
            "detector": {"per_camera": True, "respawn": True, "remappings": {"image": "{image}"},
                         "parameters": {"backend": "onnxruntime", "imgsz": 640}},
            "tracker": {"per_camera": True},
        },
    }
    with RunningGraph(folder, document) as running:
        ros = ros_module
        running.jpegs = [cv2.imencode(".jpg", frame)[1].tobytes() for frame in highway_frames]
        running.diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
        running.detections = ros.collect(DetectedObjects, "/perception/fault/detections", 1000)
        running.tracks = ros.collect(TrackedObjects, "/perception/fault/tracks", 1000)
        running.publisher = ros.node.create_publisher(CompressedImage, IMAGE_TOPIC, 10)
        assert ros.wait_for(lambda: running.publisher.get_subscription_count() > 0
                            and ros.node.count_subscribers("/perception/fault/detections") >= 2, 60)
        running.published = 0
        yield running


def stamp_of(message) -> float:
    return message.header.stamp.sec + message.header.stamp.nanosec * 1e-9


def detector_values_since(ros, graph, since_ns: int, condition=lambda values: True) -> dict[str, str]:
    """The detector's counters from a /diagnostics message published after `since_ns` (ROS time) for which
    condition(values) holds, waiting for one."""
    def fresh() -> dict[str, str] | None:
        array = next((array for array in reversed(list(graph.diagnostics))
                      if any(status.name == DETECTOR for status in array.status)
                      and array.header.stamp.sec * 10**9 + array.header.stamp.nanosec > since_ns), None)
        return diagnostic_values([array], DETECTOR) if array else None

    assert ros.wait_for(lambda: (values := fresh()) is not None and condition(values), 30), (
        f"no such /diagnostics from the detector: {fresh()}")
    return fresh()


def publish_frame(ros, graph) -> CompressedImage:
    """Publish the clip's next frame (looped), stamped with the time of publishing; returns it."""
    message = CompressedImage(format="jpeg", data=graph.jpegs[graph.published % len(graph.jpegs)])
    message.header.stamp = ros.node.get_clock().now().to_msg()
    message.header.frame_id = "camera_front_optical_frame"
    graph.publisher.publish(message)
    graph.published += 1
    return message


def stream(ros, graph, seconds: float, rate_hz: float, until=None) -> None:
    """Publish frames at rate_hz for `seconds` or until `until()` is true."""
    start, sent = time.monotonic(), 0
    while time.monotonic() - start < seconds and not (until and until()):
        publish_frame(ros, graph)
        sent += 1
        time.sleep(max(0.0, start + sent / rate_hz - time.monotonic()))


def test_detector_killed_mid_stream_is_respawned_and_tracking_resumes(graph, ros_module):
    stream(ros_module, graph, 120, 10, until=lambda: any(m.objects for m in graph.tracks))
    assert any(m.objects for m in graph.tracks), "no tracks before the fault"
    detector, tracker = graph.node(DETECTOR), graph.node(TRACKER)
    tracker_pid, killed_at = tracker.process.pid, ros_module.node.get_clock().now().nanoseconds * 1e-9
    os.kill(detector.process.pid, signal.SIGKILL)
    detector.process.wait(5)
    graph.runner.check()  # respawns the detector; raises NodeDied otherwise
    assert detector.restarts == 1
    stream(ros_module, graph, 120, 10,
           until=lambda: any(stamp_of(m) > killed_at and m.objects for m in graph.tracks))
    assert any(stamp_of(m) > killed_at and m.objects for m in graph.detections), "detections never resumed"
    assert any(stamp_of(m) > killed_at and m.objects for m in graph.tracks), "tracks never resumed"
    assert tracker.process.pid == tracker_pid and tracker.process.poll() is None
    stamps = [stamp_of(m) for m in graph.tracks]
    assert stamps == sorted(stamps), "tracks out of order"
    assert "exited" not in graph.log(TRACKER)
    graph.runner.check()


def test_a_stuck_consumer_never_blocks_the_detector_and_frames_faster_than_it_are_skipped(graph, ros_module):
    """Behaviour, not speed: a subscriber whose callback never returns holds up neither the detector nor the other
    subscribers; frames published faster than any detector decodes a 1280x720 JPEG are skipped for newer ones, and
    the frame after them is answered; every frame received is counted as processed, skipped or rejected."""
    stuck = RosTestNode("stuck_consumer")
    release = threading.Event()
    try:
        stuck_received = []

        def never_returns(message):
            stuck_received.append(message)
            release.wait(600)

        stuck.node.create_subscription(DetectedObjects, "/perception/fault/detections", never_returns,
                                       STUCK_QUEUE_DEPTH)
        assert ros_module.wait_for(lambda: ros_module.node.count_subscribers("/perception/fault/detections") >= 3, 60)
        now_ns = ros_module.node.get_clock().now().nanoseconds
        assert ros_module.wait_for(lambda: diagnostic_values(graph.diagnostics, DETECTOR).get("frames_processed"), 60)
        before = detector_values_since(ros_module, graph, now_ns)
        stream(ros_module, graph, 120, 30, until=lambda: stuck_received)
        assert stuck_received, "the stuck consumer never received a detection"
        received_before = len(graph.detections)
        # The detector goes on publishing (and the probe receiving) far past the stuck consumer's full queue.
        stream(ros_module, graph, 180, 30,
               until=lambda: len(graph.detections) - received_before > 2 * STUCK_QUEUE_DEPTH)
        assert len(graph.detections) - received_before > 2 * STUCK_QUEUE_DEPTH, (
            f"{len(graph.detections) - received_before} detections in 180 s while a consumer was stuck")
        assert len(stuck_received) == 1

        before_burst = detector_values_since(ros_module, graph, ros_module.node.get_clock().now().nanoseconds)

        # About 1000 frames a second, faster than any detector decodes and infers 1280x720 frames, until it skips one
        # (its counter says so within a second or two); a detector that queued frames would never skip.
        def skipped_in_burst() -> bool:
            return (diagnostic_count(graph.diagnostics, DETECTOR, "frames_skipped")
                    > int(before_burst.get("frames_skipped", 0)))

        burst_start, published_before = time.monotonic(), graph.published
        while not skipped_in_burst() and time.monotonic() - burst_start < 60:
            publish_frame(ros_module, graph)
            time.sleep(0.001)
        burst = graph.published - published_before
        # Then one more frame, again until answered: best-effort images may be dropped in the flood.
        newest = publish_frame(ros_module, graph)
        assert publish_until(ros_module, graph.publisher, newest,
                             lambda: any(stamp_of(m) == stamp_of(newest) for m in graph.detections)), (
            f"a frame after the burst was never answered: {diagnostic_values(graph.diagnostics, DETECTOR)}")
        # Counters from after the answer: every frame received is processed, skipped or rejected (once a copy of the
        # republished frame still on its way is through).
        values = detector_values_since(ros_module, graph, ros_module.node.get_clock().now().nanoseconds,
                                       lambda values: frames_unaccounted(values) == 0)

        def delta(key: str, since: dict[str, str]) -> int:
            return int(values.get(key, 0)) - int(since.get(key, 0))

        print(f"\n30 Hz with a stuck consumer: detector processed {delta('frames_processed', before)} frames, "
              f"skipped {delta('frames_skipped', before) - delta('frames_skipped', before_burst)}; "
              f"burst of {burst} frames: received {delta('frames_received', before_burst)}, "
              f"processed {delta('frames_processed', before_burst)}, skipped {delta('frames_skipped', before_burst)}; "
              f"processing p95 {values.get('processing_time_ms.p95')} ms, "
              f"latency p95 {values.get('pipeline_latency_ms.p95')} ms")
        assert delta("frames_skipped", before_burst) > 0, f"{burst} frames in 60 s were queued, none skipped"
        graph.runner.check()
    finally:
        release.set()
        stuck.close()
