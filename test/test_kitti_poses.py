"""KITTI camera poses (poses_orbslam3) as vehicle odometry."""
import numpy as np

from perception.datasets.kitti import KittiCalibration, read_calibration, read_poses
from perception.datasets.kitti_rig import KittiRig


def test_camera_moving_along_its_optical_axis_moves_the_vehicle_forward(tmp_path):
    forward = np.hstack([np.eye(3), [[0.0], [0.0], [2.0]]])  # 2 m along optical z
    turned = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]])  # 90 deg about optical y
    path = tmp_path / "poses.txt"
    path.write_text("\n".join(" ".join(map(str, m.ravel())) for m in (np.eye(4)[:3], forward, turned)) + "\n")
    poses = read_poses(path)
    assert poses.shape == (3, 4, 4)
    rig = KittiRig.level(KittiCalibration(np.hstack([np.eye(3), np.zeros((3, 1))]), np.eye(3), np.zeros((3, 4))))
    odom = rig.odom_from_vehicle(poses)
    np.testing.assert_allclose(odom[0], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(odom[1][:3, 3], [2.0, 0.0, 0.0], atol=1e-12)
    # Rotating the optical frame about its y (down) axis by +90 deg turns the vehicle to the right: yaw -90 deg.
    assert np.isclose(np.arctan2(odom[2][1, 0], odom[2][0, 0]), -np.pi / 2)


def test_shared_kitti_poses_drive_on_the_ground(shared_data):
    kitti = shared_data / "tracking" / "kitti"
    calibration = read_calibration(kitti / "calib" / "0000.txt")
    odom = KittiRig.level(calibration).odom_from_vehicle(read_poses(kitti / "poses_orbslam3" / "0000.txt"))
    assert len(odom) == 154  # one pose per frame of label_02/0000.txt (frames 0-153)
    travelled = np.linalg.norm(np.diff(odom[:, :2, 3], axis=0), axis=1).sum()
    assert travelled > 20.0  # the car drives through the scene
    assert np.abs(odom[:, 2, 3]).max() < 0.05 * travelled  # height stays near the ground plane
    assert odom[-1, 0, 3] > 0.5 * travelled  # mostly forward

