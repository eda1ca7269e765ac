"""ADE/FDE of a predictor and of the constant-velocity baseline on the same windows."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from perception.prediction.metrics import constant_velocity, displacement_errors
from perception.prediction.model import TrajectoryRNN, predict_windows
from perception.prediction.windows import Protocol, Windows


def check_protocol(model: TrajectoryRNN, protocol: Protocol) -> None:
    config = model.config
    if (config.obs_len, config.pred_len) != (protocol.obs_len, protocol.pred_len) or not np.isclose(
        config.time_step, protocol.time_step
    ):
        raise ValueError(
            f"model observes {config.obs_len} and predicts {config.pred_len} steps of {config.time_step} s; "
            f"the protocol needs {protocol.obs_len}/{protocol.pred_len} steps of {protocol.time_step} s"
        )


def with_position_noise(windows: Windows, sigma: float, seed: int = 0) -> Windows:
    """A copy whose observed positions carry Gaussian noise of standard deviation sigma (m), as from a tracker."""
    return windows.with_observed_offsets(np.random.default_rng(seed).normal(scale=sigma, size=windows.observed.shape))


def evaluate(model: TrajectoryRNN, windows: Windows) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Metrics per object class (and "all") for the model and the baseline; the model's predictions."""
    predictions = predict_windows(model, windows)
    baseline = constant_velocity(windows.observed, model.config.pred_len)
    errors = {
        "model": displacement_errors(predictions, windows.future),
        "constant_velocity": displacement_errors(baseline, windows.future),
    }
    metrics = {}
    for group in ["all", *sorted(set(windows.object_classes))]:
        mask = np.ones(len(windows), bool) if group == "all" else windows.object_classes == group
        metrics[group] = {"windows": int(mask.sum())}
        if group != "all":  # alpha 0: the model predicts constant velocity for this class
            metrics[group]["correction_scale"] = model.config.class_correction_scales.get(
                group, model.config.correction_scale
            )
        for name, (ade, fde) in errors.items():
            metrics[group][f"{name}_ade"] = float(ade[mask].mean())
            metrics[group][f"{name}_fde"] = float(fde[mask].mean())
    return metrics, predictions


def format_table(metrics: dict[str, dict[str, float]]) -> str:
    lines = [f"{'class':<12}{'windows':>8}{'alpha':>6}{'ADE':>8}{'FDE':>8}{'CV ADE':>8}{'CV FDE':>8}   (metres)"]
    for group, row in metrics.items():
        alpha = f"{row['correction_scale']:>6.1f}" if "correction_scale" in row else " " * 6
        lines.append(
            f"{group:<12}{row['windows']:>8d}{alpha}{row['model_ade']:>8.3f}{row['model_fde']:>8.3f}"
            f"{row['constant_velocity_ade']:>8.3f}{row['constant_velocity_fde']:>8.3f}"
        )
    return "\n".join(lines)


def write_predictions_csv(path: str | Path, windows: Windows, predictions: np.ndarray) -> None:
    """One row per window and future step: sequence_or_file,object_id,first_future_frame,step,x,y."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["sequence_or_file", "object_id", "first_future_frame", "step", "x", "y"])
        for index, path_points in enumerate(predictions):
            for step, (x, y) in enumerate(path_points, 1):
                writer.writerow(
                    [windows.sources[index], windows.object_ids[index], windows.first_future_frames[index], step,
                     f"{x:.4f}", f"{y:.4f}"]
                )
