"""Offline evaluation runs the sign stage when the graph enables it: a bag of a GTSDB scene seen on an approach gives
the sign node's and the tracker's sign topics in the recording, one sign track, and the report's sign section."""
from pathlib import Path

import cv2
import yaml

from perception.bags import McapFileWriter, perception_typestore, read_messages
from perception.evaluation.report import write_report
from perception.graph import load_graph
from perception.pipeline.stages import camera_pose_from_parameters
from perception.pipeline.parameters import node_parameters
from perception.runtime.offline import run_offline
from test_signs_tracking import approach

SCENE = "00494.jpg"  # gt.txt: 00494.jpg;1113;300;1211;395;1 (speed limit 30)
IMAGE = "/cam/image/compressed"
FRAMES = 6  # 0.5 s apart in stamps; the sign stage takes one a second (rate_hz 1.0): frames 0, 2 and 4


def scene_bag(path: Path, shared_data: Path) -> Path:
    typestore = perception_typestore()
    message_type = typestore.types["sensor_msgs/msg/CompressedImage"]
    header_type, time_type = typestore.types["std_msgs/msg/Header"], typestore.types["builtin_interfaces/msg/Time"]
    scene = cv2.imread(str(shared_data / "signs" / "gtsdb" / "train" / SCENE))
    with McapFileWriter(path, typestore) as writer:
        writer.add_topic(IMAGE, "sensor_msgs/msg/CompressedImage")
        for index in range(FRAMES):
            jpeg = cv2.imencode(".jpg", approach(scene, 1.0 + 0.04 * index))[1]
            stamp_ns = 1_000_000_000 + index * 500_000_000
            header = header_type(stamp=time_type(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="cam")
            writer.write(IMAGE, stamp_ns, typestore.serialize_cdr(
                message_type(header=header, format="jpeg", data=jpeg.ravel()), "sensor_msgs/msg/CompressedImage"))
    return path


def test_offline_run_recognizes_and_tracks_signs_when_the_graph_enables_them(tmp_path, shared_data):
    (tmp_path / "graph.yaml").write_text(yaml.safe_dump({
        "cameras": {"front": {"image": IMAGE}},
        "nodes": {"detector": {"per_camera": True, "parameters": {"backend": "onnxruntime", "imgsz": 320}},
                  "tracker": {"per_camera": True, "parameters": {
                      "fov_deg": 60.0, "image_width": 1360, "image_height": 800, "odometry_source": "none"}},
                  "predictor": {"per_camera": True},
                  "signs": {"per_camera": True, "parameters": {"rate_hz": 1.0, "conf_threshold": 0.05}}},
    }))
    graph = load_graph(tmp_path / "graph.yaml")
    recording = run_offline(graph, {"front": (IMAGE, None)}, scene_bag(tmp_path / "scene.mcap", shared_data),
                            tmp_path / "eval.mcap")
    typestore = perception_typestore()
    by_topic: dict[str, list] = {}
    for record in read_messages(recording):
        by_topic.setdefault(record.topic, []).append(typestore.deserialize_cdr(record.raw, record.msgtype))
    signs, sign_tracks = by_topic["/perception/front/signs"], by_topic["/perception/front/sign_tracks"]
    assert len(signs) == len(sign_tracks) == 3  # the frames the rate picks, in image stamps
    assert sorted(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in signs) == [
        1_000_000_000, 2_000_000_000, 3_000_000_000]
    assert all(any(o.sign_class_id == 1 for o in m.objects) for m in signs), "speed limit 30 in every sign frame"
    speed_limit_tracks = {o.track_id for m in sign_tracks for o in m.objects if o.sign_class_id == 1}
    assert len(speed_limit_tracks) == 1
    values = {kv.key: kv.value for kv in by_topic["/diagnostics"][-1].status[0].values}
    assert values["frames_skipped_by_rate"] == "3" and values["sign_messages_processed"] == "3"
    pose = camera_pose_from_parameters(node_parameters(graph, "tracker", "/perception/front"))
    html = write_report(recording, tmp_path, pose, "signs offline").read_text()
    assert "speed limit 30" in html
