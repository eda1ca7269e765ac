"""The sign node as a real process over DDS: a GTSDB speed-limit scene in, a TRAFFIC_SIGN DetectedObject with its
sign type out, stamped like the image; a broken image is counted on /diagnostics and the node keeps running; the
sign networks run in a thread of lower CPU priority than the rest of the node."""
import os
from pathlib import Path

import cv2
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CompressedImage

from conftest import RunningGraph, diagnostic_count, diagnostic_values
from perception.msg import DetectedObjects, ObjectClassification
from waiting import publish_until

SCENE = "00494.jpg"  # gt.txt: 00494.jpg;1113;300;1211;395;1 (speed limit 30)
NODE = "/perception/front/signs"


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_module):
    folder = tmp_path_factory.mktemp("signs_node")
    document = {
        "cameras": {"front": {"image": "/signs_test/image/compressed"}},
        "nodes": {"signs": {"per_camera": True, "remappings": {"image": "{image}"},
                            "parameters": {"rate_hz": 0.0, "conf_threshold": 0.05, "qos_reliability": "reliable"}}},
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
    assert graph.runner.nodes[0].process.poll() is None


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
    pid = graph.runner.nodes[0].process.pid
    normal = os.getpriority(os.PRIO_PROCESS, pid)
    assert lowered == min(19, normal + 10)  # the default `nice`
    threads = thread_niceness(pid)
    assert threads[pid] == normal  # the node's main thread (callbacks, DDS) keeps its priority
    assert lowered in threads.values()
