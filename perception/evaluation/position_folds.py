"""Calibration of the ground-position covariance per class on KITTI tracking detections, cross-validated by leaving
one sequence out (`perception fit-position-covariance`).

The deployed stages run on each sequence with the estimator's covariance unscaled and are scored as eval-kitti
scores them (perception.evaluation.kitti_scores: tracks matched to labels, squared Mahalanobis distance of the error
under the track's covariance). A class's factor is the one whose scaled distances come closest to a Gaussian's
coverage (39.3 % inside 1 sigma, 86.5 % inside 2 sigma) in its worst range bin: the largest deviation of the two
shares over the bins with at least MIN_BIN_OBJECTS objects (all its objects where no bin has that many). Each fold
fits the factors on the other sequences and runs its own sequence again with them; the pooled held-out runs give the
cross-validated table. A class keeps the factor fitted on every sequence where its pooled held-out runs come closer
to a Gaussian's coverage (the same worst deviation) than its unscaled runs, and factor 1 otherwise: those are the
factors to ship (COVARIANCE_SCALES).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.evaluation.ground_positions import GAUSSIAN_COVERAGE
from perception.evaluation.kitti_pipeline import load_sequence, run_sequence
from perception.evaluation.kitti_scores import Samples, position_rows, score_sequence
from perception.pipeline.camera import CameraParameters
from perception.types import ObjectClass

SCALED_CLASSES = {"car": ObjectClass.CAR, "pedestrian": ObjectClass.PEDESTRIAN, "cyclist": ObjectClass.BICYCLE}
FITTED_BINS = ((0.0, 15.0), (15.0, 30.0), (30.0, 50.0), (50.0, np.inf))
MIN_BIN_OBJECTS = 100
FACTORS = np.geomspace(0.25, 4.0, 161)  # candidates, 1.75 % apart


@dataclass
class Fold:
    held_out: str
    scales: dict[str, float]  # class group -> factor fitted on the other sequences
    positions: list[dict[str, Any]]  # eval-kitti's position rows of the held-out sequence run with those factors
    unscaled: list[dict[str, Any]]  # the same sequence's rows with factor 1


@dataclass
class CrossValidation:
    unscaled: list[dict[str, Any]]  # every sequence, factor 1
    folds: list[Fold]
    held_out: list[dict[str, Any]]  # the held-out runs pooled
    held_out_boxes: dict[str, list[dict[str, Any]]]  # the same of the boxes cut at a side border ("cut"), the others
    scales: dict[str, float]  # fitted on every sequence
    deviations: dict[str, tuple[float, float]]  # class -> worst deviation (share) unscaled, held out
    chosen: dict[str, float]  # class -> the factor to ship (scales where the held-out runs deviate less, else 1)


def worst_deviation(squared: np.ndarray, ranges: np.ndarray, factor: float) -> float:
    """The largest deviation (share, 0-1) from a Gaussian's 1- and 2-sigma coverage over the fitted range bins of
    distances `squared` whose covariances are multiplied by `factor`."""
    bins = [(ranges >= low) & (ranges < high) for low, high in FITTED_BINS]
    bins = [b for b in bins if b.sum() >= MIN_BIN_OBJECTS] or [np.ones(len(squared), bool)]
    scaled = squared / factor
    return max(max(abs(np.mean(scaled[b] <= 1.0) - GAUSSIAN_COVERAGE[0]),
                   abs(np.mean(scaled[b] <= 4.0) - GAUSSIAN_COVERAGE[1])) for b in bins)


def fit_scales(samples: Samples) -> dict[str, float]:
    """Per class group, the factor (of FACTORS) with the smallest worst deviation (see worst_deviation)."""
    groups, ranges = np.array(samples.groups), np.array(samples.ranges)
    squared = np.array(samples.position_mahalanobis)
    scales = {}
    for group in SCALED_CLASSES:
        selected = groups == group
        if selected.any():
            deviations = [worst_deviation(squared[selected], ranges[selected], f) for f in FACTORS]
            scales[group] = float(FACTORS[int(np.argmin(deviations))])
    return scales


def as_class_scales(scales: dict[str, float]) -> dict[ObjectClass, float]:
    return {SCALED_CLASSES[group]: factor for group, factor in scales.items()}


def cross_validate(kitti_dir: Path, sequences: list[str], parameters: CameraParameters, detections: str,
                   log: Callable[[str], None] = lambda _: None) -> CrossValidation:
    loaded = {name: load_sequence(kitti_dir, name, detections, poses=False) for name in sequences}

    def samples(name: str, scales: dict[ObjectClass, float]) -> Samples:
        return score_sequence(loaded[name], run_sequence(loaded[name], parameters.tracker, covariance_scales=scales))

    unscaled = {name: samples(name, {}) for name in sequences}
    log("unscaled runs done")
    folds, pooled = [], Samples()
    for name in sequences:
        training = Samples()
        for other in sequences:
            if other != name:
                training.extend(unscaled[other])
        scales = fit_scales(training)
        held_out = samples(name, as_class_scales(scales))
        pooled.extend(held_out)
        folds.append(Fold(name, scales, position_rows(held_out), position_rows(unscaled[name])))
        log(f"fold {name}: " + ", ".join(f"{group} {factor:.2f}" for group, factor in scales.items()))
    everything = Samples()
    for part in unscaled.values():
        everything.extend(part)
    scales = fit_scales(everything)
    deviations = {group: (_worst(everything, group), _worst(pooled, group)) for group in scales}
    chosen = {group: scales[group] if held_out < without else 1.0
              for group, (without, held_out) in deviations.items()}
    return CrossValidation(position_rows(everything), folds, position_rows(pooled),
                           {boxes: position_rows(pooled, boxes) for boxes in ("cut", "whole")}, scales, deviations,
                           chosen)


def _worst(samples: Samples, group: str) -> float:
    selected = np.array(samples.groups) == group
    return worst_deviation(np.array(samples.position_mahalanobis)[selected], np.array(samples.ranges)[selected], 1.0)
