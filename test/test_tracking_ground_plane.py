"""Bottom-centre flat-ground projection: a hand-computed camera and the KITTI rig."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perception.datasets.kitti import read_calibration
from perception.datasets.kitti_rig import KittiRig
from perception.tracking import CameraPose, GroundPlaneProjector

K = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])


def test_level_camera_hand_computed() -> None:
    # 1.5 m high, level: the pixel 100 rows below the centre sees the ground at 1.5 / 0.1 = 15 m
    projector = GroundPlaneProjector(K, CameraPose(x=0.5, y=0.2, z=1.5), pixel_std=(2.0, 2.0))
    result = projector.project_pixels(np.array([[640.0, 460.0], [740.0, 460.0]]))
    np.testing.assert_allclose(result.positions, [[15.5, 0.2], [15.5, 0.2 - 1.5]], atol=1e-9)
    # x = h f / (v - cy): dx/dv = -0.15 m/px; y = -(u - cx) h / (v - cy): dy/du = -0.015 m/px at u = cx
    np.testing.assert_allclose(result.covariances[0], np.diag([0.15**2 * 4, 0.015**2 * 4]), atol=1e-12)
    assert result.valid.all()


def test_pitched_camera_sees_ground_at_optical_centre() -> None:
    pose = CameraPose(x=0.0, y=0.0, z=1.5, pitch=np.arctan(0.1))  # looking down by atan(0.1)
    result = GroundPlaneProjector(K, pose).project_pixels(np.array([[640.0, 360.0]]))
    np.testing.assert_allclose(result.positions, [[15.0, 0.0]], atol=1e-9)


def test_yawed_camera_looks_sideways() -> None:
    pose = CameraPose(x=0.0, y=0.0, z=1.5, yaw=np.pi / 2)  # looking left
    result = GroundPlaneProjector(K, pose).project_pixels(np.array([[640.0, 460.0]]))
    np.testing.assert_allclose(result.positions, [[0.0, 15.0]], atol=1e-9)


def test_covariance_grows_with_range_and_horizon_is_rejected() -> None:
    projector = GroundPlaneProjector(K, CameraPose(x=0.0, y=0.0, z=1.5))
    result = projector.project_pixels(np.array([[640.0, 560.0], [640.0, 400.0], [640.0, 360.0], [640.0, 300.0]]))
    assert result.covariances[0, 0, 0] < result.covariances[1, 0, 0]
    assert result.valid.tolist() == [True, True, False, False]


def test_pose_round_trips_through_its_rotation() -> None:
    pose = CameraPose(x=1.0, y=-0.2, z=1.4, roll=0.02, pitch=0.05, yaw=-0.1)
    again = CameraPose.from_optical_rotation(pose.vehicle_from_optical, pose.position)
    np.testing.assert_allclose([again.roll, again.pitch, again.yaw], [0.02, 0.05, -0.1], atol=1e-12)


def test_kitti_rig_from_calibration(shared_data: Path) -> None:
    calibration = read_calibration(shared_data / "tracking" / "kitti" / "calib" / "0000.txt")
    for rig in (KittiRig.level(calibration), KittiRig.from_lidar(calibration)):
        points = np.array([[1.0, 1.6, 12.0], [-3.0, 1.7, 25.0]])
        np.testing.assert_allclose(rig.to_rect(rig.to_vehicle(points)), points, atol=1e-9)
        pose = rig.camera_pose(calibration)
        assert pose.z == pytest.approx(1.65, abs=0.02)  # KITTI: cameras 1.65 m above the ground
        assert abs(pose.pitch) < np.deg2rad(1.0)
