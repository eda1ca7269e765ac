"""KITTI tracking camera rig: image_02 intrinsics and its pose on the vehicle, derived from calib files."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.datasets.kitti import KittiCalibration
from perception.tracking.ground_plane import CameraPose

# KITTI recording platform (Geiger et al. 2013): cameras 1.65 m and the Velodyne 1.73 m above the ground.
CAMERA_HEIGHT = 1.65
LIDAR_HEIGHT = 1.73
KITTI_IMAGE_SIZE = (1242, 375)  # image_02 (width, height) of tracking sequences 0000-0010 (labels are clipped to it)
# Rectified camera axes (x right, y down, z forward) -> vehicle axes (x forward, y left, z up).
VEHICLE_FROM_LEVEL_CAMERA = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
# A track stands for the labelled object whose box it overlaps this much (evaluation and training windows alike).
MIN_BOX_IOU = 0.5


@dataclass(frozen=True)
class KittiRig:
    intrinsics: np.ndarray  # (3, 3) K of image_02
    vehicle_from_rect: np.ndarray  # (4, 4) rectified camera coordinates (labels) -> vehicle frame

    @classmethod
    def level(cls, calibration: KittiCalibration) -> "KittiRig":
        """Rectified cameras level with the ground, 1.65 m above it; the origin lies below camera 0."""
        vehicle_from_rect = np.eye(4)
        vehicle_from_rect[:3, :3] = VEHICLE_FROM_LEVEL_CAMERA
        vehicle_from_rect[2, 3] = CAMERA_HEIGHT
        return cls(calibration.intrinsics, vehicle_from_rect)

    @classmethod
    def from_lidar(cls, calibration: KittiCalibration) -> "KittiRig":
        """Vehicle axes along the Velodyne's (Tr_velo_to_cam), the origin on the ground below it."""
        rect_from_velo = np.eye(4)
        rect_from_velo[:3, :] = calibration.R0_rect @ calibration.Tr_velo_to_cam
        vehicle_from_velo = np.eye(4)
        vehicle_from_velo[2, 3] = LIDAR_HEIGHT
        return cls(calibration.intrinsics, vehicle_from_velo @ np.linalg.inv(rect_from_velo))

    def to_vehicle(self, points_rect: np.ndarray) -> np.ndarray:
        """(N, 3) rectified camera coordinates -> vehicle frame."""
        return points_rect @ self.vehicle_from_rect[:3, :3].T + self.vehicle_from_rect[:3, 3]

    def to_rect(self, points_vehicle: np.ndarray) -> np.ndarray:
        """(N, 3) vehicle frame -> rectified camera coordinates."""
        return (points_vehicle - self.vehicle_from_rect[:3, 3]) @ self.vehicle_from_rect[:3, :3]

    def camera_pose(self, calibration: KittiCalibration) -> CameraPose:
        """Pose of image_02: the rectified frame shifted by P2's baseline, P2 = K [I | t]."""
        centre_rect = -np.linalg.solve(self.intrinsics, calibration.P2[:, 3])
        return CameraPose.from_optical_rotation(self.vehicle_from_rect[:3, :3], self.to_vehicle(centre_rect[None])[0])

    def odom_from_vehicle(self, world_from_camera: np.ndarray) -> np.ndarray:
        """(N, 4, 4) camera poses (KITTI odometry layout, rectified axes) -> vehicle poses in an odom frame.

        The odom frame is the vehicle frame at the first pose (REP 105: fixed to the world, x forward, y left,
        z up at the start), so odom_from_vehicle[k] = V world_from_camera[k] V^-1 with V = vehicle_from_rect.
        """
        first_inverse = np.linalg.inv(world_from_camera[0])
        return self.vehicle_from_rect @ first_inverse @ world_from_camera @ np.linalg.inv(self.vehicle_from_rect)


def label_positions(labels: list, rig: KittiRig, odom_from_vehicle: np.ndarray | None
                    ) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """(frame, label track id) -> (xy in the vehicle frame of that frame, xy in the run's ground frame: the odom frame
    with the poses, else the same vehicle-frame xy), from the labels' 3D locations (bottom-face centres)."""
    positions = {}
    for o in labels:
        point = np.append(rig.to_vehicle(np.asarray(o.location)[None])[0], 1.0)
        ground = point if odom_from_vehicle is None else odom_from_vehicle[o.frame] @ point
        positions[o.frame, o.track_id] = (point[:2], ground[:2])
    return positions
