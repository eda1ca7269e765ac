"""The one place that converts between ROS messages and the core types of perception.types (reading TrackedObjects
needs no ROS import and lives in perception.message_decoding, which the offline evaluation shares)."""
from __future__ import annotations

import array
import math

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Quaternion, TransformStamped, Vector3
from nav_msgs.msg import Odometry
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from perception.camera_calibration import CameraCalibration
from perception.message_decoding import (
    box_array as _box_array, check_integers as _integers, check_labels as _labels, existence_probability,
)
from perception.msg import (
    BoundingBox2D, DetectedObject, DetectedObjects, ObjectClassification, PredictedObject, PredictedObjects,
    PredictedPath as PredictedPathMsg, TrackedObject, TrackedObjects,
)
from perception.signs.gtsdb import SIGN_CLASSES, sign_name
from perception.tracking.ego_motion import PlanarPose, yaw_from_quaternion
from perception.tracking.ground_plane import CameraPose, GroundMeasurements, StaticTransform
from perception.types import Detections, ObjectClass, PredictedPath, Track

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _float32s(values, name: str) -> np.ndarray:
    """Values for float32 fields: NaN and infinity pass, finite values beyond float32 do not."""
    values = np.asarray(values, dtype=float)
    if np.any(np.isfinite(values) & (np.abs(values) > _FLOAT32_MAX)):
        raise ValueError(f"{name} exceeds the float32 range")
    return values


def _shape(array, shape: tuple, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    return array


def stamp_seconds(header: Header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def bgr_to_image(image: np.ndarray, header: Header) -> Image:
    message = Image(header=header, height=image.shape[0], width=image.shape[1], encoding="bgr8",
                    is_bigendian=0, step=image.shape[1] * 3)
    message.data = np.ascontiguousarray(image).tobytes()
    return message


def calibration_from_camera_info(message: CameraInfo) -> CameraCalibration:
    """A CameraInfo as the pipeline takes it (checked there: CameraCalibration.intrinsics)."""
    return CameraCalibration(camera_name=message.header.frame_id, width=message.width, height=message.height,
                             k=np.asarray(message.k, float).reshape(3, 3), distortion_model=message.distortion_model,
                             d=np.asarray(message.d, float), r=np.asarray(message.r, float).reshape(3, 3),
                             p=np.asarray(message.p, float).reshape(3, 4))


def _classification(label: int, probability: float) -> ObjectClassification:
    return ObjectClassification(label=int(label), probability=float(probability))


def _classifications(track: Track) -> list[ObjectClassification]:
    """A track's class hypotheses, most probable first."""
    probabilities = track.class_probabilities or {int(track.label): 1.0}
    return [_classification(label, p) for label, p in sorted(probabilities.items(), key=lambda item: -item[1])]


def _box(values: np.ndarray) -> BoundingBox2D:
    x_min, y_min, x_max, y_max = (float(v) for v in values)
    return BoundingBox2D(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)


def _covariance_3x3(covariance_2x2: np.ndarray) -> np.ndarray:
    """The row-major 3x3 float64 array of a 2x2 covariance (z row and column zero); as a numpy array, the message
    takes it without checking each element again."""
    full = np.zeros((3, 3))
    full[:2, :2] = covariance_2x2
    return full.ravel()


def output_header(image_header: Header, ground_frame_id: str) -> Header:
    """The header of an output whose positions are in `ground_frame_id`: the image's stamp, frame_id the ground frame
    (the image's frame where there is none: no positions, only boxes in the image)."""
    return Header(stamp=image_header.stamp, frame_id=ground_frame_id or image_header.frame_id)


def detections_to_msg(detections: Detections, header: Header, ground: GroundMeasurements | None = None,
                      ground_frame_id: str = "", image_size: tuple[int, int] | None = None) -> DetectedObjects:
    """Detections -> DetectedObjects in descending score, header the image's; ground: the detections' ground
    positions row for row (the tracker's placement) in ground_frame_id, which fills position where valid;
    image_size: the source image's (width, height), where known (0 x 0 otherwise)."""
    n = len(np.asarray(detections.scores))
    _shape(detections.scores, (n,), "scores")
    _float32s(_shape(detections.boxes, (n, 4), "boxes"), "boxes")
    _float32s(detections.scores, "scores")
    _labels(_shape(detections.labels, (n,), "labels"), "labels")
    _integers(_shape(detections.source_class_ids, (n,), "source_class_ids"), "source_class_ids", -2**31, 2**31 - 1)
    if ground is not None:
        _shape(ground.valid, (n,), "ground positions")
    width, height = image_size or (0, 0)
    message = DetectedObjects(header=header, ground_frame_id=ground_frame_id if ground is not None else "",
                              image_width=int(width), image_height=int(height))
    for i in np.argsort(-detections.scores):
        obj = DetectedObject(
            classification=[_classification(detections.labels[i], detections.scores[i])],
            score=float(detections.scores[i]), box=_box(detections.boxes[i]),
            source_class_id=int(detections.source_class_ids[i]),
        )
        if ground is not None and ground.valid[i]:
            x, y = (float(v) for v in ground.positions[i])
            obj.has_position, obj.position = True, Point(x=x, y=y, z=0.0)
            obj.position_covariance = _covariance_3x3(ground.covariances[i])
        message.objects.append(obj)
    return message


def signs_to_msg(signs: Detections, header: Header, image_size: tuple[int, int] | None = None) -> DetectedObjects:
    """Sign Detections (source_class_ids = GTSDB class ids) -> DetectedObjects with sign_class_id and sign_name;
    image_size: the source image's (width, height), where known."""
    message = detections_to_msg(signs, header, image_size=image_size)
    for obj in message.objects:
        obj.sign_class_id = obj.source_class_id
        obj.sign_name = sign_name(obj.source_class_id)
    return message


def detections_from_msg(message: DetectedObjects) -> Detections:
    """DetectedObjects -> Detections; ValueError for NaN/infinite or inverted boxes, NaN scores, unknown labels
    (what a broken publisher may send, and what would poison the tracker's filters)."""
    objects = message.objects
    if not objects:
        return Detections.empty()
    detections = Detections(
        boxes=np.array([_box_array(o.box) for o in objects], np.float32),
        scores=np.array([o.score for o in objects], np.float32),
        labels=np.array([o.classification[0].label if o.classification else ObjectClass.UNKNOWN for o in objects]),
        source_class_ids=np.array([o.source_class_id for o in objects]),
    )
    bad = ~np.isfinite(detections.boxes).all(axis=1) | ~np.isfinite(detections.scores)
    bad |= (detections.boxes[:, 2] < detections.boxes[:, 0]) | (detections.boxes[:, 3] < detections.boxes[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"object {i} of {len(objects)}: box {detections.boxes[i].tolist()} with score "
                         f"{detections.scores[i]} is not finite or is inverted")
    _labels(detections.labels, "detection labels")
    return detections


def sign_detections_from_msg(message: DetectedObjects) -> Detections:
    """The sign node's DetectedObjects -> Detections whose source_class_ids are the sign classes (sign_class_id)."""
    signs = detections_from_msg(message)
    signs.source_class_ids = np.array([obj.sign_class_id for obj in message.objects], np.int64)
    unknown = (signs.source_class_ids < -1) | (signs.source_class_ids >= len(SIGN_CLASSES))
    if unknown.any():
        raise ValueError(f"sign_class_id {int(signs.source_class_ids[unknown][0])} is neither -1 nor a GTSDB class "
                         f"(0-{len(SIGN_CLASSES) - 1})")
    return signs


def _check_tracks(tracks: list[Track]) -> None:
    """ValueError naming the field when a track's ids, counts, labels or float32 fields do not fit the message."""
    if not tracks:
        return
    probabilities = [track.class_probabilities or {int(track.label): 1.0} for track in tracks]
    _integers([track.track_id for track in tracks], "track_id", 0, 2**64 - 1)
    _integers([(track.hits, track.frames_since_update) for track in tracks], "hits and frames_since_update",
              0, 2**32 - 1)
    _labels([label for p in probabilities for label in p], "track labels")
    _float32s([value for p in probabilities for value in p.values()] + [existence_probability(t) for t in tracks]
              + [t.age for t in tracks], "track probabilities, score and age")
    _float32s([_shape(track.box, (4,), "track box") for track in tracks], "track box")


def tracks_to_msg(tracks: list[Track], image_header: Header, ground_frame_id: str = "", signs: bool = False,
                  image_size: tuple[int, int] | None = None) -> TrackedObjects:
    """Tracks of one image -> TrackedObjects in ground_frame_id (output_header; camera_frame_id the image's frame);
    signs: the tracks are the sign node's (source_class_id = GTSDB class id), which fills sign_class_id and
    sign_name; image_size: (width, height) of the camera model's images, where there is one."""
    width, height = image_size or (0, 0)
    message = TrackedObjects(header=output_header(image_header, ground_frame_id),
                             camera_frame_id=image_header.frame_id, image_width=int(width), image_height=int(height))
    _check_tracks(tracks)
    for track in tracks:
        obj = TrackedObject(
            track_id=int(track.track_id),
            classification=_classifications(track),
            existence_probability=float(existence_probability(track)), age=float(track.age), hits=int(track.hits),
            frames_since_update=int(track.frames_since_update), box=_box(track.box),
        )
        if signs:
            obj.sign_class_id, obj.sign_name = int(track.source_class_id), sign_name(int(track.source_class_id))
        if track.ground is not None and ground_frame_id:  # positions only in a named ground frame
            obj.has_kinematics = True
            x, y = (float(v) for v in track.ground.position)
            vx, vy = (float(v) for v in track.ground.velocity)
            obj.position, obj.velocity = Point(x=x, y=y, z=0.0), Vector3(x=vx, y=vy, z=0.0)
            obj.position_covariance = _covariance_3x3(track.ground.position_covariance)
            obj.velocity_covariance = _covariance_3x3(track.ground.velocity_covariance)
        message.objects.append(obj)
    return message


def duration_msg(seconds: float) -> Duration:
    sec, nanosec = divmod(int(round(seconds * 1e9)), 10**9)  # nanosec < 1e9 even when rounding up
    return Duration(sec=sec, nanosec=nanosec)


PATH_MODELS = (
    PredictedPathMsg.MODEL_RNN,
    PredictedPathMsg.MODEL_CONSTANT_VELOCITY,
    PredictedPathMsg.MODEL_CONSTANT_VELOCITY_FALLBACK,
)
CONFIDENCE_SUM_TOLERANCE = 1e-6


def path_to_msg(path: PredictedPath) -> PredictedPathMsg:
    """One path, checked against the contract of PredictedPath.msg (a known model, a confidence in (0, 1],
    model_steps within the positions)."""
    steps = len(np.asarray(path.positions))
    _shape(path.positions, (steps, 2), "path positions")
    _shape(path.covariances, (steps, 3), "path covariances")
    if not (math.isfinite(path.time_step) and 0 <= path.time_step < 2**31):
        raise ValueError(f"path time_step must be in [0, 2^31) seconds, got {path.time_step}")
    if path.model not in PATH_MODELS:
        raise ValueError(f"path model must be one of {PATH_MODELS}, got {path.model!r}")
    if not 0.0 < path.confidence <= 1.0:
        raise ValueError(f"path confidence must be in (0, 1], got {path.confidence}")
    if not 0 <= path.model_steps <= steps:
        raise ValueError(f"path model_steps must be in [0, {steps}], got {path.model_steps}")
    return PredictedPathMsg(
        model=path.model, time_step=duration_msg(path.time_step), confidence=float(path.confidence),
        model_steps=int(path.model_steps),
        positions=[Point(x=x, y=y) for x, y in np.asarray(path.positions, dtype=float).tolist()],
        position_covariance_xy=array.array("d", np.asarray(path.covariances, dtype=float).ravel().tolist()),
    )


def predictions_to_msg(tracks: list[Track], paths: dict[int, list[PredictedPath]], image_header: Header,
                       ground_frame_id: str, camera_frames: dict[int, str] | None = None) -> PredictedObjects:
    """Tracks of one image with ground kinematics in ground_frame_id and their predicted paths -> PredictedObjects
    (output_header; camera_frame_id the image's frame, also each object's). camera_frames: each object's camera frame
    by track id instead (the fused list, whose image_header names no camera)."""
    message = PredictedObjects(header=output_header(image_header, ground_frame_id),
                               camera_frame_id=image_header.frame_id)
    for track in tracks:
        if track.ground is None or track.track_id not in paths:
            continue
        total = sum(path.confidence for path in paths[track.track_id])
        if abs(total - 1.0) > CONFIDENCE_SUM_TOLERANCE:
            raise ValueError(f"track {track.track_id}: path confidences must sum to 1, got {total}")
        message.objects.append(PredictedObject(
            track_id=int(track.track_id),
            classification=_classifications(track), existence_probability=float(existence_probability(track)),
            position=Point(x=float(track.ground.position[0]), y=float(track.ground.position[1]), z=0.0),
            velocity=Vector3(x=float(track.ground.velocity[0]), y=float(track.ground.velocity[1]), z=0.0),
            position_covariance=_covariance_3x3(track.ground.position_covariance),
            camera_frame_id=image_header.frame_id if camera_frames is None else camera_frames[track.track_id],
            paths=[path_to_msg(p) for p in paths[track.track_id]],
        ))
    return message


def _planar_pose(x: float, y: float, orientation: Quaternion, what: str) -> PlanarPose:
    """Position and heading of a pose; ValueError when not finite or the quaternion is not a unit quaternion."""
    q = [orientation.x, orientation.y, orientation.z, orientation.w]
    if not all(math.isfinite(v) for v in [x, y, *q]):
        raise ValueError(f"{what}: position ({x}, {y}) or orientation {q} is not finite")
    if abs(math.sqrt(sum(v * v for v in q)) - 1.0) > 1e-3:
        raise ValueError(f"{what}: orientation {q} is not a unit quaternion")
    return PlanarPose(float(x), float(y), yaw_from_quaternion(*q))


def odometry_from_msg(message: Odometry, vehicle_frame: str) -> tuple[float, str, PlanarPose]:
    """Odometry -> (stamp, odom frame, planar vehicle pose in it); ValueError for a pose of another child frame,
    a non-finite pose or a non-unit quaternion."""
    if message.child_frame_id and message.child_frame_id != vehicle_frame:
        raise ValueError(f"odometry of frame {message.child_frame_id!r}, expected the vehicle frame {vehicle_frame!r}")
    pose = message.pose.pose
    return (stamp_seconds(message.header), message.header.frame_id,
            _planar_pose(pose.position.x, pose.position.y, pose.orientation, "odometry"))


def pose_from_transform(transform: TransformStamped) -> tuple[float, str, PlanarPose]:
    """A tf2 odom -> vehicle transform -> (stamp, odom frame, planar vehicle pose in it)."""
    t = transform.transform
    return (stamp_seconds(transform.header), transform.header.frame_id,
            _planar_pose(t.translation.x, t.translation.y, t.rotation, "transform"))


def camera_transform(pose: CameraPose, parent: str, child: str) -> TransformStamped:
    """The static transform parent -> camera optical frame."""
    transform = TransformStamped()
    transform.header.frame_id, transform.child_frame_id = parent, child
    transform.transform.translation.x, transform.transform.translation.y, transform.transform.translation.z = (
        float(v) for v in pose.position)
    x, y, z, w = Rotation.from_matrix(pose.vehicle_from_optical).as_quat()
    rotation = transform.transform.rotation
    rotation.x, rotation.y, rotation.z, rotation.w = float(x), float(y), float(z), float(w)
    return transform


def static_transforms_from_msg(message) -> list[StaticTransform]:
    """A tf2_msgs/TFMessage (rclpy or rosbags: attribute access only) -> its transforms; ValueError naming the
    transform when one is not finite, has no frame names or no unit quaternion."""
    transforms = []
    for index, transform in enumerate(message.transforms):
        t, q = transform.transform.translation, transform.transform.rotation
        translation, quaternion = [t.x, t.y, t.z], [q.x, q.y, q.z, q.w]
        what = f"transform {index} ({transform.header.frame_id!r} -> {transform.child_frame_id!r})"
        if not transform.header.frame_id or not transform.child_frame_id:
            raise ValueError(f"{what}: parent and child frame must be named")
        if not all(math.isfinite(v) for v in translation + quaternion):
            raise ValueError(f"{what}: translation {translation} or rotation {quaternion} is not finite")
        if abs(math.sqrt(sum(v * v for v in quaternion)) - 1.0) > 1e-3:
            raise ValueError(f"{what}: rotation {quaternion} is not a unit quaternion")
        transforms.append(StaticTransform(transform.header.frame_id, transform.child_frame_id,
                                          np.array(translation, float), Rotation.from_quat(quaternion).as_matrix()))
    return transforms
