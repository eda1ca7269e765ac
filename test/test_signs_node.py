"""The sign node as a real process over DDS: a GTSDB speed-limit scene in, a TRAFFIC_SIGN DetectedObject with its
sign type out, stamped like the image; a broken image is counted on /diagnostics and the node keeps running; the
sign networks run in a thread of lower CPU priority than the rest of the node. With the tracker and the visualizer
in the graph: the scene seen in three frames of an approach is one sign track, drawn as a sign marker."""
import os
from pathlib import Path

import cv2
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CompressedImage
from visualization_msgs.msg import MarkerArray

from conftest import RunningGraph, diagnostic_count, diagnostic_values
from perception.msg import DetectedObjects, ObjectClassification, TrackedObjects
from test_signs_tracking import approach
from waiting import publish_until

SCENE = "00494.jpg"  # gt.txt: 00494.jpg;1113;300;1211;395;1 (speed limit 30)
NODE = "/perception/front/signs"


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_module):
    folder = tmp_path_factory.mktemp("signs_node")
    document = {
        "cameras": {"front": {"image": "/signs_test/image/compressed"}},
        "nodes": {
            "signs": {"per_camera": True, "remappings": {"image": "{image}"},
                      "parameters": {"rate_hz": 0.0, "conf_threshold": 0.05, "qos_reliability": "reliable"}},
            "tracker": {"per_camera": True, "parameters": {
                "fov_deg": 60.0, "image_width": 1360, "image_height": 800, "odometry_source": "none"}},
            "visualizer": {"per_camera": True},
        },
    }
    with RunningGraph(folder, document) as running:
        yield running


def test_sign_node_publishes_the_sign_type(graph, ros_module, shared_data):
    ros = ros_module
    jpeg = cv2.imencode(".jpg", cv2.imread(str(shared_data / "signs" / "gtsdb" / "train" / SCENE)))[1].tobytes()
    image = CompressedImage(format="jpeg", data=jpeg)
    image.header.stamp.sec, image.header.stamp.nanosec = 1234, 5678
    image.header.frame_id = "camera_front_optical_frame"
    signs = ros.collect(DetectedObjects, "/perception/front/signs", 10)
    publisher = ros.node.create_publisher(CompressedImage, "/signs_test/image/compressed", 10)
    assert publish_until(ros, publisher, image, lambda: len(signs) > 0, 120)
    message = signs[0]
    assert (message.header.stamp.sec, message.header.stamp.nanosec) == (1234, 5678)
    assert message.header.frame_id == "camera_front_optical_frame"
    speed_limits = [o for o in message.objects if o.sign_class_id == 1]
    assert speed_limits, [(o.sign_class_id, o.sign_name, o.score) for o in message.objects]
    assert speed_limits[0].sign_name == "speed limit 30"
    assert speed_limits[0].classification[0].label == ObjectClassification.TRAFFIC_SIGN
    assert abs(speed_limits[0].box.x_min - 1113) < 10 and abs(speed_limits[0].box.y_min - 300) < 10


def test_sign_node_counts_a_broken_image_and_keeps_running(graph, ros_module):
    ros = ros_module
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
    publisher = ros.node.create_publisher(CompressedImage, "/signs_test/image/compressed", 10)
    broken = CompressedImage(format="jpeg", data=b"not a jpeg")
    assert publish_until(ros, publisher, broken,
                         lambda: diagnostic_count(diagnostics, NODE, "rejected.bad_image") > 0, 60)
    assert sign_process(graph).poll() is None


def test_a_sign_seen_in_three_frames_is_one_track_and_one_marker(graph, ros_module, shared_data):
    ros = ros_module
    scene = cv2.imread(str(shared_data / "signs" / "gtsdb" / "train" / SCENE))
    signs = ros.collect(DetectedObjects, "/perception/front/signs", 10)
    tracks = ros.collect(TrackedObjects, "/perception/front/sign_tracks", 10)
    markers = ros.collect(MarkerArray, "/perception/front/markers", 10)
    publisher = ros.node.create_publisher(CompressedImage, "/signs_test/image/compressed", 10)
    for index, zoom in enumerate((1.0, 1.05, 1.1)):
        image = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", approach(scene, zoom))[1].tobytes())
        image.header.stamp.sec, image.header.stamp.nanosec = 2000, index * 100_000_000
        assert publish_until(ros, publisher, image, lambda: any(
            m.header.stamp == image.header.stamp for m in tracks), 120), f"no sign_tracks for frame {index}"
    last = next(m for m in reversed(tracks) if m.header.stamp == image.header.stamp)
    assert last.header.frame_id == "base_link"  # odometry_source: none
    # the detections come on their own topic: they may arrive after the tracks of the same frame
    assert ros.wait_for(lambda: any(m.header.stamp == image.header.stamp for m in signs), 10)
    detected = next(m for m in reversed(signs) if m.header.stamp == image.header.stamp)
    assert [o.sign_name for o in detected.objects if o.sign_class_id == 1] == ["speed limit 30"]
    speed_limits = [o for o in last.objects if o.sign_class_id == 1 and o.frames_since_update == 0]
    assert len(speed_limits) == 1 and speed_limits[0].sign_name == "speed limit 30"
    sign = speed_limits[0]
    assert sign.hits == 3 and sign.has_kinematics and sign.position.x > 0 and sign.position.y < 0
    assert ros.wait_for(lambda: any(
        marker.ns == "sign_labels" and marker.text == f"#{sign.track_id} speed limit 30"
        for array in markers for marker in array.markers), 30)


def sign_process(graph):
    return next(node.process for node in graph.runner.nodes if node.spec.full_name == NODE)


def thread_niceness(pid: int) -> dict[int, int]:
    """Niceness of each thread of process `pid` (field 19 of /proc/PID/task/TID/stat)."""
    niceness = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        niceness[int(task.name)] = int(fields[16])
    return niceness


def test_sign_networks_run_in_a_thread_of_lower_priority(graph, ros_module):
    ros = ros_module
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
    assert ros.wait_for(lambda: "thread_niceness" in diagnostic_values(diagnostics, NODE), 60)
    lowered = int(diagnostic_values(diagnostics, NODE)["thread_niceness"])
    pid = sign_process(graph).pid
    normal = os.getpriority(os.PRIO_PROCESS, pid)
    assert lowered == min(19, normal + 10)  # the default `nice`
    threads = thread_niceness(pid)
    assert threads[pid] == normal  # the node's main thread (callbacks, DDS) keeps its priority
    assert lowered in threads.values()
