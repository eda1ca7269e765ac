"""Traffic signs in the demo: the recorded topics with the signs node on and off, and the report's section."""
from pathlib import Path

import yaml

from perception.evaluation.sign_report import SIGN_NODE_OFF
from perception.graph import load_graph
from perception.resources import data_path
from perception.runtime.demo import recorded_topics
from perception.signs.gtsdb import SIGN_CLASSES
from perception.tracking.ground_plane import CameraPose

SECOND = 10**9
STOP, GIVE_WAY = 14, 13
TOPIC_TYPES = {"tracks": "perception/msg/TrackedObjects", "signs": "perception/msg/DetectedObjects",
               "sign_tracks": "perception/msg/TrackedObjects", "diagnostics": "diagnostic_msgs/msg/DiagnosticArray"}


def graph_file(tmp_path: Path, signs_enabled: bool, track_signs: bool = True) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({
        "cameras": {"front": {"image": "/cam/front"}, "rear": {"image": "/cam/rear"}},
        "nodes": {"detector": {"per_camera": True},
                  "tracker": {"per_camera": True, "parameters": {"track_signs": track_signs}},
                  "signs": {"per_camera": True, "enabled": signs_enabled}},
    }))
    return path


def test_recorded_topics_hold_signs_only_where_a_sign_node_publishes_them(tmp_path):
    bag = data_path("sample_highway_960x540.mcap")
    sign_topics = [f"/perception/{camera}/{topic}" for camera in ("front", "rear")
                   for topic in ("signs", "sign_tracks")]
    on = recorded_topics(load_graph(graph_file(tmp_path, signs_enabled=True)), bag)
    assert set(sign_topics) <= set(on) and "/perception/front/tracks" in on
    off = recorded_topics(load_graph(graph_file(tmp_path, signs_enabled=False)), bag)
    assert not set(sign_topics) & set(off) and set(on) - set(off) == set(sign_topics)
    untracked = recorded_topics(load_graph(graph_file(tmp_path, signs_enabled=True, track_signs=False)), bag)
    assert set(untracked) - set(off) == {"/perception/front/signs", "/perception/rear/signs"}


def write_recording(path: Path, signs: bool, sign_node_diagnostics: bool = False) -> None:
    """One object track at 99.9 s; with `signs`, three sign frames (stop; stop; stop and give way) at 100.0, 100.2
    and 100.4 s and their sign tracks: #1 stop (metric from its second frame on), #2 give way (last frame only)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from geometry_msgs.msg import Point
    from rclpy.serialization import serialize_message

    from perception.msg import (DetectedObject, DetectedObjects, ObjectClassification, TrackedObject,
                                TrackedObjects)
    from perception.bags import McapFileWriter, perception_typestore

    def header(message, stamp_ns: int, frame_id: str = "camera_front_optical_frame"):
        message.header.frame_id = frame_id
        message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp_ns, SECOND)
        return message

    def sign(class_id: int) -> DetectedObject:
        return DetectedObject(classification=[ObjectClassification(label=ObjectClassification.TRAFFIC_SIGN,
                                                                   probability=0.9)],
                              score=0.9, sign_class_id=class_id, sign_name=SIGN_CLASSES[class_id][0])

    def sign_track(track_id: int, class_id: int, hits: int, position: tuple[float, float] | None) -> TrackedObject:
        obj = TrackedObject(track_id=track_id, hits=hits, sign_class_id=class_id, sign_name=SIGN_CLASSES[class_id][0],
                            classification=[ObjectClassification(label=ObjectClassification.TRAFFIC_SIGN,
                                                                 probability=0.9)])
        if position is not None:
            obj.has_kinematics, obj.position = True, Point(x=position[0], y=position[1], z=2.0)
        return obj

    start = 99_900_000_000
    messages = [("/perception/front/tracks", start, header(TrackedObjects(
        camera_frame_id="camera_front_optical_frame", objects=[TrackedObject(track_id=7)]), start))]
    if signs:
        frames = [([STOP], [sign_track(1, STOP, 1, None)]),
                  ([STOP], [sign_track(1, STOP, 2, (20.0, 3.5))]),
                  ([STOP, GIVE_WAY], [sign_track(1, STOP, 3, (18.04, 3.42)), sign_track(2, GIVE_WAY, 1, None)])]
        for index, (detected, tracked) in enumerate(frames):
            stamp = 100 * SECOND + index * SECOND // 5
            messages.append(("/perception/front/signs", stamp + 50_000_000,
                             header(DetectedObjects(objects=[sign(c) for c in detected]), stamp)))
            messages.append(("/perception/front/sign_tracks", stamp + 60_000_000,
                             header(TrackedObjects(camera_frame_id="camera_front_optical_frame", objects=tracked), stamp,
                                    "base_link")))
    if sign_node_diagnostics:
        status = DiagnosticStatus(name="/perception/front/signs", values=[KeyValue(key="frames_processed", value="0")])
        messages.append(("/diagnostics", 100 * SECOND, DiagnosticArray(status=[status])))
    with McapFileWriter(path, perception_typestore()) as writer:
        for topic, stamp_ns, message in messages:
            writer.add_topic(topic, TOPIC_TYPES[topic.rsplit("/", 1)[-1]])
            writer.write(topic, stamp_ns, serialize_message(message))


def report_html(tmp_path: Path, name: str, **recording) -> str:
    from perception.evaluation.report import write_report

    path = tmp_path / f"{name}.mcap"
    write_recording(path, **recording)
    return write_report(path, tmp_path / name, CameraPose(1.0, 0.0, 1.2), "signs test").read_text()


def row(*cells: object) -> str:
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def test_report_counts_sign_frames_types_and_tracks(tmp_path):
    from perception.evaluation.recorded_run import load_run

    page = report_html(tmp_path, "signs", signs=True)
    section = page[page.index("<h2>Traffic signs</h2>"):]
    assert ("The sign node processed 3 frames; 4 signs detected (one per sign and frame) by type: stop: 3, "
            "give way: 1. Topics: /perception/front/sign_tracks, /perception/front/signs. 2 sign tracks") in section
    # times from the recording's first message (the object track at 99.9 s)
    assert row(1, "stop", 3, "0.10", "0.50", "18.0, 3.4", "base_link") in section
    assert row(2, "give way", 1, "0.50", "0.50", "-", "-") in section
    assert SIGN_NODE_OFF not in page
    assert "0 input frames; 1 distinct\ntrack ids" in page  # sign tracks are not counted as object tracks
    data = load_run(tmp_path / "signs.mcap", images=False)
    assert [o.track_id for m in data.tracks.values() for o in m.objects] == [7]
    assert (len(data.signs), len(data.sign_tracks), data.start_ns) == (3, 3, 99_900_000_000)


def test_report_says_when_the_sign_node_was_off_or_published_nothing(tmp_path):
    page = report_html(tmp_path, "off", signs=False)
    assert f"<h2>Traffic signs</h2><p>{SIGN_NODE_OFF}</p>" in page
    assert "<code>enabled: true</code> under nodes.signs in config/perception.yaml" in page
    assert "<th>track id</th>" not in page
    silent = report_html(tmp_path, "silent", signs=False, sign_node_diagnostics=True)
    assert SIGN_NODE_OFF not in silent and "The sign node ran" in silent
