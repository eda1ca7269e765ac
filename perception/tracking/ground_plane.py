"""Flat-ground projection of box bottoms into the vehicle frame (REP 103: x forward, y left, z up), and the camera's
mounting pose from static transforms (/tf_static) without tf2."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Columns are the optical axes (x right, y down, z forward) expressed in the camera body frame (x forward, y left, z up).
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class CameraPose:
    """Camera body frame in the vehicle frame: translation in metres (z = height above the ground), angles in radians.

    The rotation is R = Rz(yaw) Ry(pitch) Rx(roll) (ROS fixed-axis convention); positive pitch looks down.
    """

    x: float
    y: float
    z: float
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0

    @property
    def body_rotation(self) -> np.ndarray:
        cr, sr = np.cos(self.roll), np.sin(self.roll)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        cy, sy = np.cos(self.yaw), np.sin(self.yaw)
        rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
        ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
        rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
        return rz @ ry @ rx

    @property
    def vehicle_from_optical(self) -> np.ndarray:
        """Rotation taking optical-frame directions into the vehicle frame."""
        return self.body_rotation @ BODY_FROM_OPTICAL

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z])

    @classmethod
    def from_optical_rotation(cls, vehicle_from_optical: np.ndarray, position: np.ndarray) -> "CameraPose":
        """Pose from a 3x3 optical-to-vehicle rotation and the camera centre in the vehicle frame."""
        r = vehicle_from_optical @ BODY_FROM_OPTICAL.T
        return cls(
            x=float(position[0]),
            y=float(position[1]),
            z=float(position[2]),
            roll=float(np.arctan2(r[2, 1], r[2, 2])),
            pitch=float(-np.arcsin(np.clip(r[2, 0], -1.0, 1.0))),
            yaw=float(np.arctan2(r[1, 0], r[0, 0])),
        )


@dataclass(frozen=True)
class StaticTransform:
    """One static transform: `child` frame's pose in `parent` (translation in metres, 3x3 rotation matrix)."""

    parent: str
    child: str
    translation: np.ndarray
    rotation: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        """4x4 parent_from_child."""
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = self.rotation, self.translation
        return matrix


class StaticTransforms:
    """The tree of static transforms (/tf_static) seen so far; a child's newest transform replaces its older one
    (as tf2 does). `version` counts the changes."""

    def __init__(self) -> None:
        self.parents: dict[str, StaticTransform] = {}
        self.version = 0

    def add(self, transforms: list[StaticTransform]) -> bool:
        """Add transforms; True when any was new or different."""
        changed = False
        for transform in transforms:
            old = self.parents.get(transform.child)
            if old is None or old.parent != transform.parent or not (
                    np.array_equal(old.translation, transform.translation)
                    and np.array_equal(old.rotation, transform.rotation)):
                self.parents[transform.child] = transform
                changed = True
        self.version += changed
        return changed

    def _to_root(self, frame: str) -> list[str]:
        """frame, its parent, ..., the root (cycles cut)."""
        chain = [frame]
        while chain[-1] in self.parents and self.parents[chain[-1]].parent not in chain:
            chain.append(self.parents[chain[-1]].parent)
        return chain

    def _from(self, chain: list[str]) -> np.ndarray:
        """4x4 pose of chain[0] in chain[-1] (chain: a frame up to one of its ancestors)."""
        matrix = np.eye(4)
        for frame in chain[:-1]:
            matrix = self.parents[frame].matrix @ matrix
        return matrix

    def lookup(self, target: str, source: str) -> tuple[np.ndarray, list[str]] | None:
        """(4x4 pose of `source` in `target`, the frames from target to source), or None when the tree does not
        connect them."""
        up_source, up_target = self._to_root(source), self._to_root(target)
        common = next((frame for frame in up_source if frame in up_target), None)
        if common is None or source == target:
            return None
        source_chain = up_source[:up_source.index(common) + 1]
        target_chain = up_target[:up_target.index(common) + 1]
        matrix = np.linalg.inv(self._from(target_chain)) @ self._from(source_chain)
        return matrix, target_chain + source_chain[-2::-1]


def camera_pose_from_transform(vehicle_from_optical: np.ndarray) -> CameraPose:
    """The pose of a camera whose optical frame (x right, y down, z forward, as an image's frame_id) has this 4x4
    pose in the vehicle frame; ValueError when the frame cannot be an optical frame on the vehicle (its z axis
    points up or down: a body frame such as camera_link, x forward) or the camera is not above the ground."""
    rotation, position = vehicle_from_optical[:3, :3], vehicle_from_optical[:3, 3]
    if abs(rotation[2, 2]) > 0.9:
        raise ValueError("its z axis points vertically: not an optical frame (z forward, x right, y down)")
    if not 0.05 <= position[2] <= 20.0:
        raise ValueError(f"the camera would be {position[2]:.2f} m above the vehicle frame's origin (expected "
                         "0.05 .. 20 m above the ground)")
    return CameraPose.from_optical_rotation(rotation, position)


@dataclass
class GroundMeasurements:
    """Per-detection ground positions (N, 2) in metres, their covariances (N, 2, 2) and which rows are valid.

    `persistent` is the part of each covariance that all measurements of the same object share (the object's size
    against its class prior, the road's pitch under it, its unknown heading): it stays over an object's frames, so a
    filter must not average it away; the rest is frame noise (pixel noise of the box). None: all frame noise."""

    positions: np.ndarray
    covariances: np.ndarray
    valid: np.ndarray  # (N,) bool; False where the pixel lies at/above the horizon or beyond max_range
    persistent: np.ndarray | None = None  # (N, 2, 2), a part of covariances

    @property
    def persistent_covariances(self) -> np.ndarray:
        """(N, 2, 2) the persistent part (zeros where None)."""
        return np.zeros_like(self.covariances) if self.persistent is None else self.persistent

    def select(self, rows: np.ndarray) -> "GroundMeasurements":
        """The measurements of these rows (indices or a boolean mask)."""
        return GroundMeasurements(self.positions[rows], self.covariances[rows], self.valid[rows],
                                  None if self.persistent is None else self.persistent[rows])

    def rotated(self, positions: np.ndarray, rotation: np.ndarray) -> "GroundMeasurements":
        """The same measurements at new positions in a frame rotated by the 2x2 `rotation` (R C R^T)."""
        return GroundMeasurements(positions, rotation @ self.covariances @ rotation.T, self.valid,
                                  None if self.persistent is None else rotation @ self.persistent @ rotation.T)


class GroundPlaneProjector:
    """Intersects pixel rays with the plane z = 0 and propagates pixel noise through the projection Jacobian."""

    def __init__(
        self,
        intrinsics: np.ndarray,
        pose: CameraPose,
        pixel_std: tuple[float, float] = (2.0, 2.0),
        min_depression: float = np.deg2rad(0.5),
        max_range: float = 150.0,
    ) -> None:
        """min_depression: rays less than this angle below the horizon are rejected (range blows up there)."""
        self._ray_from_pixel = pose.vehicle_from_optical @ np.linalg.inv(intrinsics)  # d = M [u, v, 1]
        self._centre = pose.position
        self._pixel_covariance = np.diag(np.square(pixel_std))
        self._max_sine = -np.sin(min_depression)
        self._max_range = max_range

    def project_pixels(self, pixels: np.ndarray) -> GroundMeasurements:
        """Project (N, 2) pixels (u, v) onto the ground."""
        homogeneous = np.column_stack([pixels, np.ones(len(pixels))])
        rays = homogeneous @ self._ray_from_pixel.T  # (N, 3)
        ray_z = rays[:, 2]
        below_horizon = ray_z < self._max_sine * np.linalg.norm(rays, axis=1)
        safe_z = np.where(below_horizon, ray_z, -1.0)
        scale = -self._centre[2] / safe_z  # (N,) ray length to the ground
        points = self._centre[:2] + scale[:, None] * rays[:, :2]
        # d p / d(u, v) = scale * (a - ray * a_z / ray_z) with a = d ray / d(u, v) = columns 0, 1 of M
        du_dv = self._ray_from_pixel[:, :2]  # (3, 2)
        jacobian = scale[:, None, None] * (
            du_dv[None, :2, :] - rays[:, :2, None] * du_dv[None, 2:3, :] / safe_z[:, None, None]
        )  # (N, 2, 2)
        covariances = jacobian @ self._pixel_covariance @ jacobian.transpose(0, 2, 1)
        distances = np.linalg.norm(points - self._centre[:2], axis=1)
        return GroundMeasurements(points, covariances, below_horizon & (distances <= self._max_range))

    def project_boxes(self, boxes: np.ndarray) -> GroundMeasurements:
        """Project the bottom-centre pixel of (N, 4) x_min, y_min, x_max, y_max boxes."""
        bottom_centres = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3]])
        return self.project_pixels(bottom_centres.astype(float))
