"""What the planner topic carries on KITTI tracking sequences, scored against label_02 (`perception eval-kitti`).

The deployed stages run on each sequence (perception.evaluation.kitti_pipeline); every published track (coasting
ones included) with a ground state counts. Matching: in each frame, tracks and labelled objects (all types but
DontCare) are paired by box IoU >= 0.5 (Hungarian); only pairs whose label is a car (Car, Van), pedestrian or cyclist
are scored, by the label's class. Truth, in the run's ground frame: a label's bottom-face centre (its 3D location)
in the vehicle frame (`KittiRig.level`) and, with poses, moved into the odom frame with its frame's pose; without
poses it stays relative to the moving vehicle at each frame, as the tracker and the predictor see positions there.
The truth velocity is the central difference of those positions (frames k-1, k+1): over the ground with poses,
relative to the moving vehicle without. The range is the label's distance from the vehicle origin.

Prediction: at each frame, a matched track's most probable path (highest confidence) within its model's trained
horizon (model_steps) is compared with the same label's positions at those future frames (windows whose future is
labelled at every step, and whose track was also published the frame before); minADE / minFDE are each the smallest
over the object's paths. Baselines on the same windows: constant velocity from the tracker's filtered state (its
Kalman position and velocity) and the raw last step (the track's published positions at k-1 and k, the step
repeated). Coverage: the share of errors inside the 1-sigma and 2-sigma ellipses of the reported covariance (a
calibrated 2D Gaussian: 39.3 % / 86.5 %): the track's position covariance, and the path's covariance at every scored
step.
"""
from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.datasets.tracking_results import write_kitti_results
from perception.datasets.kitti_rig import MIN_BOX_IOU, label_positions
from perception.evaluation.ego_motion import CLASS_GROUPS
from perception.evaluation.ground_positions import GAUSSIAN_COVERAGE, RANGE_BINS
from perception.evaluation.kitti_pipeline import (
    FrameOutput, KittiSequence, load_predictor, load_sequence, run_sequence,
)
from perception.evaluation.tracking_metrics import COMBINED, evaluate_kitti
from perception.evaluation.tracking_sequences import KITTI_FRAME_RATE
from perception.pipeline.camera import CameraParameters
from perception.pipeline.models import ModelCache
from perception.tracking.association import match_boxes
from perception.tracking.metric_position import cut_at_side

GROUPS = {kitti_type: group.lower() for group, types in CLASS_GROUPS.items() for kitti_type in types}
ALL = "all"
METHODS = ("predictor", "kalman_cv", "last_step_cv")


@dataclass
class Truth:
    """The labelled objects of one sequence in the run's ground frame."""

    groups: dict[int, str]  # label track id -> class group ("" for types not scored)
    positions: dict[tuple[int, int], np.ndarray]  # (frame, label track id) -> (2,) metres
    ranges: dict[tuple[int, int], float]  # metres from the vehicle origin
    boxes: dict[int, tuple[list[int], np.ndarray]]  # frame -> label track ids and (N, 4) boxes

    def velocity(self, frame: int, label_id: int) -> np.ndarray | None:
        before, after = self.positions.get((frame - 1, label_id)), self.positions.get((frame + 1, label_id))
        return None if before is None or after is None else (after - before) * KITTI_FRAME_RATE / 2


def sequence_truth(sequence: KittiSequence) -> Truth:
    groups, positions, ranges = {}, {}, {}
    by_frame: dict[int, list] = defaultdict(list)
    placed = label_positions(sequence.labels, sequence.rig, sequence.odom_from_vehicle)
    for label in sequence.labels:
        groups[label.track_id] = GROUPS.get(label.type, "")
        vehicle_xy, positions[label.frame, label.track_id] = placed[label.frame, label.track_id]
        ranges[label.frame, label.track_id] = float(np.linalg.norm(vehicle_xy))
        by_frame[label.frame].append(label)
    boxes = {frame: ([o.track_id for o in labels], np.array([o.box for o in labels]))
             for frame, labels in by_frame.items()}
    return Truth(groups, positions, ranges, boxes)


@dataclass
class Samples:
    """Matched (frame, track, label) pairs: position rows, and prediction windows."""

    groups: list[str] = field(default_factory=list)
    ranges: list[float] = field(default_factory=list)
    position_errors: list[float] = field(default_factory=list)
    position_mahalanobis: list[float] = field(default_factory=list)  # squared, under the track's covariance
    cut: list[bool] = field(default_factory=list)  # the track's box is cut at a side border (as the estimator tells)
    velocity_errors: list[float] = field(default_factory=list)  # NaN where the truth has no neighbouring frames
    window_groups: list[str] = field(default_factory=list)
    window_errors: dict[str, list[np.ndarray]] = field(default_factory=lambda: {m: [] for m in METHODS})
    window_min_errors: list[tuple[float, float]] = field(default_factory=list)  # minADE, minFDE over the paths
    window_mahalanobis: list[np.ndarray] = field(default_factory=list)  # per step, the predictor's path
    window_modes: list[int] = field(default_factory=list)

    def extend(self, other: "Samples") -> None:
        for name in ("groups", "ranges", "position_errors", "position_mahalanobis", "cut", "velocity_errors",
                     "window_groups", "window_min_errors", "window_mahalanobis", "window_modes"):
            getattr(self, name).extend(getattr(other, name))
        for method in METHODS:
            self.window_errors[method].extend(other.window_errors[method])


def squared_mahalanobis(errors: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """(N, 2) errors under (N, 3) var_x, var_y, cov_xy covariances; infinite where a covariance is singular."""
    a, b, c = covariances[:, 0], covariances[:, 1], covariances[:, 2]
    x, y = errors[:, 0], errors[:, 1]
    determinant = a * b - c * c
    with np.errstate(divide="ignore", invalid="ignore"):
        values = (b * x * x - 2 * c * x * y + a * y * y) / determinant
    return np.where(determinant > 0, values, np.inf)


def _as_triple(covariance: np.ndarray) -> np.ndarray:
    return np.array([covariance[0, 0], covariance[1, 1], covariance[0, 1]])


def score_sequence(sequence: KittiSequence, outputs: list[FrameOutput]) -> Samples:
    truth = sequence_truth(sequence)
    samples = Samples()
    previous: dict[int, np.ndarray] = {}  # track id -> ground position published the frame before
    for output in outputs:
        tracks = [t for t in output.tracks if t.ground is not None]
        labelled = truth.boxes.get(output.number)
        if tracks and labelled is not None:
            label_ids, boxes = labelled
            for row, column in match_boxes(np.array([t.box for t in tracks]), boxes, MIN_BOX_IOU):
                label_id = label_ids[column]
                if truth.groups[label_id]:
                    _add_match(samples, truth, output, tracks[row], label_id, previous.get(tracks[row].track_id),
                               sequence.image_size)
        previous = {t.track_id: t.ground.position for t in tracks}
    return samples


def _add_match(samples: Samples, truth: Truth, output: FrameOutput, track, label_id: int,
               previous: np.ndarray | None, image_size: tuple[int, int]) -> None:
    key = (output.number, label_id)
    group, position, ground = truth.groups[label_id], truth.positions[key], track.ground
    error = ground.position - position
    samples.groups.append(group)
    samples.ranges.append(truth.ranges[key])
    samples.position_errors.append(float(np.linalg.norm(error)))
    samples.position_mahalanobis.append(
        float(squared_mahalanobis(error[None], _as_triple(ground.position_covariance)[None])[0]))
    samples.cut.append(cut_at_side(track.box, image_size))
    velocity = truth.velocity(*key)
    samples.velocity_errors.append(np.nan if velocity is None else float(np.linalg.norm(ground.velocity - velocity)))
    paths = output.paths.get(track.track_id)
    if not paths or previous is None:
        return
    best = max(paths, key=lambda p: p.confidence)
    steps_per_frame = best.time_step * KITTI_FRAME_RATE
    if abs(steps_per_frame - round(steps_per_frame)) > 1e-6:
        raise ValueError(f"predictor time step {best.time_step} s is not a multiple of KITTI's 0.1 s frames")
    frames = output.number + round(steps_per_frame) * np.arange(1, best.model_steps + 1)
    future = [truth.positions.get((int(f), label_id)) for f in frames]
    if any(p is None for p in future):
        return
    future = np.array(future)
    times = best.time_step * np.arange(1, best.model_steps + 1)[:, None]
    path_errors = [np.linalg.norm(p.positions[:best.model_steps] - future, axis=1) for p in paths]
    predicted = {
        "predictor": np.linalg.norm(best.positions[:best.model_steps] - future, axis=1),
        "kalman_cv": np.linalg.norm(ground.position + times * ground.velocity - future, axis=1),
        "last_step_cv": np.linalg.norm(ground.position + times * (ground.position - previous) * KITTI_FRAME_RATE
                                       - future, axis=1),
    }
    samples.window_groups.append(group)
    for method, errors in predicted.items():
        samples.window_errors[method].append(errors)
    samples.window_mahalanobis.append(
        squared_mahalanobis(best.positions[:best.model_steps] - future, best.covariances[:best.model_steps]))
    samples.window_min_errors.append((min(e.mean() for e in path_errors), min(e[-1] for e in path_errors)))
    samples.window_modes.append(len(paths))


# Columns of the three tables: (key, header, decimals; None: text or count). Rows hold values rounded to the decimals
# printed, so that the JSON and the console show the same figures.
TRACKING_COLUMNS = (("class", "class", None), ("hota", "HOTA", 1), ("mota", "MOTA", 1), ("idf1", "IDF1", 1),
                    ("id_switches", "IDSW", None), ("false_positives", "FP", None), ("misses", "FN", None))
POSITION_COLUMNS = (("class", "class", None), ("range", "range [m]", None), ("objects", "objects", None),
                    ("median_m", "median [m]", 2), ("p90_m", "p90 [m]", 2),
                    ("in_1_sigma_pct", "in 1 sigma [%]", 1), ("in_2_sigma_pct", "in 2 sigma [%]", 1),
                    ("velocity_objects", "velocity objects", None),
                    ("velocity_median_m_s", "velocity median [m/s]", 2))
PREDICTION_COLUMNS = (("class", "class", None), ("windows", "windows", None), ("paths", "paths", None),
                      ("ade_m", "ADE", 3), ("fde_m", "FDE", 3), ("min_ade_m", "minADE", 3), ("min_fde_m", "minFDE", 3),
                      ("kalman_cv_ade_m", "Kalman CV ADE", 3), ("kalman_cv_fde_m", "Kalman CV FDE", 3),
                      ("last_step_cv_ade_m", "last-step CV ADE", 3), ("last_step_cv_fde_m", "last-step CV FDE", 3),
                      ("in_1_sigma_pct", "in 1 sigma [%]", 1), ("in_2_sigma_pct", "in 2 sigma [%]", 1))
SECTIONS = {"tracking": TRACKING_COLUMNS, "positions": POSITION_COLUMNS, "prediction": PREDICTION_COLUMNS}


@dataclass
class Report:
    """The figures of one run (rows as the tables print them) and what produced them."""

    frame: str  # the ground frame scored: odom (with poses) or the vehicle frame
    sequences: list[str]
    config: str
    detections: str
    tracking: list[dict[str, Any]]
    positions: list[dict[str, Any]]
    prediction: list[dict[str, Any]]
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "sequences": self.sequences, "config": self.config,
                "detections": self.detections, "seconds": round(self.seconds, 1),
                **{name: getattr(self, name) for name in SECTIONS}}


def _row(columns: tuple, values: dict[str, Any]) -> dict[str, Any]:
    """The columns' values, rounded as printed; None where there is no figure (NaN)."""
    return {key: values[key] if decimals is None else
            None if np.isnan(values[key]) else round(float(values[key]), decimals) for key, _, decimals in columns}


def _group_order(groups: np.ndarray) -> list[str]:
    present = [g.lower() for g in CLASS_GROUPS if (groups == g.lower()).any()]
    return present + [ALL] if present else []


def _range_label(low: float, high: float) -> str:
    if np.isinf(high):
        return f"{low:g}+" if low > 0 else "any"
    return f"{low:g}-{high:g}"


def position_rows(samples: Samples, boxes: str = ALL) -> list[dict[str, Any]]:
    """Rows per class and range bin, of every box (ALL) or only of those cut at a side border ("cut") or not
    ("whole")."""
    groups, ranges = np.array(samples.groups), np.array(samples.ranges)
    of_boxes = {ALL: np.ones(len(groups), bool), "cut": np.array(samples.cut, bool),
                "whole": ~np.array(samples.cut, bool)}[boxes]
    errors, squared = np.array(samples.position_errors), np.array(samples.position_mahalanobis)
    velocity = np.array(samples.velocity_errors)
    rows = []
    for group in _group_order(groups):
        of_group = (np.ones(len(groups), bool) if group == ALL else groups == group) & of_boxes
        for low, high in RANGE_BINS:
            selected = of_group & (ranges >= low) & (ranges < high)
            if not selected.any():
                continue
            speeds = velocity[selected & ~np.isnan(velocity)]
            rows.append(_row(POSITION_COLUMNS, {
                "class": group, "range": _range_label(low, high), "objects": int(selected.sum()),
                "median_m": np.median(errors[selected]), "p90_m": np.percentile(errors[selected], 90),
                "in_1_sigma_pct": 100 * np.mean(squared[selected] <= 1.0),
                "in_2_sigma_pct": 100 * np.mean(squared[selected] <= 4.0),
                "velocity_objects": len(speeds), "velocity_median_m_s": np.median(speeds) if len(speeds) else np.nan}))
    return rows


def prediction_rows(samples: Samples) -> list[dict[str, Any]]:
    groups = np.array(samples.window_groups)
    if not len(groups):
        return []
    errors = {method: np.array(values) for method, values in samples.window_errors.items()}
    squared, modes = np.array(samples.window_mahalanobis), np.array(samples.window_modes)
    minimum = np.array(samples.window_min_errors)
    rows = []
    for group in _group_order(groups):
        selected = np.ones(len(groups), bool) if group == ALL else groups == group
        values: dict[str, Any] = {"class": group, "windows": int(selected.sum()), "paths": int(modes[selected].max()),
                                  "in_1_sigma_pct": 100 * np.mean(squared[selected] <= 1.0),
                                  "in_2_sigma_pct": 100 * np.mean(squared[selected] <= 4.0)}
        for method, prefix in (("predictor", ""), ("kalman_cv", "kalman_cv_"), ("last_step_cv", "last_step_cv_")):
            values[f"{prefix}ade_m"] = errors[method][selected].mean()
            values[f"{prefix}fde_m"] = errors[method][selected, -1].mean()
        values["min_ade_m"], values["min_fde_m"] = minimum[selected].mean(0)
        rows.append(_row(PREDICTION_COLUMNS, values))
    return rows


def tracking_rows(scores: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """TrackEval's KITTI classes (car, pedestrian) over all sequences."""
    return [_row(TRACKING_COLUMNS, {"class": name, **vars(by_sequence[COMBINED])})
            for name, by_sequence in scores.items()]


def evaluate(kitti_dir: Path, sequences: list[str], parameters: CameraParameters, poses: bool,
             detections: str = "det_2d_permatrack", config: str = "", log: Callable[[str], None] = lambda _: None
             ) -> Report:
    """Run the stages on each sequence and score them; every sequence is read first, so that a missing file (a
    sequence without poses where poses are asked for) fails before any work."""
    start = time.perf_counter()
    loaded = [load_sequence(kitti_dir, name, detections, poses) for name in sequences]
    models = ModelCache()
    samples = Samples()
    with tempfile.TemporaryDirectory() as folder:
        for sequence in loaded:
            began = time.perf_counter()
            outputs = run_sequence(sequence, parameters.tracker, load_predictor(parameters.predictor, models))
            part = score_sequence(sequence, outputs)
            samples.extend(part)
            write_kitti_results(Path(folder) / f"{sequence.name}.txt", [(o.number, o.tracks) for o in outputs],
                                sequence.image_size, sequence.rig, sequence.odom_from_vehicle)
            log(f"{sequence.name}: {len(outputs)} frames in {outputs[-1].ground_frame_id if outputs else '-'}, "
                f"{len(part.groups)} matched objects, {len(part.window_groups)} prediction windows, "
                f"{time.perf_counter() - began:.1f} s")
        scores = evaluate_kitti([kitti_dir / "label_02" / f"{name}.txt" for name in sequences],
                                {"deployed": Path(folder)})["deployed"]
    frame = "odom" if poses else parameters.tracker["vehicle_frame"]
    return Report(frame, list(sequences), config, detections, tracking_rows(scores), position_rows(samples),
                  prediction_rows(samples), time.perf_counter() - start)


def format_tables(report: Report) -> str:
    """The report's three tables as text."""
    one, two = (100 * share for share in GAUSSIAN_COVERAGE)
    velocity = "over the ground" if report.frame == "odom" else "relative to the moving vehicle"
    titles = {
        "tracking": f"Tracking (TrackEval KITTI, {report.detections}): HOTA / MOTA / IDF1 [%]",
        "positions": f"Ground positions of matched objects in {report.frame}: error of the track's position, share "
                     f"inside its covariance's 1- / 2-sigma ellipse (a calibrated Gaussian: {one:.1f} / {two:.1f} %), "
                     f"velocity error ({velocity})",
        "prediction": "Prediction ADE / FDE [m] of the most probable path, minADE / minFDE over the paths, constant "
                      "velocity from the tracker's Kalman state and from the last step; share of errors inside the "
                      "path covariance's 1- / 2-sigma ellipses",
    }
    blocks = []
    for name, columns in SECTIONS.items():
        rows = getattr(report, name)
        cells = [[header for _, header, _ in columns]]
        cells += [[str(row[key]) if decimals is None else "-" if row[key] is None else f"{row[key]:.{decimals}f}"
                   for key, _, decimals in columns] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in
                           enumerate(zip(row, widths))) for row in cells]
        blocks.append("\n".join([titles[name], *lines]))
    return "\n\n".join(blocks)
