"""Our message types read by attribute access only, so that rclpy messages and rosbags-deserialized ones alike
decode without importing ROS (perception.ros.conversions builds the messages and uses these for its checks)."""
from __future__ import annotations

import numpy as np

from perception.types import GroundState, ObjectClass, PredictedPath, Track

# Valid ObjectClassification.label values; message fields are checked here because rclpy does not reject
# every out-of-range integer (a negative uint8 only fails later, inside serialization).
_LABELS = frozenset(int(c) for c in ObjectClass)


def check_integers(values, name: str, low: int, high: int) -> list[int]:
    """Python ints of `values`, each in [low, high]; ValueError naming the field otherwise."""
    values = [int(v) for v in np.asarray(values, dtype=object).ravel()]  # object: exact beyond int64
    bad = [v for v in values if not low <= v <= high]
    if bad:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {bad[:5]}")
    return values


def check_labels(values, name: str = "label") -> list[int]:
    values = check_integers(values, name, 0, 255)
    bad = sorted(set(values) - _LABELS)
    if bad:
        raise ValueError(f"{name} {bad} are not ObjectClassification labels (0-{max(_LABELS)})")
    return values


def existence_probability(track: Track) -> float:
    """The tracker's existence estimate; a track made without one (e.g. another tracker's) has its score."""
    return track.score if track.existence_probability is None else track.existence_probability


def box_array(box) -> list[float]:
    return [box.x_min, box.y_min, box.x_max, box.y_max]


def ground_frame_id(message) -> str:
    """The frame of a TrackedObjects' or PredictedObjects' positions (its header.frame_id); empty when the header names
    the camera's frame (no positions)."""
    frame = message.header.frame_id
    return "" if frame == message.camera_frame_id else frame


def image_header(message):
    """The header of the image a TrackedObjects or PredictedObjects was made from: its stamp, the camera's frame."""
    return type(message.header)(stamp=message.header.stamp, frame_id=message.camera_frame_id)


def tracks_from_msg(message) -> list[Track]:
    """TrackedObjects -> Tracks; ValueError for unknown labels, NaN/infinite kinematics or a track id given twice."""
    ids = [obj.track_id for obj in message.objects]
    if len(set(ids)) < len(ids):
        raise ValueError(f"track id {next(i for i in ids if ids.count(i) > 1)} appears more than once")
    tracks = []
    for obj in message.objects:
        check_labels([c.label for c in obj.classification], f"labels of track {obj.track_id}")
        ground = None
        if obj.has_kinematics:
            state = [obj.position.x, obj.position.y, obj.velocity.x, obj.velocity.y]
            if not np.all(np.isfinite(state)):
                raise ValueError(f"track {obj.track_id}: position/velocity {state} is not finite")
            ground = GroundState(
                position=np.array([obj.position.x, obj.position.y]),
                velocity=np.array([obj.velocity.x, obj.velocity.y]),
                position_covariance=np.asarray(obj.position_covariance).reshape(3, 3)[:2, :2],
                velocity_covariance=np.asarray(obj.velocity_covariance).reshape(3, 3)[:2, :2],
            )
        tracks.append(Track(
            track_id=obj.track_id,
            label=ObjectClass(obj.classification[0].label) if obj.classification else ObjectClass.UNKNOWN,
            score=obj.existence_probability, existence_probability=obj.existence_probability, box=np.array(box_array(obj.box)), age=obj.age, hits=obj.hits,
            frames_since_update=obj.frames_since_update, ground=ground,
            class_probabilities={c.label: c.probability for c in obj.classification},
            source_class_id=obj.sign_class_id,
        ))
    return tracks


def image_size(message) -> tuple[int, int] | None:
    """(width, height) of the image a DetectedObjects' or TrackedObjects' boxes are in; None where the publisher did
    not know it (0 x 0: a detector that does not send it, a tracker without a camera model)."""
    return (message.image_width, message.image_height) if message.image_width and message.image_height else None


def duration_seconds(duration) -> float:
    return duration.sec + duration.nanosec * 1e-9


def paths_from_msg(message) -> dict[int, list[PredictedPath]]:
    """PredictedObjects -> each object's paths by track id; ValueError for a repeated track id or a path whose
    positions and covariances do not match (3 covariance values per position)."""
    paths: dict[int, list[PredictedPath]] = {}
    for obj in message.objects:
        if obj.track_id in paths:
            raise ValueError(f"track {obj.track_id} appears twice")
        paths[obj.track_id] = []
        for path in obj.paths:
            positions = np.array([[p.x, p.y] for p in path.positions], dtype=float).reshape(-1, 2)
            covariances = np.asarray(path.position_covariance_xy, dtype=float)
            if covariances.size != 3 * len(positions):
                raise ValueError(f"track {obj.track_id}: {len(positions)} positions, {covariances.size} covariance "
                                 "values (3 per position expected)")
            paths[obj.track_id].append(PredictedPath(
                positions, covariances.reshape(-1, 3), duration_seconds(path.time_step), float(path.confidence),
                path.model, int(path.model_steps)))
    return paths
