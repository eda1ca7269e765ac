"""Accuracy and covariance consistency of metric ground positions on KITTI tracking labels (ground-truth boxes).

Each labelled 2D box is placed on the ground by MetricPositionEstimator (and, for comparison, by the bottom-centre
flat-ground projection GroundPlaneProjector) and compared with the bottom-face centre of its 3D box (the KITTI
`location`), i.e. the object's centre on the ground."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.datasets.kitti import labelled_image_size, read_calibration, read_objects
from perception.datasets.kitti_rig import KittiRig
from perception.evaluation.tracking_sequences import KITTI_TYPE_CLASSES
from perception.tracking.ground_plane import GroundMeasurements, GroundPlaneProjector
from perception.tracking.metric_position import MetricPositionEstimator
from perception.types import ObjectClass

# A tram is far longer than any bus: no size prior fits it.
EVALUATED_TYPES = {**KITTI_TYPE_CLASSES, "Tram": ObjectClass.UNKNOWN, "Misc": ObjectClass.UNKNOWN}
RANGE_BINS = [(0.0, 15.0), (15.0, 30.0), (30.0, 50.0), (50.0, np.inf), (0.0, 30.0), (0.0, np.inf)]
# Share of a 2D Gaussian inside its 1-sigma and 2-sigma ellipses: 1 - exp(-k^2 / 2).
GAUSSIAN_COVERAGE = (1.0 - np.exp(-0.5), 1.0 - np.exp(-2.0))


@dataclass
class MethodErrors:
    errors: np.ndarray  # (N,) metres; NaN where the method gave no valid position
    mahalanobis: np.ndarray  # (N,) squared Mahalanobis distance of the error under the reported covariance

    @classmethod
    def of(cls, measured: GroundMeasurements, truth: np.ndarray) -> "MethodErrors":
        difference = measured.positions - truth
        with np.errstate(invalid="ignore"):
            solved = np.linalg.solve(measured.covariances[measured.valid], difference[measured.valid][..., None])
        squared = np.full(len(truth), np.nan)
        squared[measured.valid] = np.einsum("ni,ni->n", difference[measured.valid], solved[..., 0])
        return cls(np.where(measured.valid, np.linalg.norm(difference, axis=1), np.nan), squared)

    @classmethod
    def concatenate(cls, parts: list["MethodErrors"]) -> "MethodErrors":
        return cls(np.concatenate([p.errors for p in parts]), np.concatenate([p.mahalanobis for p in parts]))

    def select(self, mask: np.ndarray) -> "MethodErrors":
        return MethodErrors(self.errors[mask], self.mahalanobis[mask])


@dataclass
class PositionErrors:
    classes: np.ndarray  # (N,) ObjectClass values of the labelled objects (DontCare excluded)
    ranges: np.ndarray  # (N,) true distance from the vehicle origin, metres
    fused: MethodErrors  # MetricPositionEstimator
    bottom_centre: MethodErrors  # GroundPlaneProjector, the box bottom-centre on flat ground


@dataclass
class ErrorRow:
    object_class: str
    range_bin: str
    objects: int
    invalid: int  # objects the method gave no position
    median: float
    p90: float
    within_1_sigma: float  # share of errors inside the 1-sigma ellipse
    within_2_sigma: float
    baseline_median: float  # the bottom-centre method on the same objects
    baseline_p90: float


def sequence_position_errors(label_path: Path, calib_path: Path, pose: str = "level",
                             covariance_scales: dict[ObjectClass, float] | None = None) -> PositionErrors:
    """Errors of every labelled object of one sequence. pose: "level" (KittiRig.level) or "lidar" (from_lidar);
    covariance_scales: the estimator's (None: its default, calibrated on tracks of detector boxes; {}: none)."""
    calibration = read_calibration(calib_path)
    rig = KittiRig.level(calibration) if pose == "level" else KittiRig.from_lidar(calibration)
    camera = rig.camera_pose(calibration)
    labelled = read_objects(label_path)
    objects = [o for o in labelled if o.type in EVALUATED_TYPES]
    boxes = np.array([o.box for o in objects]).reshape(-1, 4)
    classes = np.array([int(EVALUATED_TYPES[o.type]) for o in objects], int)
    truth = rig.to_vehicle(np.array([o.location for o in objects]).reshape(-1, 3))[:, :2]  # bottom-face centres
    size = labelled_image_size(labelled)  # KITTI's differ by recording day
    estimator = MetricPositionEstimator(rig.intrinsics, camera, size, covariance_scales=covariance_scales)
    baseline = GroundPlaneProjector(rig.intrinsics, camera)
    return PositionErrors(
        classes,
        np.linalg.norm(truth, axis=1),
        MethodErrors.of(estimator.project_boxes(boxes, classes), truth),
        MethodErrors.of(baseline.project_boxes(boxes), truth),
    )


def position_error_table(kitti_dir: Path, sequences: list[str], pose: str = "level",
                         covariance_scales: dict[ObjectClass, float] | None = None) -> list[ErrorRow]:
    """Rows per class (and all classes) and range bin (RANGE_BINS) over the given sequences."""
    parts = [
        sequence_position_errors(kitti_dir / "label_02" / f"{s}.txt", kitti_dir / "calib" / f"{s}.txt", pose,
                                 covariance_scales)
        for s in sequences
    ]
    classes = np.concatenate([p.classes for p in parts])
    ranges = np.concatenate([p.ranges for p in parts])
    fused = MethodErrors.concatenate([p.fused for p in parts])
    bottom_centre = MethodErrors.concatenate([p.bottom_centre for p in parts])
    rows = []
    for object_class in [*sorted(set(classes.tolist())), None]:
        name = "all" if object_class is None else ObjectClass(object_class).name.lower()
        of_class = np.ones(len(classes), bool) if object_class is None else classes == object_class
        for low, high in RANGE_BINS:
            selected = of_class & (ranges >= low) & (ranges < high)
            if selected.any():
                label = f"{low:g}+" if np.isinf(high) and low > 0 else "any" if np.isinf(high) else f"{low:g}-{high:g}"
                rows.append(_row(name, label, fused.select(selected), bottom_centre.select(selected)))
    return rows


def _row(name: str, range_bin: str, fused: MethodErrors, baseline: MethodErrors) -> ErrorRow:
    valid = fused.errors[~np.isnan(fused.errors)]
    squared = fused.mahalanobis[~np.isnan(fused.mahalanobis)]
    baseline_valid = baseline.errors[~np.isnan(baseline.errors)]
    return ErrorRow(
        name, range_bin, len(fused.errors), len(fused.errors) - len(valid),
        *_median_p90(valid),
        float(np.mean(squared <= 1.0)) if len(squared) else np.nan,
        float(np.mean(squared <= 4.0)) if len(squared) else np.nan,
        *_median_p90(baseline_valid),
    )


def _median_p90(errors: np.ndarray) -> tuple[float, float]:
    if not len(errors):
        return np.nan, np.nan
    return float(np.median(errors)), float(np.percentile(errors, 90))
