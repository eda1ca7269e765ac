"""Ego-motion from odometry (no ROS): planar vehicle poses in the odom frame, looked up at image stamps.

The tracker keeps its ground state in the odom frame (REP 105: fixed to the world, continuous) when a vehicle pose
is known at the image stamp, so that velocities are over the ground; otherwise it works in the vehicle frame.
`PoseBuffer` holds timestamped poses (bounded), `EgoMotion` decides per image frame which ground frame applies.
"""
from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from enum import Enum

import numpy as np

from perception.tracking.ground_plane import CameraPose, GroundMeasurements


def wrap_angle(angle: float) -> float:
    """Angle in [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about z) of a unit quaternion, ROS order x, y, z, w."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


@dataclass(frozen=True)
class PlanarPose:
    """The vehicle frame in the odom frame on the ground plane: position (m) and heading (rad)."""

    x: float
    y: float
    yaw: float

    @classmethod
    def from_matrix(cls, odom_from_vehicle: np.ndarray) -> "PlanarPose":
        """From a 4x4 (or 3x3 planar) homogeneous transform; roll and pitch are dropped."""
        translation = odom_from_vehicle[:2, -1]
        return cls(float(translation[0]), float(translation[1]),
                   math.atan2(odom_from_vehicle[1, 0], odom_from_vehicle[0, 0]))

    @property
    def rotation(self) -> np.ndarray:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([[c, -s], [s, c]])

    def to_odom(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) vehicle-frame points -> odom frame."""
        return points @ self.rotation.T + np.array([self.x, self.y])

    def to_vehicle(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) odom-frame points -> vehicle frame."""
        return (points - np.array([self.x, self.y])) @ self.rotation


def interpolate(a: PlanarPose, b: PlanarPose, fraction: float) -> PlanarPose:
    """Pose at `fraction` of the way from a to b (outside [0, 1]: extrapolated); yaw along the shorter turn."""
    return PlanarPose(a.x + fraction * (b.x - a.x), a.y + fraction * (b.y - a.y),
                      wrap_angle(a.yaw + fraction * wrap_angle(b.yaw - a.yaw)))


def ground_to_odom(ground: GroundMeasurements, pose: PlanarPose) -> GroundMeasurements:
    """Vehicle-frame ground measurements in the odom frame: positions moved, covariances rotated (R C R^T).
    The pose is taken as exact (odometry is far more precise over a frame than monocular range)."""
    return ground.rotated(pose.to_odom(ground.positions), pose.rotation)


def rotation_homography(intrinsics: np.ndarray, camera: CameraPose, yaw_change: float) -> np.ndarray:
    """Image homography of the vehicle turning by yaw_change (rad): where a pixel of the previous image lies in the
    current one for directions far away (pure rotation K R K^-1; translation moves pixels by depth and is left to
    the box filter)."""
    c, s = math.cos(yaw_change), math.sin(yaw_change)
    current_from_previous = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # Rz(-yaw_change), vehicle axes
    vehicle_from_optical = camera.vehicle_from_optical
    rotation = vehicle_from_optical.T @ current_from_previous @ vehicle_from_optical
    return intrinsics @ rotation @ np.linalg.inv(intrinsics)


class OdometryVerdict(Enum):
    ACCEPTED = "accepted"
    OUT_OF_ORDER = "odometry_out_of_order"  # older than the newest pose: inserted in order (accepted, counted)
    DUPLICATE = "odometry_duplicate_stamp"  # rejected
    TOO_OLD = "odometry_too_old"  # older than every kept pose: rejected
    TIME_JUMPED_BACK = "odometry_time_jumped_back"  # far older than the newest: the buffer restarts with it


class PoseVerdict(Enum):
    INTERPOLATED = "interpolated"  # between two poses, the nearer within tolerance of the stamp
    EXTRAPOLATED = "extrapolated"  # beyond the newest (or oldest) pose by at most the tolerance
    NO_ODOMETRY = "no_odometry"  # no pose received (yet)
    STALE = "stale_odometry"  # the nearest pose is farther than the tolerance from the stamp


@dataclass(frozen=True)
class PoseLookup:
    pose: PlanarPose | None
    verdict: PoseVerdict


class PoseBuffer:
    """Timestamped poses kept in stamp order: the newest `history_s` seconds, at most `max_poses`."""

    def __init__(self, tolerance_s: float = 0.1, history_s: float = 5.0, max_poses: int = 2000,
                 reset_after_backward_jump_s: float = 2.0) -> None:
        self.tolerance_s, self.history_s, self.max_poses = tolerance_s, history_s, max_poses
        self.reset_after_backward_jump_s = min(reset_after_backward_jump_s, history_s)
        self._stamps: list[float] = []
        self._poses: list[PlanarPose] = []

    def __len__(self) -> int:
        return len(self._stamps)

    def clear(self) -> None:
        self._stamps, self._poses = [], []

    def add(self, stamp: float, pose: PlanarPose) -> OdometryVerdict:
        """Keep a pose; an older stamp is inserted in order, one more than reset_after_backward_jump_s older than
        the newest starts the buffer over (a bag looping); duplicates and, when full, poses older than all are not."""
        verdict = OdometryVerdict.ACCEPTED
        if self._stamps and stamp <= self._stamps[-1]:
            newest = self._stamps[-1]
            index = bisect.bisect_left(self._stamps, stamp)
            if index < len(self._stamps) and self._stamps[index] == stamp:
                return OdometryVerdict.DUPLICATE
            if newest - stamp > self.reset_after_backward_jump_s:
                self.clear()
                verdict = OdometryVerdict.TIME_JUMPED_BACK
            elif index == 0 and len(self._stamps) >= self.max_poses:
                return OdometryVerdict.TOO_OLD
            else:
                verdict = OdometryVerdict.OUT_OF_ORDER
        index = bisect.bisect_left(self._stamps, stamp)
        self._stamps.insert(index, stamp)
        self._poses.insert(index, pose)
        keep_from = max(bisect.bisect_left(self._stamps, self._stamps[-1] - self.history_s),
                        len(self._stamps) - self.max_poses)
        if keep_from > 0:
            del self._stamps[:keep_from], self._poses[:keep_from]
        return verdict

    def pose_at(self, stamp: float) -> PoseLookup:
        """The pose at `stamp`: interpolated between the poses around it, or extrapolated from the two at the
        nearer end; None when no pose lies within the tolerance of the stamp."""
        stamps = self._stamps
        if not stamps:
            return PoseLookup(None, PoseVerdict.NO_ODOMETRY)
        index = bisect.bisect_left(stamps, stamp)
        nearest = min(abs(stamps[i] - stamp) for i in (index - 1, index) if 0 <= i < len(stamps))
        if nearest > self.tolerance_s:
            return PoseLookup(None, PoseVerdict.STALE)
        if len(stamps) == 1:
            return PoseLookup(self._poses[0], PoseVerdict.EXTRAPOLATED)
        if 0 < index < len(stamps) or stamps[min(index, len(stamps) - 1)] == stamp:
            verdict = PoseVerdict.INTERPOLATED
        else:
            verdict = PoseVerdict.EXTRAPOLATED
        i = min(max(index, 1), len(stamps) - 1)  # the pair (i - 1, i) around or next to the stamp
        fraction = (stamp - stamps[i - 1]) / (stamps[i] - stamps[i - 1])
        return PoseLookup(interpolate(self._poses[i - 1], self._poses[i], fraction), verdict)


@dataclass(frozen=True)
class FrameMotion:
    """What one image frame gets: the vehicle pose at its stamp (None: processed without motion), the frame of
    its ground output, and whether that frame differs from the previous image's (ground states restart)."""

    pose: PlanarPose | None
    ground_frame_id: str
    verdict: PoseVerdict
    frame_changed: bool


class EgoMotion:
    """Odometry in, per-frame ground frame out.

    With a pose at the image stamp the frame's ground output is in the odom frame. A frame without one (odometry
    missing, late or stopped) keeps image tracking: while the last pose is at most `timeout_s` old the ground state
    stays in the odom frame and coasts (measurements are not used); after that the tracker falls back to the
    vehicle frame, and it returns to the odom frame at the next pose. Each switch restarts the ground states
    (positions and velocities of one frame cannot be mixed with the other's). Everything is counted in `counters`.
    """

    def __init__(self, vehicle_frame: str = "base_link", odom_frame: str = "", tolerance_s: float = 0.1,
                 timeout_s: float = 1.0, buffer: PoseBuffer | None = None) -> None:
        """odom_frame: expected frame of the poses; empty accepts the first odometry's frame."""
        self.vehicle_frame, self.odom_frame, self.timeout_s = vehicle_frame, odom_frame, timeout_s
        self.buffer = buffer or PoseBuffer(tolerance_s)
        self.counters: Counter[str] = Counter()
        self._in_odom = False
        self._last_pose_stamp: float | None = None

    @property
    def ground_frame_id(self) -> str:
        return self.odom_frame if self._in_odom else self.vehicle_frame

    def add_odometry(self, stamp: float, frame_id: str, pose: PlanarPose) -> OdometryVerdict:
        """Store a pose of the vehicle in `frame_id`; ValueError for a pose in another odom frame or not finite."""
        if not all(math.isfinite(v) for v in (stamp, pose.x, pose.y, pose.yaw)):
            raise ValueError(f"odometry pose {pose} at {stamp} is not finite")
        if not frame_id:
            raise ValueError("odometry without a frame_id (the odom frame of its pose)")
        if frame_id == self.vehicle_frame:
            raise ValueError(f"odometry in the vehicle frame {frame_id!r}: it must give the vehicle's pose in an odom frame")
        if self.odom_frame and frame_id != self.odom_frame:
            raise ValueError(f"odometry in frame {frame_id!r}, expected {self.odom_frame!r}")
        self.odom_frame = frame_id
        verdict = self.buffer.add(stamp, pose)
        self.counters["odometry_received"] += 1
        if verdict is not OdometryVerdict.ACCEPTED:
            self.counters[verdict.value] += 1
        return verdict

    def restart(self) -> None:
        """Forget the ground-frame state (the tracker was reset); kept poses stay."""
        self._in_odom, self._last_pose_stamp = False, None

    def at(self, stamp: float) -> FrameMotion:
        """The motion of the image frame at `stamp`."""
        lookup = self.buffer.pose_at(stamp)
        was_in_odom = self._in_odom
        if lookup.pose is not None:
            self._in_odom, self._last_pose_stamp = True, stamp
            self.counters[f"frames_odometry_{lookup.verdict.value}"] += 1
        else:
            self.counters[f"frames_without_odometry.{lookup.verdict.value}"] += 1
            if self._in_odom and not (0 <= stamp - self._last_pose_stamp <= self.timeout_s):
                self._in_odom = False
        changed = self._in_odom != was_in_odom
        if changed:
            self.counters["ground_frame_switches"] += 1
        return FrameMotion(lookup.pose, self.ground_frame_id, lookup.verdict, changed)
