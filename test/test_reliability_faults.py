"""Faults under a live stream of real 1280x720 frames: the detector killed mid-stream comes back (runner respawn)
and the pipeline resumes; a consumer that sleeps in its callback never holds the detector up."""
import os
import signal
import time

import cv2
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CompressedImage

from conftest import RosTestNode, RunningGraph, diagnostic_count, diagnostic_values, frames_unaccounted
from perception.msg import DetectedObjects, TrackedObjects

DETECTOR, TRACKER = "/perception/fault/detector", "/perception/fault/tracker"
IMAGE_TOPIC = "/fault/image/compressed"


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_module, highway_frames):
    folder = tmp_path_factory.mktemp("faults")
    document = {
        "cameras": {"fault": {"image": IMAGE_TOPIC}},
        "nodes": {
            # 640 px on this CPU takes longer than a 30 Hz frame interval: the newest-frame policy must skip.
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
                            and ros.node.count_subscribers("/perception/fault/detections") >= 2, 20)
        running.published = 0
        yield running


def stamp_of(message) -> float:
    return message.header.stamp.sec + message.header.stamp.nanosec * 1e-9


def stream(ros, graph, seconds: float, rate_hz: float, until=None) -> float:
    """Publish the clip's frames (looped) at rate_hz, stamped with the time of publishing; returns the last stamp."""
    start, sent = time.monotonic(), 0
    while time.monotonic() - start < seconds and not (until and until()):
        message = CompressedImage(format="jpeg", data=graph.jpegs[graph.published % len(graph.jpegs)])
        message.header.stamp = ros.node.get_clock().now().to_msg()
        message.header.frame_id = "camera_front_optical_frame"
        graph.publisher.publish(message)
        graph.published, sent = graph.published + 1, sent + 1
        time.sleep(max(0.0, start + sent / rate_hz - time.monotonic()))
    return stamp_of(message)


def test_detector_killed_mid_stream_is_respawned_and_tracking_resumes(graph, ros_module):
    stream(ros_module, graph, 60, 10, until=lambda: any(m.objects for m in graph.tracks))
    assert any(m.objects for m in graph.tracks), "no tracks before the fault"
    detector, tracker = graph.node(DETECTOR), graph.node(TRACKER)
    tracker_pid, killed_at = tracker.process.pid, ros_module.node.get_clock().now().nanoseconds * 1e-9
    os.kill(detector.process.pid, signal.SIGKILL)
    detector.process.wait(5)
    graph.runner.check()  # respawns the detector; raises NodeDied otherwise
    assert detector.restarts == 1
    stream(ros_module, graph, 60, 10,
           until=lambda: any(stamp_of(m) > killed_at and m.objects for m in graph.tracks))
    assert any(stamp_of(m) > killed_at and m.objects for m in graph.detections), "detections never resumed"
    assert any(stamp_of(m) > killed_at and m.objects for m in graph.tracks), "tracks never resumed"
    assert tracker.process.pid == tracker_pid and tracker.process.poll() is None
    stamps = [stamp_of(m) for m in graph.tracks]
    assert stamps == sorted(stamps), "tracks out of order"
    assert "exited" not in graph.log(TRACKER)
    graph.runner.check()


def test_a_slow_consumer_never_blocks_the_detector(graph, ros_module):
    slow = RosTestNode("slow_consumer")
    try:
        slow_received = []

        def sleepy(message):
            slow_received.append(message)
            time.sleep(0.5)

        slow.node.create_subscription(DetectedObjects, "/perception/fault/detections", sleepy, 10)
        assert ros_module.wait_for(lambda: ros_module.node.count_subscribers("/perception/fault/detections") >= 3, 20)
        assert ros_module.wait_for(lambda: diagnostic_values(graph.diagnostics, DETECTOR).get("frames_processed"), 10)
        processed_before = diagnostic_count(graph.diagnostics, DETECTOR, "frames_processed")
        skipped_before = diagnostic_count(graph.diagnostics, DETECTOR, "frames_skipped")
        received_before = len(graph.detections)
        last_stamp = stream(ros_module, graph, 4.0, 30)
        # The detector answers the newest frames, however slow one subscriber is.
        assert ros_module.wait_for(lambda: graph.detections and stamp_of(graph.detections[-1]) >= last_stamp - 0.5, 5)
        assert ros_module.wait_for(lambda: frames_unaccounted(diagnostic_values(graph.diagnostics, DETECTOR)) == 0, 5)
        values = diagnostic_values(graph.diagnostics, DETECTOR)
        processed = int(values["frames_processed"]) - processed_before
        skipped = int(values["frames_skipped"]) - skipped_before
        fast_received = len(graph.detections) - received_before
        print(f"\n30 Hz for 4 s: detector processed {processed}, skipped {skipped}; fast subscriber got "
              f"{fast_received}, sleeping subscriber {len(slow_received)}; detector latency "
              f"p95 {values.get('pipeline_latency_ms.p95')} ms")
        assert skipped > 0, "frames were queued instead of skipped"
        assert processed >= 2 * len(slow_received) and fast_received >= processed - 2
        assert float(values["pipeline_latency_ms.p95"]) < 2000, "latency grows: frames are queued"
        graph.runner.check()
    finally:
        slow.close()
