"""Accuracy of flat-ground projection on KITTI tracking labels: box bottom-centre vs. 3D box bottom-centre."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.datasets.kitti import read_calibration, read_objects
from perception.tracking.ground_plane import GroundPlaneProjector
from perception.tracking.kitti_camera import KittiRig


@dataclass
class GroundErrors:
    types: np.ndarray  # (N,) KITTI type per labelled object within range
    errors: np.ndarray  # (N,) metres; NaN where the projection was rejected
    ranges: np.ndarray  # (N,) true distance from the vehicle origin, metres


def sequence_ground_errors(label_path: Path, calib_path: Path, max_range: float, pose: str) -> GroundErrors:
    """Project every labelled 2D box (DontCare excluded) within max_range and compare with its 3D location.
    pose: "level" (KittiRig.level) or "lidar" (KittiRig.from_lidar)."""
    calibration = read_calibration(calib_path)
    rig = KittiRig.level(calibration) if pose == "level" else KittiRig.from_lidar(calibration)
    projector = GroundPlaneProjector(rig.intrinsics, rig.camera_pose(calibration))
    objects = [o for o in read_objects(label_path) if o.type != "DontCare"]
    if not objects:
        return GroundErrors(np.zeros(0, str), np.zeros(0), np.zeros(0))
    truth = rig.to_vehicle(np.array([o.location for o in objects]))[:, :2]  # KITTI location = bottom-face centre
    ranges = np.linalg.norm(truth, axis=1)
    measured = projector.project_boxes(np.array([o.box for o in objects]))
    errors = np.where(measured.valid, np.linalg.norm(measured.positions - truth, axis=1), np.nan)
    within = ranges <= max_range
    return GroundErrors(np.array([o.type for o in objects])[within], errors[within], ranges[within])


def ground_error_table(
    kitti_dir: Path, sequences: list[str], max_range: float, pose: str = "level"
) -> list[tuple[str, int, int, float]]:
    """Rows (type, objects, rejected, median error in m) per KITTI type and for all types together."""
    parts = [
        sequence_ground_errors(kitti_dir / "label_02" / f"{s}.txt", kitti_dir / "calib" / f"{s}.txt", max_range, pose)
        for s in sequences
    ]
    types = np.concatenate([p.types for p in parts])
    errors = np.concatenate([p.errors for p in parts])
    rows = []
    for name in [*sorted(set(types.tolist())), "all"]:
        selected = errors if name == "all" else errors[types == name]
        valid = selected[~np.isnan(selected)]
        rows.append((name, len(selected), int(np.isnan(selected).sum()), float(np.median(valid)) if len(valid) else np.nan))
    return rows
