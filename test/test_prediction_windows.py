"""Window extraction from ETH/UCY-format files and KITTI labels."""
from pathlib import Path

import numpy as np

from conftest import write_eth_ucy_scene
from perception.prediction.sources import ETH_UCY_PROTOCOL, eth_ucy_tracks, kitti_tracks
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
