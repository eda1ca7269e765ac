"""Leave-one-sequence-out cross-validation of predictor training choices on tracker windows.

Each fold trains on every sequence but one (for a fixed number of epochs: no validation split to choose it) and
predicts the held-out sequence's windows. Means are linear in the correction scale alpha (constant velocity plus
alpha times the learned correction), so each fold keeps its predictions at alpha 0 and 1, and any alpha is their
blend. A fold's alpha per class is chosen on the other folds' held-out predictions of that class (nested: the held-out
sequence's own errors never choose its alpha); classes with no other fold's windows keep alpha 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from perception.datasets.kitti_tracker_windows import TrackerWindows
from perception.prediction.metrics import constant_velocity, displacement_errors
from perception.prediction.model import TrajectoryRNN, predict_window_modes
from perception.prediction.training import (
    CORRECTION_SCALES, TrainingSettings, constant_velocity_base, train_predictor,
)
from perception.prediction.windows import Protocol, Windows

CLASSES = ("vehicle", "pedestrian", "cyclist")


@dataclass
class Candidate:
    """One set of training choices."""

    name: str
    settings: TrainingSettings
    joint: bool = False  # one model trained on the windows of every frame, else one model per frame
    clean_labels: bool = False  # the training sequences' label windows (same frame) join the tracker windows
    # train on TrackerWindows.motion_targets (the truth's displacement from the last published position), not on
    # the truth's positions, which carry the estimator's current error
    motion_targets: bool = False


@dataclass
class FoldPredictions:
    """Held-out predictions of one fold in one frame: at alpha 0 (the model's constant-velocity base: the last step's,
    or the tracker's velocity for a velocity_base model) and alpha 1."""

    sequence: str
    frame: str
    windows: TrackerWindows
    alpha_zero: np.ndarray  # (N, pred_len, 2)
    alpha_one: np.ndarray  # the most probable mode's
    modes_one: np.ndarray  # (N, modes, pred_len, 2): every mode's at alpha 1

    def at(self, alphas: dict[str, float]) -> np.ndarray:
        """Means of the most probable mode with each window's class alpha (classes not in alphas: 1)."""
        return self.alpha_zero + self._alphas(alphas)[:, None, None] * (self.alpha_one - self.alpha_zero)

    def modes_at(self, alphas: dict[str, float]) -> np.ndarray:
        """Every mode's means with each window's class alpha."""
        zero = self.alpha_zero[:, None]
        return zero + self._alphas(alphas)[:, None, None, None] * (self.modes_one - zero)

    def _alphas(self, alphas: dict[str, float]) -> np.ndarray:
        return np.array([alphas.get(name, 1.0) for name in self.windows.windows.object_classes.tolist()])


@dataclass
class CrossValidation:
    candidate: Candidate
    time_step: float  # seconds between predicted positions
    folds: list[FoldPredictions] = field(default_factory=list)

    def nested_alphas(self, fold: FoldPredictions) -> dict[str, float]:
        """Alpha per class with the lowest ADE over the other folds (smallest on ties): of the same frame for one
        model per frame, of every frame for a joint model (one checkpoint, one alpha per class for both frames)."""
        others = [f for f in self.folds
                  if f.sequence != fold.sequence and (self.candidate.joint or f.frame == fold.frame)]
        return choose_alphas(others)

    def pooled_alphas(self, frame: str) -> dict[str, float]:
        """Alpha per class over every fold (of the frame, for one model per frame): the model trained on all
        sequences gets these."""
        return choose_alphas([f for f in self.folds if self.candidate.joint or f.frame == frame])

    def rows(self) -> list[dict]:
        """One row per fold, frame and class present: windows, alpha, ADE/FDE of the model (nested alpha), of
        constant velocity from the tracker state and of last-step constant velocity."""
        rows = []
        for fold in self.folds:
            alphas = self.nested_alphas(fold)
            windows = fold.windows.windows
            predictions = {
                "model": fold.at(alphas),
                "state_cv": fold.windows.state_constant_velocity(self.time_step),
                "last_step_cv": constant_velocity(windows.observed, windows.future.shape[1]),
            }
            errors = {name: displacement_errors(p, windows.future) for name, p in predictions.items()}
            distances = np.linalg.norm(fold.modes_at(alphas) - windows.future[:, None], axis=-1)
            errors["min_over_modes"] = distances.mean(-1).min(-1), distances[..., -1].min(-1)
            for name in CLASSES:
                mask = windows.object_classes == name
                if not mask.any():
                    continue
                row = {"sequence": fold.sequence, "frame": fold.frame, "class": name, "windows": int(mask.sum()),
                       "alpha": alphas.get(name, 1.0)}
                for key, (ade, fde) in errors.items():
                    row[f"{key}_ade"], row[f"{key}_fde"] = float(ade[mask].mean()), float(fde[mask].mean())
                rows.append(row)
        return rows


def choose_alphas(folds: list[FoldPredictions]) -> dict[str, float]:
    """Per class with windows in the folds: the grid alpha with the lowest pooled ADE (the smallest on ties)."""
    alphas = {}
    for name in CLASSES:
        parts = [(f, f.windows.windows.object_classes == name) for f in folds]
        parts = [(f, mask) for f, mask in parts if mask.any()]
        if not parts:
            continue
        future = np.concatenate([f.windows.windows.future[mask] for f, mask in parts])
        zero = np.concatenate([f.alpha_zero[mask] for f, mask in parts])
        one = np.concatenate([f.alpha_one[mask] for f, mask in parts])
        ades = [displacement_errors(zero + alpha * (one - zero), future)[0].mean() for alpha in CORRECTION_SCALES]
        alphas[name] = CORRECTION_SCALES[int(np.argmin(ades))]
    return alphas


def training_windows(candidate: Candidate, tracker: dict[str, dict[str, TrackerWindows]],
                     clean: dict[str, dict[str, Windows]], frames: list[str], sequences: list[str]) -> Windows:
    """The tracker windows (and with clean_labels the label windows) of the sequences in the frames."""
    parts = [tracker[frame][s].motion_targets() if candidate.motion_targets else tracker[frame][s].windows
             for frame in frames for s in sequences]
    if candidate.clean_labels:
        parts += [clean[frame][s] for frame in frames for s in sequences]
    windows = parts[0]
    for part in parts[1:]:
        windows = windows.concatenated(part)
    return windows


def train_model(windows: Windows, protocol: Protocol, settings: TrainingSettings, data: dict[str, str]
                ) -> TrajectoryRNN:
    """The model after settings.epochs epochs on the windows (no validation)."""
    model, _ = train_predictor(windows, None, protocol, settings, data)
    return model


def predictions_at_alpha_zero_and_one(model: TrajectoryRNN, windows: Windows
                                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means at alpha 0 (the model's constant-velocity base), the most probable mode's at alpha 1 and every mode's."""
    config = model.config
    saved = config.correction_scale, dict(config.class_correction_scales)
    config.correction_scale, config.class_correction_scales = 1.0, {}
    modes, probabilities = predict_window_modes(model, windows)
    config.correction_scale, config.class_correction_scales = saved
    one = modes[np.arange(len(modes)), probabilities.argmax(-1)]
    return constant_velocity_base(windows, config.pred_len, config.time_step, config.velocity_base), one, modes


def cross_validate(candidate: Candidate, tracker: dict[str, dict[str, TrackerWindows]],
                   clean: dict[str, dict[str, Windows]], protocol: Protocol, log=print) -> CrossValidation:
    """Every fold of every frame in `tracker` (frame -> sequence -> windows)."""
    frames = list(tracker)
    sequences = sorted(next(iter(tracker.values())))
    result = CrossValidation(candidate, protocol.time_step)
    for held_out in sequences:
        train_sequences = [s for s in sequences if s != held_out]
        groups = [frames] if candidate.joint else [[frame] for frame in frames]
        for group in groups:
            torch.manual_seed(candidate.settings.seed)
            windows = training_windows(candidate, tracker, clean, group, train_sequences)
            data = {"dataset": "kitti_tracker", "train": ",".join(train_sequences), "frame": "+".join(group)}
            model = train_model(windows, protocol, candidate.settings, data)
            for frame in group:
                held = tracker[frame][held_out]
                result.folds.append(FoldPredictions(held_out, frame, held,
                                                    *predictions_at_alpha_zero_and_one(model, held.windows)))
            log(f"{candidate.name}: fold {held_out} {'+'.join(group)} trained on {len(windows)} windows")
    return result


def summary(rows: list[dict], frame: str) -> dict[str, dict[str, float]]:
    """Per class: windows and the window-weighted ADE/FDE over the folds of one frame (pooled)."""
    result = {}
    for name in CLASSES:
        selected = [r for r in rows if r["frame"] == frame and r["class"] == name]
        total = sum(r["windows"] for r in selected)
        if not total:
            continue
        result[name] = {"windows": total}
        for key in ("model_ade", "model_fde", "state_cv_ade", "state_cv_fde", "last_step_cv_ade",
                    "last_step_cv_fde", "min_over_modes_ade", "min_over_modes_fde"):
            result[name][key] = sum(r[key] * r["windows"] for r in selected) / total
    return result


# the candidates compared (docs/predictor.md): a base and one change at a time
BASE_SETTINGS = TrainingSettings(epochs=20, mirror="random", class_balanced=True)
CANDIDATES = {
    "A": Candidate("A: tracker windows, one model per frame, 20 epochs, class-balanced", BASE_SETTINGS),
    "B": Candidate("B: A without the class-balanced loss", replace(BASE_SETTINGS, class_balanced=False)),
    "C": Candidate("C: A plus the training sequences' label windows", BASE_SETTINGS, clean_labels=True),
    "D": Candidate("D: A with one model for both frames", BASE_SETTINGS, joint=True),
    "E": Candidate("E: A with 40 epochs", replace(BASE_SETTINGS, epochs=40)),
    "F": Candidate("F: A with observation noise up to 10 cm on half the windows",
                   replace(BASE_SETTINGS, observation_noise=0.1)),
    "G": Candidate("G: D with 3 modes (winner-takes-all mixture)", replace(BASE_SETTINGS, modes=3), joint=True),
    "H": Candidate("H: D plus the training sequences' label windows", BASE_SETTINGS, joint=True, clean_labels=True),
    "M": Candidate("M: D trained on motion targets", BASE_SETTINGS, joint=True, motion_targets=True),
    "N": Candidate("N: M with 3 modes (winner-takes-all mixture)", replace(BASE_SETTINGS, modes=3), joint=True,
                   motion_targets=True),
    "V": Candidate("V: M with the tracker's velocity as constant-velocity base and input",
                   replace(BASE_SETTINGS, velocity_base=True), joint=True, motion_targets=True),
    "I": Candidate("I: M with the tracker's velocity as an input (the base stays the last step)",
                   replace(BASE_SETTINGS, velocity_input=True), joint=True, motion_targets=True),
}


def format_summary(name: str, pooled: dict[str, dict[str, dict[str, float]]]) -> str:
    """The pooled held-out figures of a candidate: per frame and class, model / state CV / last-step CV."""
    lines = [name, f"{'frame':<10}{'class':<11}{'windows':>8}{'ADE':>8}{'FDE':>8}{'stateCV':>9}{'stateCV':>9}"
             f"{'lastCV':>8}{'lastCV':>8}{'minADE':>8}{'minFDE':>8}"]
    for frame, classes in pooled.items():
        for group, row in classes.items():
            lines.append(f"{frame:<10}{group:<11}{row['windows']:>8d}{row['model_ade']:>8.3f}{row['model_fde']:>8.3f}"
                         f"{row['state_cv_ade']:>9.3f}{row['state_cv_fde']:>9.3f}{row['last_step_cv_ade']:>8.3f}"
                         f"{row['last_step_cv_fde']:>8.3f}{row['min_over_modes_ade']:>8.3f}"
                         f"{row['min_over_modes_fde']:>8.3f}")
    return "\n".join(lines)
