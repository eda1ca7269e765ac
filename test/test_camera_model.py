"""A real camera model: CameraInfo lens distortion removed with OpenCV before the ground geometry, checked against
OpenCV's own projection of known ground points into raw (distorted) pixels; a CameraInfo whose size differs from
the images' is not used; the camera's mounting pose from static transforms (/tf_static) where they have it."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from perception.camera_calibration import CalibrationError, CameraCalibration, CameraModel
from perception.pipeline.health import OK, WARN
from perception.pipeline.parameters import defaults
from perception.pipeline.tracking import CameraTracking
from perception.tracking.ground_plane import BODY_FROM_OPTICAL, CameraPose, StaticTransform, StaticTransforms
from perception.tracking.metric_position import MetricPositionEstimator
from perception.types import Detections, ObjectClass

WIDTH, HEIGHT = 1280, 720
K = np.array([[700.0, 0.0, 645.0], [0.0, 702.0, 355.0], [0.0, 0.0, 1.0]])
POSE = CameraPose(1.5, 0.1, 1.4, roll=0.01, pitch=0.04, yaw=-0.02)
UNKNOWN = int(ObjectClass.UNKNOWN)  # no size prior: the position is the ground contact of the box bottom
# Coefficients of the size of real lenses: a wide-angle plumb_bob, a strong rational_polynomial, a fisheye.
DISTORTIONS = {
    "plumb_bob": [-0.30, 0.09, 0.001, -0.0015, -0.012],
    "rational_polynomial": [-0.35, 0.12, 0.0008, -0.0012, -0.02, 0.05, 0.01, -0.005],
    "equidistant": [-0.05, 0.01, -0.004, 0.0008],
}


def ground_grid() -> np.ndarray:
    """Ground points (vehicle frame, z = 0) from 5 to 40 m ahead, 8 m to either side."""
    xs, ys = np.meshgrid(np.linspace(5.0, 40.0, 15), np.linspace(-8.0, 8.0, 9))
    return np.column_stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)])


def raw_pixels(model: str, d: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's projection of vehicle-frame points into the raw image of a camera at POSE with K and `d`, and which
    of them a real lens shows (inside the image, within the field where the distortion polynomial is monotonic)."""
    optical = (points - POSE.position) @ POSE.vehicle_from_optical
    if model == "equidistant":
        pixels = cv2.fisheye.projectPoints(optical.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, d)[0]
    else:
        pixels = cv2.projectPoints(optical, np.zeros(3), np.zeros(3), K, d)[0]
    pixels = pixels.reshape(-1, 2)
    radius = np.hypot(optical[:, 0], optical[:, 1]) / optical[:, 2]
    shown = (radius < 1.0) & (pixels[:, 0] > 20) & (pixels[:, 0] < WIDTH - 20) & (pixels[:, 1] > 20) & (
        pixels[:, 1] < HEIGHT - 2)
    return pixels, shown


def rectified_p(model: str, d: np.ndarray) -> np.ndarray:
    """The 3x4 P a calibration tool writes: OpenCV's new camera matrix (pinhole), a narrower one (fisheye)."""
    if model == "equidistant":
        matrix = K.copy()
        matrix[:2, :2] *= 0.7
    else:
        matrix, _ = cv2.getOptimalNewCameraMatrix(K, d, (WIDTH, HEIGHT), 0)
    return np.hstack([matrix, np.zeros((3, 1))])


def calibration(model: str, width: int = WIDTH, height: int = HEIGHT) -> CameraCalibration:
    d = np.array(DISTORTIONS[model])
    return CameraCalibration("camera", width, height, K, model, d, np.eye(3), rectified_p(model, d))


def boxes_standing_on(pixels: np.ndarray) -> np.ndarray:
    """Boxes whose bottom-centre is each pixel."""
    return np.column_stack([pixels[:, 0] - 15.0, pixels[:, 1] - 25.0, pixels[:, 0] + 15.0, pixels[:, 1]])


@pytest.mark.parametrize("model", sorted(DISTORTIONS))
def test_ground_points_come_back_where_opencv_projected_them_into_the_distorted_image(model):
    truth = ground_grid()
    pixels, shown = raw_pixels(model, np.array(DISTORTIONS[model]), truth)
    pixels, truth = pixels[shown], truth[shown, :2]
    assert len(truth) >= 100
    boxes, labels = boxes_standing_on(pixels), np.full(len(pixels), UNKNOWN)
    camera = calibration(model).camera_model
    assert camera.distorted and model in camera.describe()
    measured = MetricPositionEstimator(camera, POSE, (WIDTH, HEIGHT)).project_boxes(boxes, labels)
    assert measured.valid.all()
    error = np.linalg.norm(measured.positions - truth, axis=1)
    assert error.max() < 0.01, f"{model}: up to {error.max():.4f} m off"
    # the toy model (distortion ignored: P applied to the raw pixels) is metres off, and so is K applied to them
    # towards the image borders: the test tells them apart
    toy = MetricPositionEstimator(calibration(model).intrinsics, POSE, (WIDTH, HEIGHT)).project_boxes(boxes, labels)
    assert np.median(np.linalg.norm(toy.positions - truth, axis=1)[toy.valid]) > 1.5
    toy = MetricPositionEstimator(K, POSE, (WIDTH, HEIGHT)).project_boxes(boxes, labels)
    assert np.percentile(np.linalg.norm(toy.positions - truth, axis=1)[toy.valid], 90) > 0.5


def test_a_camera_info_message_carries_its_distortion_into_the_camera_model():
    from sensor_msgs.msg import CameraInfo

    from perception.ros.conversions import calibration_from_camera_info

    d = np.array(DISTORTIONS["rational_polynomial"])
    message = CameraInfo(width=WIDTH, height=HEIGHT, distortion_model="rational_polynomial", d=d.tolist(),
                         k=K.ravel().tolist(), r=np.eye(3).ravel().tolist(),
                         p=rectified_p("rational_polynomial", d).ravel().tolist())
    camera = calibration_from_camera_info(message).camera_model
    pixels, shown = raw_pixels("rational_polynomial", d, ground_grid())
    optical = (ground_grid()[shown] - POSE.position) @ POSE.vehicle_from_optical
    ideal = optical @ camera.matrix.T
    np.testing.assert_allclose(camera.undistort_points(pixels[shown]), ideal[:, :2] / ideal[:, 2:], atol=1e-6)


def test_without_distortion_pixels_are_used_as_they_are_bit_for_bit():
    camera = CameraCalibration("camera", WIDTH, HEIGHT, K, "plumb_bob", np.zeros(5), np.zeros((3, 3)),
                               np.zeros((3, 4))).camera_model
    assert not camera.distorted and camera.describe() == "no distortion"
    rng = np.random.default_rng(1)
    corner = rng.uniform([0, 300], [1200, 650], (50, 2))
    boxes = np.column_stack([corner, corner + rng.uniform(10, 80, (50, 2))])
    labels = rng.choice([int(ObjectClass.CAR), int(ObjectClass.PEDESTRIAN), UNKNOWN], 50)
    with_model = MetricPositionEstimator(camera, POSE, (WIDTH, HEIGHT)).project_boxes(boxes, labels)
    with_matrix = MetricPositionEstimator(K, POSE, (WIDTH, HEIGHT)).project_boxes(boxes, labels)
    np.testing.assert_array_equal(with_model.positions, with_matrix.positions)
    np.testing.assert_array_equal(with_model.covariances, with_matrix.covariances)


@pytest.mark.parametrize("model, d, match", [
    ("kannala_brandt", [0.1, 0.0, 0.0, 0.0], "not one of"),
    ("plumb_bob", [0.1, 0.0, 0.0], "needs 4 or 5"),
    ("equidistant", [0.1, 0.0, 0.0, 0.0, 0.0], "needs 4"),
    ("plumb_bob", [np.nan, 0.0, 0.0, 0.0, 0.0], "NaN"),
])
def test_distortion_that_cannot_be_removed_is_refused_and_counted(model, d, match):
    with pytest.raises(CalibrationError, match=match):
        CameraModel(K, model, d, K)
    tracking = CameraTracking(defaults("tracker"))
    tracking.add_camera_info(CameraCalibration("camera", WIDTH, HEIGHT, K, model, np.array(d), np.eye(3),
                                               np.zeros((3, 4))), "/camera_info")
    assert tracking.health.rejections["bad_camera_info"] == 1 and tracking.objects.projector is None


def frame_detections(truth_pixels: np.ndarray) -> Detections:
    boxes = boxes_standing_on(truth_pixels).astype(np.float32)
    return Detections(boxes=boxes, scores=np.full(len(boxes), 0.9, np.float32),
                      labels=np.full(len(boxes), UNKNOWN), source_class_ids=np.full(len(boxes), -1))


def test_a_camera_info_of_another_image_size_gives_no_metric_positions_until_one_matches():
    parameters = {**defaults("tracker"), "odometry_source": "none", "track_signs": False}
    tracking = CameraTracking(parameters)
    pixels, shown = raw_pixels("plumb_bob", np.array(DISTORTIONS["plumb_bob"]), ground_grid()[:20])
    detections = frame_detections(pixels[shown][:3])
    tracking.add_camera_info(calibration("plumb_bob"), "/camera_info")
    for frame in range(5):  # a 960x540 image with a 1280x720 CameraInfo (a scaled stream, a wrong topic)
        output = tracking.track(detections, 10.0 + frame * 0.1, (960, 540), "camera_optical_frame")
        assert all(track.ground is None for track in output.tracks)
    tracking.track(detections, 10.4, (960, 540), "camera_optical_frame")  # the last frame again: a rejected duplicate
    values = tracking.health.snapshot()
    assert values["frames_camera_info_size_mismatch"] == "5" and tracking.health.rejections["duplicate_stamp"] == 1
    assert values["metric_positions"] == ("no: intrinsics from /camera_info are for 1280x720 images, the images "
                                          "are 960x540")
    assert tracking.health.level == WARN and "image-space tracking only" in tracking.health.message
    assert tracking.objects.projector is None

    tracking.add_camera_info(calibration("plumb_bob"), "/camera_info")  # the same again: still not used
    assert tracking.objects.projector is None
    tracking.add_camera_info(calibration("plumb_bob", 960, 540), "/camera_info")  # one of the images' size
    output = tracking.track(detections, 11.0, (960, 540), "camera_optical_frame")
    assert tracking.objects.projector is not None and tracking.health.level == OK
    assert tracking.health.snapshot()["metric_positions"] == "yes: from /camera_info"
    assert tracking.health.snapshot()["frames_camera_info_size_mismatch"] == "5"
    assert any(track.ground is not None for track in output.tracks)


def test_tracks_placed_on_the_ground_lose_their_positions_when_the_camera_info_stops_matching_the_images():
    """Tracks grounded with a matching CameraInfo, then images of another size (a resized stream): no ground frame
    from then on, so no track may keep (and extrapolate) its ground state; they keep their ids and boxes."""
    parameters = {**defaults("tracker"), "odometry_source": "none", "track_signs": False}
    tracking = CameraTracking(parameters)
    pixels, shown = raw_pixels("plumb_bob", np.array(DISTORTIONS["plumb_bob"]), ground_grid()[:20])
    detections = frame_detections(pixels[shown][:3])
    tracking.add_camera_info(calibration("plumb_bob"), "/camera_info")
    for frame in range(5):
        grounded = tracking.track(detections, 10.0 + frame * 0.1, (WIDTH, HEIGHT), "camera_optical_frame")
    assert grounded.ground_frame_id == "base_link" and all(track.ground is not None for track in grounded.tracks)
    output = tracking.track(detections, 10.5, (960, 540), "camera_optical_frame")
    assert output.ground_frame_id == "" and tracking.health.level == WARN
    assert {track.track_id for track in output.tracks} == {track.track_id for track in grounded.tracks}
    assert all(track.ground is None for track in output.tracks)


def transform(parent: str, child: str, translation, rotation: np.ndarray) -> StaticTransform:
    return StaticTransform(parent, child, np.array(translation, float), rotation)


# A URDF's camera: camera_link (x forward, z up) 1.8 m ahead, 1.3 m up, pitched 3 degrees down and yawed 2 degrees
# left; its optical frame below it by the fixed REP 103 rotation.
CAMERA_LINK = transform("base_link", "camera_link", [1.8, -0.2, 1.3],
                        Rotation.from_euler("ZYX", [0.035, 0.052, 0.0]).as_matrix())
OPTICAL = transform("camera_link", "camera_optical_frame", [0.0, 0.0, 0.0], BODY_FROM_OPTICAL)


def test_static_transforms_compose_a_chain_and_connect_frames_through_a_common_ancestor():
    tree = StaticTransforms()
    assert tree.add([CAMERA_LINK, OPTICAL]) and not tree.add([OPTICAL]) and tree.version == 1
    matrix, chain = tree.lookup("base_link", "camera_optical_frame")
    assert chain == ["base_link", "camera_link", "camera_optical_frame"]
    np.testing.assert_allclose(matrix[:3, :3], CAMERA_LINK.rotation @ BODY_FROM_OPTICAL, atol=1e-12)
    np.testing.assert_allclose(matrix[:3, 3], [1.8, -0.2, 1.3])
    tree.add([transform("base_footprint", "base_link", [0.0, 0.0, 0.3], np.eye(3)),
              transform("base_footprint", "imu", [0.5, 0.0, 0.2], np.eye(3))])
    matrix, chain = tree.lookup("imu", "camera_optical_frame")
    assert chain == ["imu", "base_footprint", "base_link", "camera_link", "camera_optical_frame"]
    np.testing.assert_allclose(matrix[:3, 3], [1.3, -0.2, 1.4])
    assert tree.lookup("base_link", "lidar") is None


def test_the_camera_pose_comes_from_tf_static_where_it_has_the_images_frame_and_from_the_parameters_otherwise():
    parameters = {**defaults("tracker"), "odometry_source": "none", "fov_deg": 70.0, "image_width": WIDTH,
                  "image_height": HEIGHT}
    tracking = CameraTracking(parameters)
    detections = frame_detections(np.array([[640.0, 600.0]]))
    tracking.track(detections, 1.0, (WIDTH, HEIGHT), "camera_optical_frame")
    assert tracking.health.values["camera_pose"] == "parameters"

    tracking.add_static_transforms([CAMERA_LINK, OPTICAL])
    tracking.track(detections, 1.1, (WIDTH, HEIGHT), "camera_optical_frame")
    source = tracking.health.values["camera_pose"]
    assert source.startswith("tf_static (base_link -> camera_link -> camera_optical_frame: x=1.800 y=-0.200 z=1.300")
    assert "the camera_* parameters differ" in source
    expected = CameraPose.from_optical_rotation(CAMERA_LINK.rotation @ BODY_FROM_OPTICAL, CAMERA_LINK.translation)
    assert all(stage.pose == expected for stage in tracking.stages)
    assert expected.pitch == pytest.approx(0.052) and expected.yaw == pytest.approx(0.035)
    # the ground projection uses it: a ground point seen through that pose comes back
    point = np.array([[15.0, 2.0, 0.0]])
    optical = (point - expected.position) @ expected.vehicle_from_optical
    pixel = optical @ tracking.objects.intrinsics.T
    pixel = pixel[:, :2] / pixel[:, 2:]
    measured = tracking.objects.projector.project_boxes(boxes_standing_on(pixel), [UNKNOWN])
    np.testing.assert_allclose(measured.positions, point[:, :2], atol=1e-6)

    # images of a frame /tf_static does not connect to vehicle_frame: the parameters
    tracking.track(detections, 1.2, (WIDTH, HEIGHT), "other_camera")
    assert tracking.health.values["camera_pose"] == "parameters (/tf_static has no base_link -> other_camera)"
    assert tracking.objects.pose == CameraPose(1.5, 0.0, 1.4)
    # a body frame (x forward) as the images' frame cannot be the optical frame: not used, and said why
    tracking.track(detections, 1.3, (WIDTH, HEIGHT), "camera_link")
    assert tracking.health.values["camera_pose"].startswith(
        "parameters (/tf_static base_link -> camera_link not used: its z axis points vertically")


def test_a_tf_static_pose_equal_to_the_parameters_keeps_them_exactly():
    parameters = {**defaults("tracker"), "odometry_source": "none"}
    tracking = CameraTracking(parameters)
    pose = CameraPose(1.5, 0.0, 1.4)
    rotation = Rotation.from_quat(Rotation.from_matrix(pose.vehicle_from_optical).as_quat()).as_matrix()
    tracking.add_static_transforms([transform("base_link", "camera_optical_frame", pose.position, rotation)])
    tracking.track(Detections.empty(), 1.0, None, "camera_optical_frame")
    assert tracking.health.values["camera_pose"] == ("tf_static (base_link -> camera_optical_frame; the same as the "
                                                     "camera_* parameters)")
    assert tracking.objects.pose == tracking.parameter_pose  # exactly: the same floats
