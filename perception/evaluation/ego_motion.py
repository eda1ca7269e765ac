"""KITTI with ego-motion: position and velocity-over-ground errors of the tracker's ground state, and HOTA, with and
without odometry (the sequence's camera poses fed as odometry at the frame stamps).

Position and velocity errors use the ground-truth 2D boxes as detections (as eval-ground-plane does) through the
tracker node's own stage (perception.pipeline.tracking.CameraTracking, run by perception.evaluation.kitti_pipeline:
ground projection, ego-motion, tracker), so a better ground projection shows here unchanged. Truth: each label's 3D
location moved into the odom frame with the frame's pose; truth velocity by central differences of a labelled
object's odom positions (frames k-1 and k+1).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from perception.datasets.kitti_rig import MIN_BOX_IOU, KittiRig, label_positions
from perception.datasets.tracking_results import write_kitti_results
from perception.evaluation.kitti_pipeline import load_sequence, run_sequence
from perception.evaluation.tracking_metrics import COMBINED, evaluate_kitti
from perception.evaluation.tracking_sequences import KITTI_FRAME_RATE
from perception.tracking.association import match_boxes

CLASS_GROUPS = {"Car": ("Car", "Van"), "Pedestrian": ("Pedestrian",), "Cyclist": ("Cyclist",)}
RANGE_BINS = ((0.0, 15.0), (15.0, 30.0), (30.0, 50.0), (50.0, np.inf))
MIN_TRACK_AGE_S = 1.0


@dataclass
class Samples:
    """One row per (frame, track matched to a labelled object): class group, true range, track age and errors."""

    classes: np.ndarray
    ranges: np.ndarray  # m, true distance from the vehicle origin
    ages: np.ndarray  # s
    position_errors: np.ndarray  # m, in the run's ground frame
    velocity_errors: np.ndarray  # m/s against the velocity over the ground; NaN where truth has no neighbours

    @classmethod
    def concatenate(cls, parts: list["Samples"]) -> "Samples":
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in cls.__dataclass_fields__))


def _truth(objects: list, rig: KittiRig, odom_from_vehicle: np.ndarray) -> dict[tuple[int, int], tuple]:
    """(frame, label track id) -> (class group, vehicle-frame xy, odom xy, odom velocity or None)."""
    group_of = {kitti_type: group for group, types in CLASS_GROUPS.items() for kitti_type in types}
    placed = label_positions([o for o in objects if o.type in group_of], rig, odom_from_vehicle)
    groups = {o.track_id: group_of[o.type] for o in objects if o.type in group_of}
    odom = {key: ground for key, (_, ground) in placed.items()}
    vehicle = {key: (groups[key[1]], position) for key, (position, _) in placed.items()}
    truth = {}
    for (frame, track_id), (group, position) in vehicle.items():
        before, after = odom.get((frame - 1, track_id)), odom.get((frame + 1, track_id))
        velocity = None if before is None or after is None else (after - before) * KITTI_FRAME_RATE / 2
        truth[frame, track_id] = (group, position, odom[frame, track_id], velocity)
    return truth


def sequence_samples(kitti_dir: Path, sequence: str, odometry: bool, tracker: dict[str, Any]) -> Samples:
    """Track the labelled boxes of one sequence and compare each matched track's ground state with the truth."""
    kitti = load_sequence(kitti_dir, sequence, "label_02", poses=True)  # the labels' boxes as detections
    truth = _truth(kitti.labels, kitti.rig, kitti.odom_from_vehicle)
    outputs = run_sequence(kitti if odometry else replace(kitti, odom_from_vehicle=None), tracker)
    rows = []
    for output in outputs:
        frame = output.number
        tracks = [t for t in output.tracks if t.ground is not None and t.frames_since_update == 0]
        objects = [(key, o.box) for o in kitti.labels if o.frame == frame and (key := (frame, o.track_id)) in truth]
        if not tracks or not objects:
            continue
        for row, column in match_boxes(np.array([t.box for t in tracks]), np.array([box for _, box in objects]),
                                       MIN_BOX_IOU):
            track, (group, vehicle_xy, odom_xy, velocity) = tracks[row], truth[objects[column][0]]
            true_position = odom_xy if odometry else vehicle_xy
            velocity_error = np.nan if velocity is None else float(np.linalg.norm(track.ground.velocity - velocity))
            rows.append((group, float(np.linalg.norm(vehicle_xy)), track.age,
                         float(np.linalg.norm(track.ground.position - true_position)), velocity_error))
    if not rows:
        return Samples(*(np.zeros(0) for _ in range(5)))
    columns = list(zip(*rows))
    return Samples(np.array(columns[0]), *(np.array(c, float) for c in columns[1:]))


def _median(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else np.nan


def error_table(kitti_dir: Path, sequences: list[str], tracker: dict[str, Any]) -> list[list[object]]:
    """Rows: class, range bin, samples, median position error with ego-motion, median velocity-over-ground error
    with and without ego-motion; tracks older than MIN_TRACK_AGE_S only."""
    runs = {odometry: Samples.concatenate([sequence_samples(kitti_dir, s, odometry, tracker) for s in sequences])
            for odometry in (True, False)}
    rows = []
    for group in CLASS_GROUPS:
        for low, high in [*RANGE_BINS, (0.0, 30.0)]:
            selected = {}
            for odometry, samples in runs.items():
                selected[odometry] = ((samples.classes == group) & (samples.ranges >= low) & (samples.ranges < high)
                                      & (samples.ages > MIN_TRACK_AGE_S + 1e-6))
            with_ego, without = runs[True], runs[False]
            name = f"{low:g}-{high:g} m" if np.isfinite(high) else f"{low:g}+ m"
            rows.append([group, name, int(selected[True].sum()),
                         _median(with_ego.position_errors[selected[True]]),
                         _median(with_ego.velocity_errors[selected[True]]),
                         _median(without.velocity_errors[selected[False]])])
    return rows


def hota_table(kitti_dir: Path, sequences: list[str], tracker: dict[str, Any], detections: str = "det_2d_permatrack"
               ) -> list[list[object]]:
    """Rows: class (TrackEval's KITTI classes car and pedestrian), HOTA / MOTA / IDF1 without and with ego-motion."""
    with tempfile.TemporaryDirectory() as folder:
        folders = {"without": Path(folder) / "without", "with": Path(folder) / "with"}
        for name, out in folders.items():
            out.mkdir()
            for sequence in sequences:
                kitti = load_sequence(kitti_dir, sequence, detections, poses=name == "with")
                outputs = run_sequence(kitti, tracker)
                write_kitti_results(out / f"{sequence}.txt", [(o.number, o.tracks) for o in outputs],
                                    kitti.image_size, kitti.rig, kitti.odom_from_vehicle)
        labels = [kitti_dir / "label_02" / f"{s}.txt" for s in sequences]
        scores = evaluate_kitti(labels, folders)
    rows = []
    for class_name in scores["without"]:
        without, with_ego = scores["without"][class_name][COMBINED], scores["with"][class_name][COMBINED]
        rows.append([class_name, without.hota, with_ego.hota, without.mota, with_ego.mota, without.idf1, with_ego.idf1])
    return rows

