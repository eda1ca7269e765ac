"""KITTI tracking benchmark files: label_02 ground truth, calibration, 2D detections."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class KittiObject:
    """One row of a KITTI tracking label or result file."""

    frame: int
    track_id: int  # -1 for DontCare; the per-frame index for detection files
    type: str  # Car, Van, Truck, Pedestrian, Person_sitting, Cyclist, Tram, Misc, DontCare
    truncated: float
    occluded: int
    alpha: float
    box: np.ndarray  # (4,) left, top, right, bottom in pixels
    dimensions: np.ndarray  # (3,) height, width, length in metres
    location: np.ndarray  # (3,) x, y, z in camera coordinates (metres; y down, z forward)
    rotation_y: float
    score: float | None = None  # present in detection / result files


def read_objects(path: str | Path) -> list[KittiObject]:
    """Parse a label_02 (17 columns) or detection/result file (18 columns, last = score)."""
    objects = []
    for line_number, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (17, 18):
            raise ValueError(f"{path}:{line_number}: expected 17 or 18 columns, got {len(fields)}")
        values = [float(v) for v in fields[3:]]
        objects.append(
            KittiObject(
                frame=int(fields[0]),
                track_id=int(fields[1]),
                type=fields[2],
                truncated=values[0],
                occluded=int(values[1]),
                alpha=values[2],
                box=np.array(values[3:7]),
                dimensions=np.array(values[7:10]),
                location=np.array(values[10:13]),
                rotation_y=values[13],
                score=values[14] if len(values) == 15 else None,
            )
        )
    return objects


@dataclass
class KittiCalibration:
    """Camera calibration of one KITTI tracking sequence."""

    P2: np.ndarray  # (3, 4) projection matrix of the left colour camera (rectified)
    R0_rect: np.ndarray  # (3, 3) rectifying rotation
    Tr_velo_to_cam: np.ndarray  # (3, 4)

    @property
    def intrinsics(self) -> np.ndarray:
        """3x3 camera matrix K of image_02."""
        return self.P2[:, :3]


def read_calibration(path: str | Path) -> KittiCalibration:
    """Parse calib/<seq>.txt (keys with or without a trailing colon, R_rect or R0_rect)."""
    entries: dict[str, np.ndarray] = {}
    for line in Path(path).read_text().splitlines():
        fields = line.replace(":", " ").split()
        if fields:
            entries[fields[0]] = np.array([float(v) for v in fields[1:]])
    rect = entries.get("R0_rect", entries.get("R_rect"))
    velo = entries.get("Tr_velo_to_cam", entries.get("Tr_velo_cam"))
    if "P2" not in entries or rect is None or velo is None:
        raise ValueError(f"{path}: missing P2, R0_rect or Tr_velo_to_cam")
    return KittiCalibration(entries["P2"].reshape(3, 4), rect.reshape(3, 3), velo.reshape(3, 4))


def read_poses(path: str | Path) -> np.ndarray:
    """Camera poses in KITTI odometry layout: one row-major 3x4 camera-to-world matrix per line (frame 0 first).

    Returns (N, 4, 4) homogeneous world_from_camera transforms in rectified camera axes (x right, y down, z forward).
    """
    rows = []
    for line_number, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 12:
            raise ValueError(f"{path}:{line_number}: expected 12 values (a 3x4 pose), got {len(fields)}")
        rows.append([float(v) for v in fields])
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :] = np.array(rows).reshape(-1, 3, 4)
    return poses


def labelled_image_size(objects: list[KittiObject]) -> tuple[int, int]:
    """(width, height) of the images from label_02 objects (DontCare left out): KITTI clips their boxes to the last
    pixel column and row (0000-0010: 1241 and 374 in 1242x375 images), which tells the size of any KITTI recording's
    images (they differ by recording day) where some object reaches the right and bottom borders."""
    boxes = np.array([o.box for o in objects if o.type != "DontCare"]).reshape(-1, 4)
    if not len(boxes):
        raise ValueError("no labelled boxes to tell the image size from")
    return math.floor(boxes[:, 2].max()) + 1, math.floor(boxes[:, 3].max()) + 1
