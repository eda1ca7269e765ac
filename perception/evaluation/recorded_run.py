"""A recorded run read back for scoring and the report (no ROS, no plotting): tracks, predictions, odometry,
signs and camera images, keyed by the source image's header stamp; the objects' tracks and most probable paths."""
from __future__ import annotations

import math
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.bags import perception_typestore, read_messages
from perception.camera_calibration import CalibrationError, camera_matrix
from perception.evaluation.online_prediction import PredictionRecord
from perception.evaluation.run_summary import VEHICLE_FRAMES
from perception.evaluation.sign_report import SIGNS, sign_topic
from perception.message_decoding import ground_frame_id
from perception.stamps import header_stamp_ns

IMAGE_TYPES = ("sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Image")


@dataclass
class RunData:
    """What scoring and the report read from a recording, keyed by the source image's header stamp (ns)."""

    images: dict[int, object] = field(default_factory=dict)  # camera messages (compressed or raw)
    intrinsics: np.ndarray | None = None
    tracks: dict[int, object] = field(default_factory=dict)
    predictions: dict[int, object] = field(default_factory=dict)
    odometry: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)  # odom frame -> (t, x, y)
    signs: list[tuple[str, object]] = field(default_factory=list)  # (topic, message) of the cameras' signs
    sign_tracks: list[tuple[str, object]] = field(default_factory=list)  # ... and of their sign_tracks
    start_ns: int = 0  # log time of the recording's first message


def load_run(path: Path, images: bool = True, topics: list[str] | None = None) -> RunData:
    """A recording's tracks, predictions, intrinsics, odometry (the vehicle's positions) and signs, and its camera
    images unless `images` is False; only from `topics` where given (one camera's of a recording of several)."""
    typestore = perception_typestore()
    data = RunData()
    for index, record in enumerate(read_messages(path, topics)):  # in log-time order
        if index == 0:
            data.start_ns = record.timestamp_ns
        sign_kind = sign_topic(record.topic)
        if sign_kind and record.msgtype.startswith("perception/msg/"):  # sign tracks are not the objects' tracks
            message = typestore.deserialize_cdr(record.raw, record.msgtype)
            (data.signs if sign_kind == SIGNS else data.sign_tracks).append((record.topic, message))
        elif record.msgtype in IMAGE_TYPES and images:
            message = typestore.deserialize_cdr(record.raw, record.msgtype)
            data.images[header_stamp_ns(message.header)] = message
        elif record.msgtype == "sensor_msgs/msg/CameraInfo" and data.intrinsics is None:
            info = typestore.deserialize_cdr(record.raw, record.msgtype)
            with suppress(CalibrationError):  # a zero or NaN matrix is no calibration
                data.intrinsics = camera_matrix(info.k, info.p, info.width, info.height)
        elif record.msgtype == "perception/msg/TrackedObjects":
            message = typestore.deserialize_cdr(record.raw, record.msgtype)
            data.tracks[header_stamp_ns(message.header)] = message
        elif record.msgtype == "perception/msg/PredictedObjects":
            message = typestore.deserialize_cdr(record.raw, record.msgtype)
            data.predictions[header_stamp_ns(message.header)] = message
        elif record.msgtype == "nav_msgs/msg/Odometry":
            message = typestore.deserialize_cdr(record.raw, record.msgtype)
            position = message.pose.pose.position
            data.odometry.setdefault(message.header.frame_id, []).append(
                (header_stamp_ns(message.header) / 1e9, position.x, position.y))
    return data


def path_positions(path) -> np.ndarray:
    """A PredictedPath's positions as an (N, 2) array of x, y."""
    return np.array([[p.x, p.y] for p in path.positions]).reshape(-1, 2)


def track_observations(data: RunData) -> dict[int, list[tuple[float, float, float]]]:
    """Each track's published ground positions, (t s, x, y), where the tracks have them."""
    observations: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
    for stamp, message in data.tracks.items():
        for obj in message.objects:
            if obj.has_kinematics:
                observations[obj.track_id].append((stamp / 1e9, obj.position.x, obj.position.y))
    return observations


def _vehicle_position(frame: str, stamp: float, odometry: dict[str, np.ndarray]) -> np.ndarray | None:
    """The vehicle's (x, y) in a ground frame at stamp: the origin of a vehicle frame; in an odom frame, linearly
    interpolated between the odometry's (t, x, y) rows of that frame (the nearest row outside them); None
    without them."""
    if frame in VEHICLE_FRAMES:
        return np.zeros(2)
    samples = odometry.get(frame) if frame else None
    if samples is None:
        return None
    return np.array([np.interp(stamp, samples[:, 0], samples[:, axis]) for axis in (1, 2)])


def prediction_records(data: RunData) -> list[PredictionRecord]:
    """The most probable path of each predicted object, with the object's range from the vehicle (NaN when the
    vehicle's position is unknown: an odom frame without odometry in the recording)."""
    odometry = {frame: np.array(sorted(samples)) for frame, samples in data.odometry.items()}
    records = []
    for stamp, message in data.predictions.items():
        vehicle = _vehicle_position(ground_frame_id(message), stamp / 1e9, odometry)
        for obj in message.objects:
            if obj.paths:
                path = obj.paths[0]
                step = path.time_step.sec + path.time_step.nanosec / 1e9
                range_m = math.nan if vehicle is None else math.dist((obj.position.x, obj.position.y), vehicle)
                records.append(PredictionRecord(stamp / 1e9, obj.track_id, step, path_positions(path), path.model,
                                                path.model_steps, range_m))
    return records
