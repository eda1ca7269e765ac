"""`perception eval` pieces: the offline run on a real clip, the report, and scoring against KITTI ground truth."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage

from perception.datasets.kitti import read_objects
from perception.evaluation.ground_truth import KITTI_TYPES, CameraOutputs, evaluate_against_ground_truth
from perception.evaluation.report import write_report
from perception.graph import load_graph
from perception.msg import BoundingBox2D, DetectedObject, DetectedObjects, ObjectClassification, TrackedObject, \
    TrackedObjects
from perception.resources import config_path
from perception.bags import McapFileWriter, perception_typestore, read_messages
from perception.runtime.offline import run_offline
from perception.runtime.video_to_bag import video_to_bag
from perception.tracking.ground_plane import CameraPose

CAMERA, INFO = "/cam/image/compressed", "/cam/camera_info"
OUTPUTS = CameraOutputs("/d", "/t", "/cam/offline")


def test_offline_run_and_report_on_a_real_clip(tmp_path, shared_data):
    bag = tmp_path / "clip.mcap"
    video_to_bag(shared_data / "clips" / "udacity_highway_1280x720.mp4", bag, camera_topic=CAMERA,
                 info_topic=INFO, frame_id="cam", max_frames=15)
    graph = load_graph(config_path("perception.yaml"), {"front": {"image": CAMERA, "camera_info": INFO}})
    recording = run_offline(graph, {"front": (CAMERA, INFO)}, bag, tmp_path / "eval.mcap")
    stamps: dict[str, list[int]] = {}
    typestore = perception_typestore()
    for record in read_messages(recording):
        message = typestore.deserialize_cdr(record.raw, record.msgtype)
        if hasattr(message, "header"):
            stamps.setdefault(record.topic, []).append(message.header.stamp.sec * 10**9 + message.header.stamp.nanosec)
    images = stamps[CAMERA]
    assert len(images) == 15
    for topic in ("/perception/front/detections", "/perception/front/tracks", "/perception/front/predicted_objects"):
        # every frame, each output with its image's stamp; log times are stamp + that frame's CPU time, so two
        # outputs may swap places in the file when one frame took a frame period longer than the next (busy CPU)
        assert sorted(stamps[topic]) == images, topic
    report = write_report(recording, tmp_path, CameraPose(1.0, 0.0, 1.2, pitch=-0.048), "test")
    html = report.read_text()
    for name in ("annotated.gif", "birds_eye_view.png", "latency.png"):
        assert (tmp_path / "report_files" / name).stat().st_size > 1000 and name in html
    assert "/perception/front/tracks" in html


def kept_objects(label_file: Path, frames: int, keep_every: int) -> list:
    """The KITTI ground-truth objects of the first frames, every keep_every-th object of each frame."""
    objects = [o for o in read_objects(label_file) if o.type in KITTI_TYPES and o.frame < frames]
    return [o for frame in range(frames)
            for index, o in enumerate(o for o in objects if o.frame == frame) if index % keep_every == 0]


def kitti_recording(path: Path, objects: list, frames: int, other_camera: list | None = None,
                    left_out: int | None = None) -> None:
    """A recording whose detections and tracks are the given KITTI ground-truth objects (topics /cam/..., /d, /t);
    with `other_camera`, a second camera's (/cam2/..., /cam2/d, /cam2/t) at the same stamps. Like the sign node's,
    /cam/signs and /cam/sign_tracks (the same message types) follow every 10th frame's outputs with one sign box.
    `left_out`: a frame whose image an offline run left out as corrupt (no image, no outputs; its status says so)."""
    ok, jpeg = cv2.imencode(".jpg", np.zeros((375, 1242, 3), np.uint8))  # KITTI's size: results are clipped to it
    views = [(CAMERA, "/d", "/t", objects)]
    if other_camera is not None:
        views.append(("/cam2/image/compressed", "/cam2/d", "/cam2/t", other_camera))
    with McapFileWriter(path, perception_typestore()) as writer:
        for image_topic, detections_topic, tracks_topic, _ in views:
            for topic, msgtype in ((image_topic, "sensor_msgs/msg/CompressedImage"),
                                   (detections_topic, "perception/msg/DetectedObjects"),
                                   (tracks_topic, "perception/msg/TrackedObjects")):
                writer.add_topic(topic, msgtype)
        writer.add_topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")
        writer.add_topic("/cam/signs", "perception/msg/DetectedObjects")
        writer.add_topic("/cam/sign_tracks", "perception/msg/TrackedObjects")
        for frame in (f for f in range(frames) if f != left_out):
            for image_topic, detections_topic, tracks_topic, kept in views:
                image = CompressedImage(format="jpeg", data=jpeg.tobytes())
                image.header.stamp.sec = 1000 + frame
                detected, tracked = DetectedObjects(header=image.header), TrackedObjects(header=image.header)
                for obj in (o for o in kept if o.frame == frame):
                    box = BoundingBox2D(x_min=obj.box[0], y_min=obj.box[1], x_max=obj.box[2], y_max=obj.box[3])
                    label = [ObjectClassification(label=int(KITTI_TYPES[obj.type]), probability=1.0)]
                    detected.objects.append(DetectedObject(classification=label, score=1.0, box=box))
                    tracked.objects.append(TrackedObject(track_id=obj.track_id + 1, classification=label, box=box,
                                                         existence_probability=1.0))
                stamp_ns = (1000 + frame) * 10**9
                for topic, message in ((image_topic, image), (detections_topic, detected), (tracks_topic, tracked)):
                    writer.write(topic, stamp_ns, serialize_message(message))
            if frame % 10 == 0:
                box = BoundingBox2D(x_min=900.0, y_min=100.0, x_max=920.0, y_max=120.0)
                label = [ObjectClassification(label=int(ObjectClassification.TRAFFIC_SIGN), probability=1.0)]
                sign = DetectedObjects(header=image.header, objects=[DetectedObject(classification=label, score=0.9,
                                                                                   box=box, sign_class_id=14)])
                sign_track = TrackedObjects(header=image.header, objects=[TrackedObject(
                    track_id=1, classification=label, box=box, sign_class_id=14, existence_probability=1.0)])
                writer.write("/cam/signs", stamp_ns + 1, serialize_message(sign))
                writer.write("/cam/sign_tracks", stamp_ns + 1, serialize_message(sign_track))
        status = DiagnosticStatus(name=OUTPUTS.status, values=[KeyValue(key="images_left_out", value=str(left_out))]
                                  if left_out is not None else [])
        writer.write("/diagnostics", (1000 + frames) * 10**9, serialize_message(DiagnosticArray(status=[status])))


def test_scores_against_kitti_ground_truth(tmp_path, shared_data):
    labels = shared_data / "tracking" / "kitti" / "label_02" / "0000.txt"
    frames = max(o.frame for o in read_objects(labels)) + 1
    kitti_recording(tmp_path / "perfect.mcap", kept_objects(labels, frames, 1), frames)
    # the detector's and tracker's topics are scored; the sign topics after them are not (they would replace every
    # 10th frame's objects with one sign)
    perfect = evaluate_against_ground_truth(tmp_path / "perfect.mcap", labels, "kitti", OUTPUTS)
    assert "detection AP@0.5 car: 100.0" in perfect and "detection AP@0.5 pedestrian: 100.0" in perfect
    assert any(line.startswith("tracking car: HOTA 100.0, MOTA 100.0") for line in perfect), perfect

    half = kept_objects(labels, frames, 2)
    kitti_recording(tmp_path / "half.mcap", half, frames)
    scores = evaluate_against_ground_truth(tmp_path / "half.mcap", labels, "kitti", OUTPUTS)
    car_ap = next(float(line.split()[-1]) for line in scores if line.startswith("detection AP@0.5 car"))
    cars = [o for o in kept_objects(labels, frames, 1) if KITTI_TYPES[o.type] == ObjectClassification.CAR]
    kept_cars = [o for o in half if KITTI_TYPES[o.type] == ObjectClassification.CAR]
    assert len(kept_cars) < len(cars)
    assert car_ap == pytest.approx(100 * len(kept_cars) / len(cars), abs=0.1)  # all hits: AP equals recall
    with pytest.raises(ValueError, match="mot or kitti"):
        evaluate_against_ground_truth(tmp_path / "half.mcap", labels, "coco", OUTPUTS)

    # two cameras in one recording: the ground truth's camera (perfect) scored alone, not mixed with the other's
    kitti_recording(tmp_path / "two.mcap", kept_objects(labels, frames, 1), frames, other_camera=half)
    # an image the run left out as corrupt keeps its frame number: the others are scored against their own labels
    kitti_recording(tmp_path / "gap.mcap", kept_objects(labels, frames, 1), frames, left_out=5)
    gap = evaluate_against_ground_truth(tmp_path / "gap.mcap", labels, "kitti", OUTPUTS)
    cars = [o for o in kept_objects(labels, frames, 1) if KITTI_TYPES[o.type] == ObjectClassification.CAR]
    expected = 100 * sum(o.frame != 5 for o in cars) / len(cars)
    assert any(line == f"detection AP@0.5 car: {expected:.1f}" for line in gap), (gap, expected)
    assert evaluate_against_ground_truth(tmp_path / "two.mcap", labels, "kitti", OUTPUTS, [CAMERA, "/d", "/t"]
                                         ) == perfect
    other = CameraOutputs("/cam2/d", "/cam2/t", "")
    assert evaluate_against_ground_truth(tmp_path / "two.mcap", labels, "kitti", other,
                                         ["/cam2/image/compressed", "/cam2/d", "/cam2/t"]) != perfect


def test_a_cameras_summary_reads_only_its_nodes_diagnostics(tmp_path):
    """A recording of several cameras has one /diagnostics with every camera's statuses (and the fusion's): one
    camera's summary (its report's frames, reasons, sign node) keeps the statuses named under its namespace."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    from perception.evaluation.run_summary import summarize_run
    from perception.runtime.offline import camera_namespace

    names = ["/perception/left/offline", "/perception/left_rear/offline", "/perception/right/signs",
             "/perception/fusion/offline"]
    statuses = [DiagnosticStatus(name=name, values=[KeyValue(key="frames_received", value=str(i))])
                for i, name in enumerate(names)]
    recording = tmp_path / "run.mcap"
    with McapFileWriter(recording, perception_typestore()) as writer:
        writer.add_topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")
        writer.write("/diagnostics", 1, serialize_message(DiagnosticArray(status=statuses)))
    assert set(summarize_run(recording).diagnostics) == set(names)
    assert summarize_run(recording, namespace=camera_namespace("left")).diagnostics == {
        "/perception/left/offline": {"frames_received": "0"}}
    assert set(summarize_run(recording, namespace=camera_namespace("right")).diagnostics) == {"/perception/right/signs"}
