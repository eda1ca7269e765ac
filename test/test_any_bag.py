"""`perception eval` / `replay` / `convert-bag` on bags as users have them: other topic names, no CameraInfo, raw
encodings, two cameras, ROS 1 `.bag` files. Real bags from the shared clips, the real command in a subprocess."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from rclpy.serialization import serialize_message
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from perception.camera_calibration import pinhole_intrinsics
from perception.imaging import encode_raw
from perception.bags import McapFileWriter, perception_typestore, read_messages, topic_infos
from perception.runtime.video_to_bag import video_to_bag

HIGHWAY = "clips/udacity_highway_1280x720.mp4"
LANES = "clips/udacity_solid_white_right_960x540.mp4"
FRAMES = 4  # CPU is shared: a few frames show every path
START_NS = 1_700_000_000_000_000_000


def perception(*args: str) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "perception", *map(str, args)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def clip_frames(shared_data: Path, clip: str, count: int = FRAMES) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(shared_data / clip))
    frames = [capture.read()[1] for _ in range(count)]
    capture.release()
    return frames


def decoded(recording: Path) -> dict[str, list]:
    """Messages of a recording by topic, deserialized."""
    typestore = perception_typestore()
    messages: dict[str, list] = {}
    for record in read_messages(recording):
        messages.setdefault(record.topic, []).append(typestore.deserialize_cdr(record.raw, record.msgtype))
    return messages


def stamps(messages: list) -> list[int]:
    return [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in messages]


def diagnostic_values(messages: dict[str, list], camera: str = "front") -> dict[str, str]:
    (array,) = messages["/diagnostics"]
    (status,) = [s for s in array.status if s.name == f"/perception/{camera}/offline"]
    return {kv.key: kv.value for kv in status.values}


def assert_report(out: Path, camera: str, image_topic: str, recording: Path | None = None) -> dict[str, list]:
    """The eval outputs of one camera: report files, every frame through every stage with its image's stamp
    (`recording`: the run's, where it is not out/eval.mcap: a bag of several cameras)."""
    html = (out / "report.html").read_text()
    assert (out / "report_files" / "annotated.gif").stat().st_size > 1000 and f"camera {camera}" in html
    messages = decoded(recording or out / "eval.mcap")
    images = stamps(messages[image_topic])
    assert len(images) == FRAMES
    for output in ("detections", "tracks"):  # logged at stamp + processing time: sorted, the image stamps
        assert sorted(stamps(messages[f"/perception/{camera}/{output}"])) == images, output
    return messages


def test_eval_finds_the_only_camera_of_a_bag_with_other_topic_names(tmp_path, shared_data):
    bag = tmp_path / "hw2.mcap"
    perception("video-to-bag", shared_data / HIGHWAY, bag, "--camera-topic", "/cam_left/image/compressed",
               "--info-topic", "/cam_left/camera_info", "--max-frames", FRAMES)
    listing = perception("eval", bag, "--list").stdout
    assert "/cam_left/image/compressed" in listing and "sensor_msgs/msg/CompressedImage" in listing
    assert "cam_left: /cam_left/image/compressed (compressed) + /cam_left/camera_info" in listing
    assert f"{FRAMES}    25.00" in listing  # count and rate
    perception("eval", bag, "--out", tmp_path / "out")
    messages = assert_report(tmp_path / "out", "front", "/cam_left/image/compressed")
    assert diagnostic_values(messages)["metric_positions"] == "yes: from /cam_left/camera_info"
    tracks = [o for m in messages["/perception/front/tracks"] for o in m.objects]
    assert tracks and all(o.has_kinematics for o in tracks)  # the CameraInfo comes before each frame


def write_calibration(path: Path, width: int, height: int) -> None:
    """A camera_info_manager YAML file, as `camera_calibration` writes it."""
    k = pinhole_intrinsics(width, height, 60.0)
    document = {
        "image_width": width, "image_height": height, "camera_name": "cam_left",
        "camera_matrix": {"rows": 3, "cols": 3, "data": k.ravel().tolist()},
        "distortion_model": "plumb_bob",
        "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.0] * 5},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": np.eye(3).ravel().tolist()},
        "projection_matrix": {"rows": 3, "cols": 4, "data": np.hstack([k, np.zeros((3, 1))]).ravel().tolist()},
    }
    path.write_text(yaml.safe_dump(document))


def test_without_camera_info_eval_runs_in_image_space_and_says_so(tmp_path, shared_data):
    bag = tmp_path / "no_info.mcap"
    perception("video-to-bag", shared_data / HIGHWAY, bag, "--camera-topic", "/cam/image_raw/compressed",
               "--info-topic", "", "--max-frames", FRAMES)
    perception("eval", bag, "--out", tmp_path / "image_space")
    messages = assert_report(tmp_path / "image_space", "front", "/cam/image_raw/compressed")
    assert diagnostic_values(messages)["metric_positions"].startswith("no: no valid CameraInfo")
    tracks = [o for m in messages["/perception/front/tracks"] for o in m.objects]
    assert tracks and not any(o.has_kinematics for o in tracks)
    # no positions: the header names the image's frame, the frame of the boxes
    assert all(m.header.frame_id == m.camera_frame_id != "" for m in messages["/perception/front/tracks"])
    assert "No metric positions" in (tmp_path / "image_space" / "report.html").read_text()

    write_calibration(tmp_path / "cam.yaml", 1280, 720)
    for option, value, said in (("--camera-info", tmp_path / "cam.yaml", f"yes: from {tmp_path / 'cam.yaml'}"),
                                ("--fov", "60", "yes: a pinhole guess from a 60 degree field of view")):
        out = tmp_path / option.strip("-")
        perception("eval", bag, option, value, "--out", out)
        messages = assert_report(out, "front", "/cam/image_raw/compressed")
        assert diagnostic_values(messages)["metric_positions"].startswith(said)
        tracks = [o for m in messages["/perception/front/tracks"] for o in m.objects]
        assert tracks and all(o.has_kinematics for o in tracks)
        assert "No metric positions" not in (out / "report.html").read_text()


def test_camera_info_with_a_zero_matrix_counts_as_missing(tmp_path, shared_data):
    bag = tmp_path / "zero_info.mcap"
    with McapFileWriter(bag, perception_typestore()) as writer:
        writer.add_topic("/cam/image_raw", "sensor_msgs/msg/Image")
        writer.add_topic("/cam/camera_info", "sensor_msgs/msg/CameraInfo")
        for index, frame in enumerate(clip_frames(shared_data, HIGHWAY)):
            image = Image(height=720, width=1280, encoding="bgr8", step=3 * 1280, data=frame.tobytes())
            image.header.stamp.sec, image.header.frame_id = 1_700_000_000 + index, "cam"
            uncalibrated = CameraInfo(header=image.header, width=1280, height=720)  # k = 0, as some drivers send
            writer.write("/cam/image_raw", START_NS + index, serialize_message(image))
            writer.write("/cam/camera_info", START_NS + index, serialize_message(uncalibrated))
    perception("eval", bag, "--out", tmp_path / "out")
    values = diagnostic_values(assert_report(tmp_path / "out", "front", "/cam/image_raw"))
    assert values["rejected.bad_camera_info"] == str(FRAMES)
    assert values["metric_positions"].startswith("no: no valid CameraInfo")


def test_depth_images_and_empty_image_topics_are_no_cameras_and_info_topic_fills_in_missing_calibration(tmp_path):
    """A RealSense-like bag: colour images with their CameraInfo, depth aligned to them (16UC1), an image topic
    without messages, and a second colour camera without calibration. Only the colour cameras are evaluated, and
    --info-topic calibrates the one that has none, not the other."""
    from perception.cli.runtime import _bag_cameras

    bag = tmp_path / "realsense.mcap"
    with McapFileWriter(bag, perception_typestore()) as writer:
        topics = {"/camera/color/image_raw": "sensor_msgs/msg/Image", "/camera/color/camera_info":
                  "sensor_msgs/msg/CameraInfo", "/camera/aligned_depth_to_color/image_raw": "sensor_msgs/msg/Image",
                  "/camera/infra1/image_rect_raw": "sensor_msgs/msg/Image",
                  "/rear/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
                  "/calib/rear_info": "sensor_msgs/msg/CameraInfo"}
        for topic, msgtype in topics.items():
            writer.add_topic(topic, msgtype)
        colour = Image(height=4, width=6, encoding="bgr8", step=18, data=bytes(72))
        depth = Image(height=4, width=6, encoding="16UC1", step=12, data=bytes(48))
        ok, jpeg = cv2.imencode(".jpg", np.zeros((4, 6, 3), np.uint8))
        for topic, message in (("/camera/color/image_raw", colour), ("/camera/aligned_depth_to_color/image_raw", depth),
                               ("/camera/color/camera_info", CameraInfo(width=6, height=4)),
                               ("/rear/image_raw/compressed", CompressedImage(format="jpeg", data=jpeg.tobytes())),
                               ("/calib/rear_info", CameraInfo(width=6, height=4))):
            writer.write(topic, START_NS, serialize_message(message))
    listed = perception("eval", bag, "--list").stdout
    assert "cameras: 2" in listed
    assert "not a camera: /camera/aligned_depth_to_color/image_raw (depth image, 16UC1)" in listed
    assert "not a camera: /camera/infra1/image_rect_raw (no messages)" in listed
    cameras = _bag_cameras(bag, None, "/calib/rear_info")
    assert {c.image_topic: c.info_topic for c in cameras} == {
        "/camera/color/image_raw": "/camera/color/camera_info", "/rear/image_raw/compressed": "/calib/rear_info"}
    (named,) = _bag_cameras(bag, "/camera/aligned_depth_to_color/image_raw", "/calib/rear_info")  # asked for
    assert named.info_topic == "/calib/rear_info"


def test_a_corrupt_message_is_counted_and_left_out_and_the_run_goes_on(tmp_path, shared_data):
    """One image message of a bag truncated to 20 bytes, and a CameraInfo of random bytes: each counted as
    rejected.bad_message; every other frame is evaluated and the recording and report hold the good messages."""
    bag = tmp_path / "corrupt.mcap"
    calibration = pinhole_intrinsics(1280, 720, 60.0)
    with McapFileWriter(bag, perception_typestore()) as writer:
        writer.add_topic("/cam/image_raw", "sensor_msgs/msg/Image")
        writer.add_topic("/cam/camera_info", "sensor_msgs/msg/CameraInfo")
        for index, frame in enumerate(clip_frames(shared_data, HIGHWAY, FRAMES + 1)):
            image = Image(height=720, width=1280, encoding="bgr8", step=3 * 1280, data=frame.tobytes())
            image.header.stamp.sec, image.header.frame_id = 1_700_000_000 + index, "cam"
            info = CameraInfo(header=image.header, width=1280, height=720, k=calibration.ravel().tolist())
            raw = serialize_message(image)
            writer.write("/cam/image_raw", START_NS + index, raw[:20] if index == 2 else raw)
            writer.write("/cam/camera_info", START_NS + index,
                         bytes(range(7, 250)) if index == 3 else serialize_message(info))
    run = perception("eval", bag, "--out", tmp_path / "out")
    assert "bad_message, the last: /cam/" in run.stdout  # the console says why, not only how many
    messages = assert_report(tmp_path / "out", "front", "/cam/image_raw")
    values = diagnostic_values(messages)
    assert values["rejected.bad_message"] == "2" and values["images_left_out"] == "2"  # the bag's 3rd image
    assert "/cam/image_raw" in values["last_rejection.bad_message"] or "/cam/camera_info" in values[
        "last_rejection.bad_message"]
    assert len(messages["/cam/camera_info"]) == FRAMES


def test_odometry_on_another_topic_than_the_graphs_is_found_and_used(tmp_path, shared_data):
    """The vehicle's odometry on /localization/odometry (not the graph's /odom): the bag's only Odometry topic is
    used (and said), so the tracks are in the odom frame."""
    from nav_msgs.msg import Odometry

    bag = tmp_path / "odometry.mcap"
    calibration = pinhole_intrinsics(1280, 720, 60.0)
    with McapFileWriter(bag, perception_typestore()) as writer:
        writer.add_topic("/cam/image_raw", "sensor_msgs/msg/Image")
        writer.add_topic("/cam/camera_info", "sensor_msgs/msg/CameraInfo")
        writer.add_topic("/localization/odometry", "nav_msgs/msg/Odometry")
        for index, frame in enumerate(clip_frames(shared_data, HIGHWAY)):
            image = Image(height=720, width=1280, encoding="bgr8", step=3 * 1280, data=frame.tobytes())
            image.header.stamp.sec, image.header.frame_id = 1_700_000_000 + index, "cam"
            info = CameraInfo(header=image.header, width=1280, height=720, k=calibration.ravel().tolist())
            odometry = Odometry(child_frame_id="base_link")
            odometry.header.stamp, odometry.header.frame_id = image.header.stamp, "odom"
            odometry.pose.pose.position.x, odometry.pose.pose.orientation.w = 20.0 * index, 1.0
            writer.write("/localization/odometry", START_NS + index, serialize_message(odometry))
            writer.write("/cam/camera_info", START_NS + index, serialize_message(info))
            writer.write("/cam/image_raw", START_NS + index, serialize_message(image))
    run = perception("eval", bag, "--out", tmp_path / "out")
    assert "odometry: /localization/odometry (the bag's only nav_msgs/Odometry topic)" in run.stdout
    messages = assert_report(tmp_path / "out", "front", "/cam/image_raw")
    assert {m.header.frame_id for m in messages["/perception/front/tracks"]} == {"odom"}
    assert len(messages["/localization/odometry"]) == FRAMES


def test_a_recording_that_fails_leaves_no_file(tmp_path):
    out = tmp_path / "failed.mcap"
    with pytest.raises(RuntimeError, match="reading the bag failed"):
        with McapFileWriter(out, perception_typestore()) as writer:
            writer.add_topic("/cam/camera_info", "sensor_msgs/msg/CameraInfo")
            writer.write("/cam/camera_info", START_NS, serialize_message(CameraInfo()))
            raise RuntimeError("reading the bag failed")
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("encoding", ["rgb8", "mono16", "bayer_grbg8"])
def test_raw_encodings_evaluate_like_the_jpeg_frames(tmp_path, shared_data, encoding):
    bag = tmp_path / f"{encoding}.mcap"
    perception("video-to-bag", shared_data / HIGHWAY, bag, "--camera-topic", "/camera/image_raw",
               "--info-topic", "/camera/camera_info", "--encoding", encoding, "--max-frames", FRAMES)
    assert topic_infos(bag)[1].msgtype == "sensor_msgs/msg/Image"
    perception("eval", bag, "--out", tmp_path / "out")
    messages = assert_report(tmp_path / "out", "front", "/camera/image_raw")
    assert {m.encoding for m in messages["/camera/image_raw"]} == {encoding}
    cars = [sum(o.classification[0].label == 3 for o in m.objects) for m in messages["/perception/front/detections"]]
    assert min(cars) >= 1, cars  # the clip's cars are found in every frame, also in grey and after demosaicing


def test_two_cameras_are_evaluated_each_as_a_camera_of_the_graph(tmp_path, shared_data):
    """A compressed and a raw camera (two real clips) sharing one CameraInfo topic of their parent namespace."""
    bag = tmp_path / "two_cameras.mcap"
    with McapFileWriter(bag, perception_typestore()) as writer:
        writer.add_topic("/stereo/left/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
        writer.add_topic("/stereo/right/image_raw", "sensor_msgs/msg/Image")
        writer.add_topic("/stereo/camera_info", "sensor_msgs/msg/CameraInfo")
        for index, (left, right) in enumerate(zip(clip_frames(shared_data, HIGHWAY), clip_frames(shared_data, LANES))):
            stamp_ns = START_NS + index * 40_000_000
            compressed = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", left)[1].tobytes())
            compressed.header.stamp.sec, compressed.header.stamp.nanosec = divmod(stamp_ns, 10**9)
            data, step = encode_raw(right, "rgb8")
            raw = Image(header=compressed.header, height=540, width=960, encoding="rgb8", step=step, data=data)
            info = CameraInfo(header=compressed.header, width=1280, height=720,
                              k=pinhole_intrinsics(1280, 720, 60.0).ravel().tolist())
            for topic, message in (("/stereo/left/image_raw/compressed", compressed), ("/stereo/right/image_raw", raw),
                                   ("/stereo/camera_info", info)):
                writer.write(topic, stamp_ns, serialize_message(message))
    run = perception("eval", bag, "--out", tmp_path / "out")
    assert "camera left: /stereo/left/image_raw/compressed (compressed), CameraInfo: /stereo/camera_info" in run.stdout
    assert "camera right: /stereo/right/image_raw (raw), CameraInfo: /stereo/camera_info" in run.stdout
    recording = tmp_path / "out" / "eval.mcap"  # both cameras and their fusion
    left = assert_report(tmp_path / "out" / "left", "left", "/stereo/left/image_raw/compressed", recording)
    right = assert_report(tmp_path / "out" / "right", "right", "/stereo/right/image_raw", recording)
    assert len(left["/perception/predicted_objects"]) == FRAMES  # one fused list per stamp (the same for both)
    # the shared CameraInfo is for the 1280x720 camera: the 960x540 one gets no metric positions from it, counted
    assert diagnostic_values(left, "left")["metric_positions"] == "yes: from /stereo/camera_info"
    assert any(o.has_kinematics for m in left["/perception/left/tracks"] for o in m.objects)
    values = diagnostic_values(right, "right")
    assert values["metric_positions"] == ("no: intrinsics from /stereo/camera_info are for 1280x720 images, the "
                                          "images are 960x540")
    assert values["frames_camera_info_size_mismatch"] == str(FRAMES - 1)  # the first image precedes the CameraInfo
    assert not any(o.has_kinematics for m in right["/perception/right/tracks"] for o in m.objects)

    perception("eval", bag, "--camera-topic", "/stereo/right/image_raw", "--out", tmp_path / "picked")
    assert_report(tmp_path / "picked", "front", "/stereo/right/image_raw")


def write_ros1_bag(path: Path, frames: list[np.ndarray]) -> None:
    """A ROS 1 bag as a ROS 1 recorder writes it: sensor_msgs/Image (bgr8) and CameraInfo with ROS 1 field names."""
    typestore = get_typestore(Stores.ROS1_NOETIC)
    types = typestore.types
    with Ros1Writer(path) as writer:
        image_connection = writer.add_connection("/kitti/camera_color_left/image_raw", "sensor_msgs/msg/Image",
                                                 typestore=typestore)
        info_connection = writer.add_connection("/kitti/camera_color_left/camera_info", "sensor_msgs/msg/CameraInfo",
                                                typestore=typestore)
        for index, frame in enumerate(frames):
            stamp_ns = START_NS + index * 100_000_000
            header = types["std_msgs/msg/Header"](seq=index, frame_id="camera_color_left",
                                                  stamp=types["builtin_interfaces/msg/Time"](*divmod(stamp_ns, 10**9)))
            height, width = frame.shape[:2]
            image = types["sensor_msgs/msg/Image"](header, height, width, "bgr8", 0, 3 * width, frame.ravel())
            k = pinhole_intrinsics(width, height, 80.0)
            info = types["sensor_msgs/msg/CameraInfo"](
                header, height, width, "plumb_bob", np.zeros(5), k.ravel(), np.eye(3).ravel(),
                np.hstack([k, np.zeros((3, 1))]).ravel(), 0, 0,
                types["sensor_msgs/msg/RegionOfInterest"](0, 0, 0, 0, False))
            writer.write(image_connection, stamp_ns, typestore.serialize_ros1(image, "sensor_msgs/msg/Image"))
            writer.write(info_connection, stamp_ns, typestore.serialize_ros1(info, "sensor_msgs/msg/CameraInfo"))


def test_ros1_bag_evaluates_and_converts_to_a_ros2_mcap(tmp_path, shared_data):
    frames = clip_frames(shared_data, HIGHWAY)
    bag = tmp_path / "kitti_like.bag"
    write_ros1_bag(bag, frames)
    perception("eval", bag, "--out", tmp_path / "out")
    messages = assert_report(tmp_path / "out", "front", "/kitti/camera_color_left/image_raw")
    assert diagnostic_values(messages)["metric_positions"] == "yes: from /kitti/camera_color_left/camera_info"
    images = messages["/kitti/camera_color_left/image_raw"]
    assert all(np.array_equal(np.asarray(m.data).reshape(720, 1280, 3), f) for m, f in zip(images, frames))

    run = perception("convert-bag", bag, tmp_path / "converted.mcap")
    assert f"/kitti/camera_color_left/image_raw {FRAMES}" in run.stdout
    converted = decoded(tmp_path / "converted.mcap")  # a ROS 2 MCAP: Jazzy types, lower-case CameraInfo fields
    assert stamps(converted["/kitti/camera_color_left/image_raw"]) == stamps(images)
    info = converted["/kitti/camera_color_left/camera_info"][0]
    assert info.k[0] == pytest.approx(pinhole_intrinsics(1280, 720, 80.0)[0, 0]) and info.header.frame_id


def test_replay_publishes_a_ros1_bag_as_ros2_messages_and_maps_a_camera_onto_the_graph(tmp_path, shared_data, ros):
    frames = clip_frames(shared_data, HIGHWAY)
    write_ros1_bag(tmp_path / "kitti_like.bag", frames)
    received = ros.collect(Image, "/kitti/camera_color_left/image_raw")
    perception("replay", tmp_path / "kitti_like.bag", "--rate", "5", "--wait-for-subscribers", "30",
               "--topics", "/kitti/camera_color_left/image_raw")
    assert ros.wait_for(lambda: len(received) == FRAMES, 30), len(received)
    assert all(np.array_equal(np.asarray(m.data).reshape(720, 1280, 3), f) for m, f in zip(received, frames))

    bag = tmp_path / "hw2.mcap"
    video_to_bag(shared_data / HIGHWAY, bag, camera_topic="/cam_left/image/compressed",
                 info_topic="/cam_left/camera_info", frame_id="cam_left", max_frames=FRAMES)
    graph_images = ros.collect(CompressedImage, "/sensing/camera/front/image_raw/compressed")
    graph_info = ros.collect(CameraInfo, "/sensing/camera/front/camera_info")
    run = perception("replay", bag, "--as-camera", "front", "--rate", "5", "--wait-for-subscribers", "30")
    assert "/cam_left/image/compressed -> /sensing/camera/front/image_raw/compressed" in run.stdout
    assert ros.wait_for(lambda: len(graph_images) == FRAMES and len(graph_info) == FRAMES, 30), \
        (len(graph_images), len(graph_info))
