"""A CameraInfo of another size than the images, across processes: the detector node, fed the shared 1280x720 clip,
sends the images' size in its DetectedObjects; the tracker node checks its CameraInfo against it. A 960x540 one is
counted, reported WARN on /diagnostics with both sizes, and gives no metric positions; one of the images' size gives
them again."""
from __future__ import annotations

import math

import cv2
import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import CameraInfo, CompressedImage

from conftest import RunningGraph, diagnostic_count, diagnostic_values, latest_status
from perception.msg import DetectedObjects, TrackedObjects
from perception.resources import config_path
from waiting import publish_until

FRAME_ID = "camera_front_optical_frame"
INFO_TOPIC = "/test/front/camera_info"
TRACKER = "/perception/front/tracker"
MISMATCHED_FRAMES = range(0, 12, 2)  # clip frames, each played once its tracks are back
MATCHED_FRAMES = range(12, 24, 2)


def camera_info(width: int, height: int) -> CameraInfo:
    """The clip's 60 degree pinhole (as video_to_bag assumes) for an image of width x height."""
    focal = width / 2 / math.tan(math.radians(30))
    k = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])
    message = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.0] * 5,
                         k=k.ravel().tolist(), r=np.eye(3).ravel().tolist(),
                         p=np.hstack([k, np.zeros((3, 1))]).ravel().tolist())
    message.header.frame_id = FRAME_ID
    return message


def image_message(frame: np.ndarray, index: int) -> CompressedImage:
    message = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", frame)[1].tobytes())
    message.header.frame_id = FRAME_ID
    message.header.stamp.sec, message.header.stamp.nanosec = 100 + index // 25, (index % 25) * 40_000_000
    return message


def stamp(message) -> tuple[int, int]:
    return message.header.stamp.sec, message.header.stamp.nanosec


def graph_document() -> dict:
    """The deployed graph's detector and tracker for one camera fed from the test's topics, without odometry."""
    document = yaml.safe_load(config_path("perception.yaml").read_text())
    front = document["cameras"]["front"]
    front.update(image="/test/front/image/compressed", camera_info=INFO_TOPIC)
    document["cameras"] = {"front": front}
    document["nodes"] = {name: document["nodes"][name] for name in ("detector", "tracker")}
    document["nodes"]["tracker"]["parameters"]["odometry_source"] = "none"
    document["nodes"]["detector"]["parameters"]["qos_reliability"] = "reliable"
    return document


def send_camera_info(ros, publisher, info: CameraInfo, diagnostics: list) -> None:
    """Publish `info` until the tracker uses it (its subscription is best effort: one message may be lost)."""
    assert publish_until(ros, publisher, info, lambda: diagnostic_values(diagnostics, TRACKER).get(
        "metric_positions") == f"yes: from {INFO_TOPIC}", 60), diagnostic_values(diagnostics, TRACKER)


def play(ros, frames: list, indices: range, info: CameraInfo, tracks: list, publishers) -> list[TrackedObjects]:
    """Each frame (after `info`) until its tracks are back; the tracks of these frames."""
    info_publisher, image_publisher = publishers
    played = []
    for index in indices:
        image = image_message(frames[index], index)
        info.header.stamp = image.header.stamp
        info_publisher.publish(info)
        assert publish_until(ros, image_publisher, image,
                             lambda: any(stamp(m) == stamp(image) for m in tracks), 120), f"no tracks for {index}"
        played.append(next(m for m in tracks if stamp(m) == stamp(image)))
    return played


def test_a_camera_info_of_another_size_than_the_images_gives_no_positions_until_one_matches(
        ros, tmp_path, highway_frames):
    with RunningGraph(tmp_path, graph_document()):
        info_publisher = ros.node.create_publisher(CameraInfo, INFO_TOPIC, 10)
        image_publisher = ros.node.create_publisher(CompressedImage, "/test/front/image/compressed", 10)
        detections = ros.collect(DetectedObjects, "/perception/front/detections", 100)
        placed = ros.collect(DetectedObjects, "/perception/front/placed_detections", 100)
        tracks = ros.collect(TrackedObjects, "/perception/front/tracks", 100)
        diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
        assert ros.wait_for(lambda: info_publisher.get_subscription_count() > 0
                            and image_publisher.get_subscription_count() > 0, 60)
        publishers = (info_publisher, image_publisher)

        send_camera_info(ros, info_publisher, camera_info(960, 540), diagnostics)  # before any image: applied
        mismatched = play(ros, highway_frames, MISMATCHED_FRAMES, camera_info(960, 540), tracks, publishers)
        assert [(m.image_width, m.image_height) for m in detections + placed] == [(1280, 720)] * len(
            detections + placed)
        assert sum(len(m.objects) for m in mismatched) > 0, "no tracks on the clip"
        assert not any(o.has_kinematics for m in mismatched for o in m.objects)
        assert all(m.header.frame_id == FRAME_ID for m in mismatched)  # no ground frame: the image's
        expected = f"intrinsics from {INFO_TOPIC} are for 960x540 images, the images are 1280x720"
        assert ros.wait_for(lambda: diagnostic_count(diagnostics, TRACKER, "frames_camera_info_size_mismatch")
                            >= len(MISMATCHED_FRAMES), 30), diagnostic_values(diagnostics, TRACKER)
        # Each frame once: a copy published again while the first was in the graph is a rejected duplicate.
        assert diagnostic_count(diagnostics, TRACKER, "frames_camera_info_size_mismatch") == len(MISMATCHED_FRAMES)
        status = latest_status(diagnostics, TRACKER)
        assert status.level == DiagnosticStatus.WARN and expected in status.message, status
        assert diagnostic_values(diagnostics, TRACKER)["metric_positions"] == f"no: {expected}"

        mismatches = diagnostic_count(diagnostics, TRACKER, "frames_camera_info_size_mismatch")
        send_camera_info(ros, info_publisher, camera_info(1280, 720), diagnostics)
        matched = play(ros, highway_frames, MATCHED_FRAMES, camera_info(1280, 720), tracks, publishers)
        assert any(o.has_kinematics for o in matched[-1].objects), "no positions with a matching CameraInfo"
        assert all(m.header.frame_id == "base_link" for m in matched)
        assert ros.wait_for(lambda: latest_status(diagnostics, TRACKER).level == DiagnosticStatus.OK
                            and diagnostic_values(diagnostics, TRACKER)["metric_positions"]
                            == f"yes: from {INFO_TOPIC}", 30), latest_status(diagnostics, TRACKER)
        assert diagnostic_count(diagnostics, TRACKER, "frames_camera_info_size_mismatch") == mismatches
