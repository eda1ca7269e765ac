"""Ground-plane tracks from ETH/UCY files and KITTI tracking labels, with their evaluation protocols."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.datasets import eth_ucy
from perception.datasets.kitti import read_calibration, read_objects
from perception.prediction.windows import GroundTrack

# KITTI label types we predict, by the class they are reported under
KITTI_CLASSES = {
    "Car": "vehicle",
    "Van": "vehicle",
    "Truck": "vehicle",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Cyclist": "cyclist",
}
# Split of the KITTI tracking training sequences 0000-0010 used for the committed model
KITTI_TRAIN_SEQUENCES = ("0000", "0002", "0004", "0006")
KITTI_VAL_SEQUENCES = ("0008", "0010")
KITTI_TEST_SEQUENCES = ("0001", "0003", "0005", "0007", "0009")


@dataclass(frozen=True)
class Protocol:
    """Window lengths and sampling of an evaluation protocol."""

    obs_len: int
    pred_len: int
    frame_step: int  # frame numbers between consecutive steps
    time_step: float  # seconds between consecutive steps
    neighbour_radius: float  # metres: other objects within it are a window's neighbours


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


def kitti_tracks(labels_dir: str | Path, calib_dir: str | Path, sequences: list[str]) -> list[GroundTrack]:
    """Ground-plane tracks (x right, z forward, metres) of the image_02 camera from label_02.

    Labels are in rectified camera-0 coordinates; the calibration's P2 baseline moves x into
    the image_02 camera, the camera our runtime sees.
    """
    tracks = []
    for sequence in sequences:
        calibration = read_calibration(Path(calib_dir) / f"{sequence}.txt")
        x_offset = calibration.P2[0, 3] / calibration.P2[0, 0]
        rows: dict[tuple[int, str], list[tuple[int, float, float]]] = defaultdict(list)
        for obj in read_objects(Path(labels_dir) / f"{sequence}.txt"):
            if obj.type in KITTI_CLASSES:
                rows[obj.track_id, KITTI_CLASSES[obj.type]].append(
                    (obj.frame, obj.location[0] + x_offset, obj.location[2])
                )
        for (track_id, object_class), track_rows in sorted(rows.items()):
            table = np.array(sorted(track_rows))
            tracks.append(
                GroundTrack(sequence, track_id, object_class, table[:, 0].astype(np.int64), table[:, 1:3])
            )
    return tracks
