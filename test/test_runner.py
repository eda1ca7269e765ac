"""The graph runner starts real node processes; images and our messages cross processes over DDS."""
import fcntl
import os
import signal
import time
from pathlib import Path

import pytest
import ultralytics
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CompressedImage

from perception.graph import load_graph
from perception.msg import DetectedObjects, ObjectClassification
from perception.runtime.runner import GraphRunner, NodeDied, remove_stale_shm_segments
from waiting import publish_until

BUS_JPG = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
IMAGE_TOPIC = "/test/front/image/compressed"


def detector_graph(tmp_path: Path, respawn: bool = False) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({
        "cameras": {"front": {"image": IMAGE_TOPIC}},
        "nodes": {"detector": {"per_camera": True, "respawn": respawn,
                               "parameters": {"backend": "onnxruntime", "imgsz": 320},
                               "remappings": {"image": "{image}"}}},
    }))
    return path


def compressed(jpeg: bytes, sec: int, frame_id: str = "camera_front_optical_frame") -> CompressedImage:
    message = CompressedImage(format="jpeg", data=jpeg)
    message.header.stamp.sec, message.header.frame_id = sec, frame_id
    return message


def diagnostic_value(arrays: list, key: str) -> int:
    for array in reversed(arrays):
        for status in array.status:
            if status.name.endswith("/perception/front/detector"):
                values = {kv.key: kv.value for kv in status.values}
                if key in values:
                    return int(values[key])
    return 0


def test_detector_graph_end_to_end_and_bad_input(tmp_path, ros):
    jpeg = BUS_JPG.read_bytes()
    with GraphRunner(load_graph(detector_graph(tmp_path))) as runner:
        runner.wait_until_up(timeout_s=120)
        publisher = ros.node.create_publisher(CompressedImage, IMAGE_TOPIC, 10)
        detections = ros.collect(DetectedObjects, "/perception/front/detections")
        diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
        assert ros.wait_for(lambda: publisher.get_subscription_count() > 0, 60), "detector never subscribed"

        assert publish_until(ros, publisher, compressed(jpeg, 1_700_000_001), lambda: detections)
        first = detections[0]
        assert first.header.stamp.sec == 1_700_000_001
        assert first.header.frame_id == "camera_front_optical_frame"
        labels = [o.classification[0].label for o in first.objects]
        assert labels.count(ObjectClassification.BUS) >= 1 and labels.count(ObjectClassification.PEDESTRIAN) >= 3

        # Truncated JPEG, then not an image at all: rejected, counted, and the node keeps working.
        for sec, data in ((1_700_000_002, jpeg[: len(jpeg) // 3]), (1_700_000_003, b"not an image")):
            rejected = diagnostic_value(diagnostics, "rejected.bad_image")
            assert publish_until(ros, publisher, compressed(data, sec),
                                 lambda: diagnostic_value(diagnostics, "rejected.bad_image") > rejected)
        assert publish_until(ros, publisher, compressed(jpeg, 1_700_000_004),
                             lambda: any(m.header.stamp.sec == 1_700_000_004 for m in detections))
        runner.check()  # still alive

        # A crashed node is reported by name.
        os.kill(runner.nodes[0].process.pid, signal.SIGKILL)
        runner.nodes[0].process.wait(5)
        with pytest.raises(NodeDied, match="/perception/front/detector"):
            runner.check()


def test_runner_respawns_a_crashed_node_when_configured(tmp_path, ros):
    """A node killed with SIGKILL is respawned, and a peer that outlived it (this test's node, as a tracker would in
    the graph) exchanges data with the new process, although the killed one left its shared-memory files behind."""
    jpeg = BUS_JPG.read_bytes()
    with GraphRunner(load_graph(detector_graph(tmp_path, respawn=True))) as runner:
        runner.wait_until_up(timeout_s=120)
        publisher = ros.node.create_publisher(CompressedImage, IMAGE_TOPIC, 10)
        detections = ros.collect(DetectedObjects, "/perception/front/detections")
        assert ros.wait_for(lambda: publisher.get_subscription_count() > 0, 60), "detector never subscribed"
        assert publish_until(ros, publisher, compressed(jpeg, 1_700_000_011), lambda: detections)

        first_pid = runner.nodes[0].process.pid
        os.kill(first_pid, signal.SIGKILL)
        runner.nodes[0].process.wait(5)
        runner.check()
        assert runner.nodes[0].restarts == 1 and runner.nodes[0].process.pid != first_pid
        runner.wait_until_up(timeout_s=120)
        assert publish_until(ros, publisher, compressed(jpeg, 1_700_000_012),
                             lambda: any(m.header.stamp.sec == 1_700_000_012 for m in detections))
    assert all(code is not None for code in runner.shutdown().values())


def test_stale_shared_memory_segments_of_dead_processes_are_removed(tmp_path):
    """Fast DDS segments whose "_el" lock nobody holds (their process died) go; held, young and other files stay."""
    def segment(name: str, age_s: float) -> Path:
        for path in (tmp_path / name, tmp_path / f"{name}_el"):
            path.write_bytes(b"")
            os.utime(path, (time.time() - age_s, time.time() - age_s))
        return tmp_path / f"{name}_el"

    segment("fastrtps_00112233445566aa", 60)                    # dead process (Fast DDS 2.x name)
    segment("fastdds_00112233445566bb", 60)                     # dead process (Fast DDS 3 name)
    live_lock = segment("fastrtps_00112233445566cc", 60)        # live process: holds the lock
    segment("fastrtps_00112233445566dd", 1)                     # just created, maybe not locked yet
    port = segment("fastrtps_port7411", 60)                     # ports are left to Fast DDS
    (tmp_path / "sem.fastrtps_port7411_mutex").write_bytes(b"")
    before = {path.name for path in tmp_path.iterdir()}

    with open(live_lock, "rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        removed = remove_stale_shm_segments(tmp_path, min_age_s=10)

    assert sorted(removed) == ["fastdds_00112233445566bb", "fastrtps_00112233445566aa"]
    gone = {"fastrtps_00112233445566aa", "fastrtps_00112233445566aa_el",
            "fastdds_00112233445566bb", "fastdds_00112233445566bb_el"}
    assert {path.name for path in tmp_path.iterdir()} == before - gone
    assert port.exists() and remove_stale_shm_segments(tmp_path / "missing") == []
