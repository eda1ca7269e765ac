"""The ROS-free parts of evaluating any bag: finding its cameras, ROS 1 bags read as ROS 2 messages, camera_info YAML
files and the field-of-view guess (plain pytest, no rclpy: these run in the Python 3.10 job too)."""
import numpy as np
import pytest
import yaml
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.typesys import Stores, get_typestore

from perception.camera_calibration import CalibrationError, pinhole_intrinsics, read_camera_info_yaml
from perception.runtime.bag_cameras import find_cameras
from perception.bags import read_messages, topic_infos


def test_cameras_are_found_by_type_and_paired_with_camera_info_by_namespace():
    image, compressed, info = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo"
    cameras = find_cameras({
        "/cam_left/image/compressed": compressed, "/cam_left/camera_info": info,
        "/sensing/camera/front/image_raw": image, "/sensing/camera/front/camera_info": info,
        "/stereo/left/image_raw/compressed": compressed, "/stereo/right/image_rect": image,
        "/stereo/camera_info": info,  # one calibration topic for both stereo cameras
        "/rear/image_raw": image, "/odom": "nav_msgs/msg/Odometry",
    })
    found = {c.image_topic: (c.name, c.info_topic, c.transport) for c in cameras}
    assert found == {
        "/cam_left/image/compressed": ("cam_left", "/cam_left/camera_info", "compressed"),
        "/sensing/camera/front/image_raw": ("front", "/sensing/camera/front/camera_info", "raw"),
        "/stereo/left/image_raw/compressed": ("left", "/stereo/camera_info", "compressed"),
        "/stereo/right/image_rect": ("right", "/stereo/camera_info", "raw"),
        "/rear/image_raw": ("rear", None, "raw"),
    }
    # the same last token in two namespaces: names take one more token
    names = [c.name for c in find_cameras({"/a/left/image_raw": image, "/b/left/image_raw": image})]
    assert names == ["a_left", "b_left"]


def test_ros1_messages_are_read_as_ros2_cdr_with_counts_and_rates_from_the_index(tmp_path):
    ros1 = get_typestore(Stores.ROS1_NOETIC)
    types = ros1.types
    with Ros1Writer(tmp_path / "old.bag") as writer:
        connection = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=ros1)
        for index in range(5):  # 10 Hz
            stamp = types["builtin_interfaces/msg/Time"](100, index * 10**8)
            header = types["std_msgs/msg/Header"](seq=index, stamp=stamp, frame_id="cam")
            k = pinhole_intrinsics(640, 480, 90.0).ravel()
            info = types["sensor_msgs/msg/CameraInfo"](header, 480, 640, "plumb_bob", np.zeros(5), k, np.eye(3).ravel(),
                                                       np.zeros(12), 0, 0,
                                                       types["sensor_msgs/msg/RegionOfInterest"](0, 0, 0, 0, False))
            raw = ros1.serialize_ros1(info, "sensor_msgs/msg/CameraInfo")
            writer.write(connection, 100 * 10**9 + index * 10**8, raw)
    (info,) = topic_infos(tmp_path / "old.bag")
    assert (info.topic, info.msgtype, info.count) == ("/cam/camera_info", "sensor_msgs/msg/CameraInfo", 5)
    assert info.rate_hz == pytest.approx(10.0, rel=1e-6)
    jazzy = get_typestore(Stores.ROS2_JAZZY)
    messages = [jazzy.deserialize_cdr(m.raw, m.msgtype) for m in read_messages(tmp_path / "old.bag")]
    assert [m.header.stamp.nanosec for m in messages] == [index * 10**8 for index in range(5)]
    assert messages[0].k[0] == pytest.approx(320.0) and messages[0].header.frame_id == "cam"  # K -> k, no seq


CALIBRATION = {  # what `camera_calibration` writes (ROS wiki example, narrow_stereo/left)
    "image_width": 640, "image_height": 480, "camera_name": "narrow_stereo/left",
    "camera_matrix": {"rows": 3, "cols": 3, "data": [430.215550, 0, 306.691343, 0, 430.531693, 227.224800, 0, 0, 1]},
    "distortion_model": "plumb_bob",
    "distortion_coefficients": {"rows": 1, "cols": 5, "data": [-0.337586, 0.111612, -0.000218, -0.000030, 0.0]},
    "rectification_matrix": {"rows": 3, "cols": 3, "data": [0.99, -0.01, 0.03, 0.01, 0.99, -0.001, -0.03, 0.001, 0.99]},
    "projection_matrix": {"rows": 3, "cols": 4, "data": [295.5, 0, 285.6, 0, 0, 295.5, 223.3, 0, 0, 0, 1, 0]},
}


def test_camera_info_yaml_gives_the_rectified_matrix(tmp_path):
    (tmp_path / "left.yaml").write_text(yaml.safe_dump(CALIBRATION))
    calibration = read_camera_info_yaml(tmp_path / "left.yaml")
    assert (calibration.width, calibration.height, calibration.camera_name) == (640, 480, "narrow_stereo/left")
    assert calibration.d.shape == (5,) and calibration.k[0, 0] == pytest.approx(430.21555)
    assert np.allclose(calibration.intrinsics, [[295.5, 0, 285.6], [0, 295.5, 223.3], [0, 0, 1]])  # P, as CameraInfo


@pytest.mark.parametrize("change, message", [
    ({"camera_matrix": {"rows": 3, "cols": 3, "data": [0.0] * 9}, "projection_matrix": {"data": [0.0] * 12}},
     "focal lengths must be > 0"),
    ({"camera_matrix": {"rows": 3, "cols": 3, "data": [float("nan")] * 9}, "projection_matrix": {"data": [0.0] * 12}},
     "NaN or infinity"),
    ({"camera_matrix": {"rows": 2, "cols": 2, "data": [1.0] * 4}}, "camera_matrix has 4 values, expected 3x3"),
    ({"image_width": "wide"}, "image_width and image_height must be integers"),
    ({"distortion_coefficients": None}, "no distortion_coefficients"),
])
def test_bad_camera_info_yaml_names_the_file_and_the_problem(tmp_path, change, message):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**CALIBRATION, **change}))
    with pytest.raises(CalibrationError, match=message) as error:
        read_camera_info_yaml(tmp_path / "bad.yaml")
    assert str(tmp_path / "bad.yaml") in str(error.value)


def test_field_of_view_guess():
    k = pinhole_intrinsics(1280, 720, 90.0)
    assert np.allclose(k, [[640, 0, 640], [0, 640, 360], [0, 0, 1]])
    for width, fov in ((0, 60.0), (1280, 180.0), (1280, 0.0)):
        with pytest.raises(CalibrationError):
            pinhole_intrinsics(width, 720, fov)


def test_the_trackers_read_the_odometry_topic_asked_for_or_the_bags_only_one():
    from perception.graph import load_graph
    from perception.resources import config_path
    from perception.runtime.bag_cameras import CameraSelectionError, use_odometry_topic

    def odometry_of(graph) -> set[str]:
        return {dict(n.remappings)["odometry"] for n in graph.nodes if n.executable == "tracker"}

    odometry, image = "nav_msgs/msg/Odometry", "sensor_msgs/msg/Image"
    graph = load_graph(config_path("perception.yaml"))
    assert use_odometry_topic(graph, {"/odom": odometry, "/ins/odometry": odometry}, None, "b") == ""
    assert odometry_of(graph) == {"/odom"}  # the graph's own, where the bag has it
    assert use_odometry_topic(graph, {"/cam/image_raw": image}, None, "b") == ""  # no odometry at all
    said = use_odometry_topic(graph, {"/a/odometry": odometry, "/b/odometry": odometry}, None, "b")
    assert "several Odometry topics (/a/odometry, /b/odometry): pick one with --odom-topic" in said
    assert odometry_of(graph) == {"/odom"}
    assert use_odometry_topic(graph, {"/ins/odometry": odometry}, None, "b") == (
        "odometry: /ins/odometry (the bag's only nav_msgs/Odometry topic)")
    assert odometry_of(graph) == {"/ins/odometry"}
    assert use_odometry_topic(graph, {"/odom": odometry, "/b/odometry": odometry}, "/b/odometry", "b") == (
        "odometry: /b/odometry")
    assert odometry_of(graph) == {"/b/odometry"}
    with pytest.raises(CameraSelectionError, match="no nav_msgs/Odometry topic /c; its Odometry topics: /odom"):
        use_odometry_topic(graph, {"/odom": odometry, "/c": image}, "/c", "b")
