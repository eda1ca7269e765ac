"""Ground-plane tracks from ETH/UCY files and KITTI tracking labels, with their evaluation protocols and splits."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from perception.datasets import eth_ucy
from perception.datasets.kitti import read_calibration, read_objects, read_poses
from perception.datasets.kitti_rig import KittiRig
from perception.prediction.windows import GroundTrack, Protocol

# KITTI label types we predict, by the class they are reported under
KITTI_CLASSES = {
    "Car": "vehicle",
    "Van": "vehicle",
    "Truck": "vehicle",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Cyclist": "cyclist",
}
# Split of the KITTI tracking training sequences 0000-0010 used for the committed model. Validation holds
# 0002, the only sequence outside the test split with pedestrians (and one of two with a cyclist), so that
# every class is validated on a sequence held out from training.
KITTI_TRAIN_SEQUENCES = ("0000", "0004", "0006", "0008")
KITTI_VAL_SEQUENCES = ("0002", "0010")
KITTI_TEST_SEQUENCES = ("0001", "0003", "0005", "0007", "0009")

ETH_UCY_PROTOCOL = Protocol(
    obs_len=8, pred_len=12, frame_step=eth_ucy.FRAME_STEP, time_step=eth_ucy.TIME_STEP_S, neighbour_radius=5.0
)
# vehicles keep larger distances than pedestrians
KITTI_PROTOCOL = Protocol(obs_len=10, pred_len=20, frame_step=1, time_step=0.1, neighbour_radius=10.0)


def eth_ucy_tracks(root: str | Path, scene: str, split: str) -> list[GroundTrack]:
    """Pedestrian tracks of every file in one split of a leave-one-out scene."""
    tracks = []
    for path in eth_ucy.split_files(root, scene, split):
        for ped_id, (frames, positions) in eth_ucy.read_trajectories(path).items():
            tracks.append(GroundTrack(path.name, ped_id, "pedestrian", frames, positions))
    return tracks


def eth_ucy_tracks_resampled(folder: str | Path, time_step: float) -> list[GroundTrack]:
    """Pedestrian tracks of every ETH/UCY file in a folder, linearly interpolated to time_step seconds.

    Only runs of consecutive annotations (frame step 10, 0.4 s) are interpolated, never across a gap;
    frame numbers count time_step steps from each file's frame 0. The 0.4 s must be a multiple of time_step.
    """
    ratio = eth_ucy.TIME_STEP_S / time_step
    if abs(ratio - round(ratio)) > 1e-6:
        raise ValueError(f"{eth_ucy.TIME_STEP_S} s is not a multiple of {time_step} s")
    ratio = round(ratio)
    files = sorted(Path(folder).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no trajectory files in {folder}")
    tracks = []
    for path in files:
        for ped_id, (frames, positions) in eth_ucy.read_trajectories(path).items():
            steps = frames // eth_ucy.FRAME_STEP
            breaks = np.flatnonzero(np.diff(steps) != 1) + 1
            for run_steps, run_positions in zip(np.split(steps, breaks), np.split(positions, breaks)):
                if len(run_steps) < 2:
                    continue
                fine = np.arange(run_steps[0] * ratio, run_steps[-1] * ratio + 1)
                resampled = np.column_stack(
                    [np.interp(fine / ratio, run_steps, run_positions[:, axis]) for axis in (0, 1)]
                )
                tracks.append(GroundTrack(path.name, ped_id, "pedestrian", fine.astype(np.int64), resampled))
    return tracks


def kitti_tracks(
    labels_dir: str | Path, calib_dir: str | Path, sequences: list[str], poses_dir: str | Path | None = None
) -> list[GroundTrack]:
    """Ground-plane tracks (metres) from label_02.

    Labels are in rectified camera-0 coordinates. With poses_dir (`<seq>.txt` camera poses, KITTI odometry
    layout), positions are in the sequence's odom frame (x forward, y left at its first frame): each label goes
    to the vehicle frame (`KittiRig.level`) and on with the vehicle pose of its frame, so the recording car's
    own motion is not in the tracks. Without poses they are relative to the moving image_02 camera (x right,
    z forward; the calibration's P2 baseline moves x into image_02, the camera our runtime sees).
    """
    tracks = []
    for sequence in sequences:
        calibration = read_calibration(Path(calib_dir) / f"{sequence}.txt")
        x_offset = calibration.P2[0, 3] / calibration.P2[0, 0]
        rig = KittiRig.level(calibration)
        odom_from_vehicle = (
            None if poses_dir is None else rig.odom_from_vehicle(read_poses(Path(poses_dir) / f"{sequence}.txt"))
        )
        rows: dict[tuple[int, str], list[tuple[int, float, float]]] = defaultdict(list)
        for obj in read_objects(Path(labels_dir) / f"{sequence}.txt"):
            if obj.type not in KITTI_CLASSES:
                continue
            if odom_from_vehicle is None:
                x, y = obj.location[0] + x_offset, obj.location[2]
            else:
                if obj.frame >= len(odom_from_vehicle):
                    raise ValueError(f"{sequence}: no pose for frame {obj.frame} ({len(odom_from_vehicle)} poses)")
                pose = odom_from_vehicle[obj.frame]
                x, y = (pose[:3, :3] @ rig.to_vehicle(np.asarray(obj.location)[None])[0] + pose[:3, 3])[:2]
            rows[obj.track_id, KITTI_CLASSES[obj.type]].append((obj.frame, x, y))
        for (track_id, object_class), track_rows in sorted(rows.items()):
            table = np.array(sorted(track_rows))
            tracks.append(
                GroundTrack(sequence, track_id, object_class, table[:, 0].astype(np.int64), table[:, 1:3])
            )
    return tracks
