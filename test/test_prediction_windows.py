"""Window extraction from ETH/UCY-format files and KITTI labels."""
from pathlib import Path

import numpy as np

from conftest import write_eth_ucy_scene
from perception.datasets.ground_tracks import ETH_UCY_PROTOCOL, eth_ucy_tracks, eth_ucy_tracks_resampled, kitti_tracks
from perception.prediction.windows import extract_windows, window_starts


def test_window_starts_skip_gaps() -> None:
    frames = np.array([0, 10, 20, 30, 50, 60, 70])
    assert window_starts(frames, 10, 3).tolist() == [0, 1, 4]
    assert window_starts(frames, 10, 8).tolist() == []


def test_every_full_window_of_a_hand_made_file(tmp_path: Path) -> None:
    # pedestrian 1: 21 regular frames -> 2 windows of 20; pedestrian 2: 19 frames -> none;
    # pedestrian 3: 20 frames with a gap after frame 40 -> none
    rows = [(10 * k, 1, 0.5 * k, 1.0) for k in range(21)]
    rows += [(10 * k, 2, 0.0, 0.1 * k) for k in range(19)]
    rows += [(10 * k + (10 if k > 4 else 0), 3, float(k), 0.0) for k in range(20)]
    write_eth_ucy_scene(tmp_path, sorted(rows))
    protocol = ETH_UCY_PROTOCOL
    windows = extract_windows(
        eth_ucy_tracks(tmp_path, "eth", "test"), protocol.obs_len, protocol.pred_len, 10, neighbour_radius=5.0
    )
    assert len(windows) == 2
    assert windows.object_ids.tolist() == [1, 1]
    assert windows.sources.tolist() == ["tiny.txt", "tiny.txt"]
    assert windows.first_future_frames.tolist() == [80, 90]
    assert windows.observed.shape == (2, 8, 2) and windows.future.shape == (2, 12, 2)
    np.testing.assert_allclose(windows.future[1, -1], [0.5 * 20, 1.0])
    np.testing.assert_allclose(windows.observed[1, 0], [0.5, 1.0])


def test_kitti_ground_tracks_use_camera_x_and_z(shared_data: Path) -> None:
    kitti = shared_data / "tracking" / "kitti"
    tracks = {(t.object_id, t.object_class): t for t in kitti_tracks(kitti / "label_02", kitti / "calib", ["0000"])}
    van = tracks[0, "vehicle"]  # first label row of track 0: Van at x -4.552284, z 13.410495
    assert van.frames[0] == 0 and van.source == "0000"
    baseline = 4.485728e01 / 7.215377e02  # P2 translation over focal length: camera 0 -> camera 2
    np.testing.assert_allclose(van.positions[0], [-4.552284 + baseline, 13.410495])
    assert {object_class for _, object_class in tracks} <= {"vehicle", "pedestrian", "cyclist"}


def test_kitti_tracks_with_poses_are_in_the_odom_frame(shared_data: Path) -> None:
    kitti = shared_data / "tracking" / "kitti"
    poses = kitti / "poses_orbslam3"
    world = {(t.object_id, t.object_class): t
             for t in kitti_tracks(kitti / "label_02", kitti / "calib", ["0000"], poses)}
    # odom is the vehicle frame at frame 0 (x forward, y left): the van's first label, camera x -4.55 m, z 13.41 m
    np.testing.assert_allclose(world[0, "vehicle"].positions[0], [13.410495, 4.552284], atol=1e-6)

    def median_speed(tracks) -> float:  # m/s along each vehicle track seen for 2 s or more (10 Hz labels)
        long_ones = [t for t in tracks if t.object_class == "vehicle" and len(t.frames) >= 20]
        path_lengths = [np.linalg.norm(np.diff(t.positions, axis=0), axis=1).sum() for t in long_ones]
        durations = [(t.frames[-1] - t.frames[0]) / 10.0 for t in long_ones]
        return float(np.median(np.array(path_lengths) / np.array(durations)))
    # 0001 drives past parked cars: relative to the car they move at its speed, over the ground they stand
    assert median_speed(kitti_tracks(kitti / "label_02", kitti / "calib", ["0001"])) > 5.0
    assert median_speed(kitti_tracks(kitti / "label_02", kitti / "calib", ["0001"], poses)) < 1.0


def test_eth_ucy_pedestrians_are_interpolated_to_10_hz_within_runs(tmp_path: Path) -> None:
    # pedestrian 1: frames 0-30 (4 annotations, 0.4 s apart), a gap, then frames 60-70
    rows = [(0, 1, 0.0, 0.0), (10, 1, 0.4, 0.0), (20, 1, 0.8, 0.4), (30, 1, 1.2, 0.4), (60, 1, 5.0, 5.0),
            (70, 1, 5.0, 5.4), (100, 2, 1.0, 1.0)]  # pedestrian 2: one annotation, nothing to interpolate
    write_eth_ucy_scene(tmp_path, rows)
    first, second = eth_ucy_tracks_resampled(tmp_path / "eth" / "test", 0.1)
    assert first.frames.tolist() == list(range(0, 13)) and second.frames.tolist() == list(range(24, 29))
    np.testing.assert_allclose(first.positions[[0, 1, 4, 6, 12]], [[0, 0], [0.1, 0], [0.4, 0], [0.6, 0.2], [1.2, 0.4]])
    np.testing.assert_allclose(second.positions[:, 1], [5.0, 5.1, 5.2, 5.3, 5.4])
    assert first.object_class == "pedestrian" and first.object_id == second.object_id == 1
