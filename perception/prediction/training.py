"""Training of the trajectory RNN: ADE loss on the means, Gaussian NLL for the covariances.

The epoch is chosen by the class-balanced validation ADE (the mean of the per-class mean ADEs), so
that a class with few windows counts as much as one with many. After training, the correction scale
(alpha) is chosen on the validation windows, for each class on its own windows.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from perception.prediction.metrics import constant_velocity, displacement_errors, velocity_extrapolation
from perception.prediction.model import (
    PredictorConfig, TrajectoryRNN, gaussian_nll, mixture_loss, predict_windows,
)
from perception.prediction.settings import MIRROR_MODES, TrainingSettings
from perception.prediction.windows import Protocol, Windows

CORRECTION_SCALES = tuple(round(0.1 * step, 1) for step in range(11))  # alpha grid, 0 = constant velocity
def constant_velocity_base(windows: Windows, pred_len: int, time_step: float, velocity_base: bool) -> np.ndarray:
    """(N, pred_len, 2): a model's prediction at alpha 0, from the windows' tracker velocities (velocity_base) or the
    last observed step."""
    if velocity_base:
        return velocity_extrapolation(windows.observed, windows.velocities_or_last_step(time_step), pred_len,
                                      time_step)
    return constant_velocity(windows.observed, pred_len)


def model_config(
    train: Windows, protocol: Protocol, data: dict[str, str], settings: TrainingSettings
) -> PredictorConfig:
    """Config whose input scale and fallback uncertainty come from the training windows."""
    steps = np.diff(train.observed, axis=1)
    base = constant_velocity_base(train, protocol.pred_len, protocol.time_step, settings.velocity_base)
    cv_errors = np.linalg.norm(base - train.future, axis=-1)
    return PredictorConfig(
        obs_len=protocol.obs_len,
        pred_len=protocol.pred_len,
        time_step=protocol.time_step,
        hidden_size=settings.hidden_size,
        displacement_scale=float(np.sqrt((steps**2).sum(-1).mean())),
        constant_velocity_rmse=np.sqrt((cv_errors**2).mean(0)).tolist(),
        data=data,
        neighbour_radius=protocol.neighbour_radius if settings.neighbours else None,
        classes=sorted(set(train.object_classes.tolist())),
        class_input=settings.class_input,
        modes=settings.modes,
        velocity_input=settings.velocity_input,
        velocity_base=settings.velocity_base,
    )


@dataclass
class WindowTensors:
    """Training windows as tensors: positions (N, T, 2), neighbour states (N, K, 4), presence (N, K), class indices
    (N,) into the model's classes and velocities (N, 2) (the tracker's, else the last observed step's)."""

    positions: torch.Tensor
    neighbours: torch.Tensor
    present: torch.Tensor
    classes: torch.Tensor
    velocities: torch.Tensor

    @classmethod
    def of(cls, windows: Windows, config: PredictorConfig) -> "WindowTensors":
        neighbours = windows.neighbours_or_alone()
        return cls(
            torch.tensor(windows.positions, dtype=torch.float32),
            torch.tensor(neighbours.states, dtype=torch.float32),
            torch.tensor(neighbours.present),
            config.class_indices(windows.object_classes.tolist()),
            torch.tensor(windows.velocities_or_last_step(config.time_step), dtype=torch.float32),
        )

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: torch.Tensor) -> "WindowTensors":
        return WindowTensors(self.positions[index], self.neighbours[index], self.present[index], self.classes[index],
                             self.velocities[index])

    def reflected(self) -> "WindowTensors":
        """Reflected across the x axis (y -> -y, in the heading-aligned frame too), neighbours included."""
        return WindowTensors(
            self.positions * torch.tensor([1.0, -1.0]),
            self.neighbours * torch.tensor([1.0, -1.0, 1.0, -1.0]),
            self.present,
            self.classes,
            self.velocities * torch.tensor([1.0, -1.0]),
        )

    def mirrored(self, generator: torch.Generator) -> "WindowTensors":
        """Each window reflected with probability 1/2 (left/right symmetry)."""
        flip = torch.rand(len(self), generator=generator) < 0.5
        reflection = self.reflected()
        return WindowTensors(
            torch.where(flip[:, None, None], reflection.positions, self.positions),
            torch.where(flip[:, None, None], reflection.neighbours, self.neighbours),
            self.present,
            self.classes,
            torch.where(flip[:, None], reflection.velocities, self.velocities),
        )

    def concatenated(self, other: "WindowTensors") -> "WindowTensors":
        return WindowTensors(
            torch.cat([self.positions, other.positions]),
            torch.cat([self.neighbours, other.neighbours]),
            torch.cat([self.present, other.present]),
            torch.cat([self.classes, other.classes]),
            torch.cat([self.velocities, other.velocities]),
        )


def with_observation_noise(
    observed: torch.Tensor, max_noise: float, noisy_fraction: float, generator: torch.Generator
) -> torch.Tensor:
    """Observed positions (B, T, 2), a noisy_fraction of the windows with Gaussian noise added.

    The noise's standard deviation is drawn per window, uniformly from [0, max_noise] metres. The future
    stays as annotated, so the network learns to see through noise that will not be in the targets.
    """
    if max_noise <= 0.0 or noisy_fraction <= 0.0:
        return observed
    sigma = torch.rand(len(observed), 1, 1, generator=generator) * max_noise
    sigma = sigma * (torch.rand(len(observed), 1, 1, generator=generator) >= 1.0 - noisy_fraction)
    return observed + sigma * torch.randn(observed.shape, generator=generator)


def with_noisy_observations(windows: Windows, max_noise: float, noisy_fraction: float, seed: int) -> Windows:
    """A copy of the windows with observation noise drawn once (validation that looks like noisy runtime input)."""
    generator = torch.Generator().manual_seed(seed)
    noise = with_observation_noise(torch.zeros(windows.observed.shape), max_noise, noisy_fraction, generator)
    return windows.with_observed_offsets(noise.numpy())


def training_windows(train: Windows, mirror: str, config: PredictorConfig) -> WindowTensors:
    """The windows one epoch draws from: the training windows, with their reflections for mirror "both"."""
    if mirror not in MIRROR_MODES:
        raise ValueError(f"mirror must be one of {MIRROR_MODES}, not {mirror!r}")
    windows = WindowTensors.of(train, config)
    return windows.concatenated(windows.reflected()) if mirror == "both" else windows


def train_predictor(
    train: Windows, val: Windows | None, protocol: Protocol, settings: TrainingSettings, data: dict[str, str]
) -> tuple[TrajectoryRNN, dict[str, float]]:
    """The model at the epoch with the lowest validation ADE, and that epoch's validation figures; without val,
    the model after the last epoch (the epoch count chosen elsewhere, e.g. by cross-validation)."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = TrajectoryRNN(model_config(train, protocol, data, settings))
    windows = training_windows(train, settings.mirror, model.config)
    batches_per_epoch = -(-len(windows) // settings.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, settings.learning_rate, total_steps=settings.epochs * batches_per_epoch
    )
    class_weights = class_balancing_weights(windows.classes, len(model.config.classes), settings.class_balanced)
    best: dict[str, float] = {"val_ade": float("inf")}
    best_state = copy.deepcopy(model.state_dict())
    progress = tqdm(range(1, settings.epochs + 1), desc="train-predictor", unit="epoch")
    for epoch in progress:
        model.train()
        for batch in torch.randperm(len(windows), generator=generator).split(settings.batch_size):
            window = windows[batch] if settings.mirror == "both" else windows[batch].mirrored(generator)
            future = window.positions[:, protocol.obs_len :]
            observed = with_observation_noise(
                window.positions[:, : protocol.obs_len], settings.observation_noise, settings.noisy_fraction, generator
            )
            weights = class_weights[window.classes]
            if model.config.modes > 1:
                loss = mixture_loss(*model.forward_modes(observed, window.neighbours, window.present, window.classes,
                                                         window.velocities), future, weights)
            else:
                means, covariances = model(observed, window.neighbours, window.present, window.classes,
                                           window.velocities)
                ade = ((means - future).norm(dim=-1).mean(-1) * weights).mean()
                loss = ade + gaussian_nll(means.detach(), covariances, future, weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if val is None:
            best = {"val_ade": float("nan"), "val_fde": float("nan"), "epoch": epoch}
            progress.set_postfix(loss=f"{loss.item():.3f}")
            continue
        val_ade, val_fde = class_balanced_errors(model, val)
        if val_ade < best["val_ade"]:
            best = {"val_ade": float(val_ade), "val_fde": float(val_fde), "epoch": epoch}
            best_state = copy.deepcopy(model.state_dict())
        progress.set_postfix(loss=f"{loss.item():.3f}", val_ade=f"{val_ade:.3f}", best=f"{best['val_ade']:.3f}")
    if val is not None:
        model.load_state_dict(best_state)
    return model.eval(), best


def class_balancing_weights(classes: torch.Tensor, class_count: int, balanced: bool) -> torch.Tensor:
    """(class_count,) loss weight per class: N / (K n_c) for the K classes present, so that each class weighs
    the same and the weights average 1 over the windows; all 1 when not balanced."""
    if not balanced:
        return torch.ones(max(class_count, 1))
    counts = torch.bincount(classes, minlength=class_count).float()
    present = counts > 0
    return torch.where(present, len(classes) / (present.sum() * counts.clamp_min(1.0)), torch.zeros_like(counts))


def class_balanced_errors(model: TrajectoryRNN, windows: Windows) -> tuple[float, float]:
    """ADE and FDE averaged per class first, then over the classes (each class weighs the same)."""
    ade, fde = displacement_errors(predict_windows(model, windows), windows.future)
    classes = sorted(set(windows.object_classes.tolist()))
    per_class = [(ade[windows.object_classes == name].mean(), fde[windows.object_classes == name].mean())
                 for name in classes]
    return float(np.mean([a for a, _ in per_class])), float(np.mean([f for _, f in per_class]))


def choose_correction_scale(model: TrajectoryRNN, val: Windows) -> dict[str, dict[float, float]]:
    """Set the correction scales to the grid values with the lowest validation ADE (the smallest on ties).

    The default (correction_scale, for classes without their own) is chosen on all validation windows; each
    of the model's classes with validation windows gets its own alpha, chosen on its windows alone (alpha 0:
    constant velocity predicts that class better than the network). Returns the validation ADE per grid
    value for "all" and per class of the validation windows (classes the model does not know use the default).
    """
    config = model.config
    config.class_correction_scales = {}
    groups = {"all": np.ones(len(val), bool)}
    groups.update({name: val.object_classes == name for name in sorted(set(val.object_classes.tolist()))})
    val_ade: dict[str, dict[float, float]] = {group: {} for group in groups}
    for alpha in CORRECTION_SCALES:
        config.correction_scale = alpha
        errors = displacement_errors(predict_windows(model, val), val.future)[0]
        for group, mask in groups.items():
            val_ade[group][alpha] = float(errors[mask].mean())
    best = {group: min(ades, key=ades.__getitem__) for group, ades in val_ade.items()}
    config.correction_scale = best.pop("all")
    config.class_correction_scales = {name: alpha for name, alpha in best.items() if name in config.classes}
    return val_ade


def measure_class_constant_velocity_rmse(model: TrajectoryRNN, val: Windows) -> None:
    """Set the model's constant-velocity RMSE per class (the uncertainty of its constant-velocity paths) from each of
    its classes' validation windows: the held-out tracks of the runtime's domain, with the validation's observation
    noise when there is one. Training windows can misstate it: interpolated ETH/UCY tracks make constant velocity
    exact one step ahead."""
    config = model.config
    base = constant_velocity_base(val, config.pred_len, config.time_step, config.velocity_base)
    errors = np.linalg.norm(base - val.future, axis=-1)
    model.config.class_constant_velocity_rmse = {
        name: np.sqrt((errors[val.object_classes == name] ** 2).mean(0)).tolist()
        for name in model.config.classes
        if (val.object_classes == name).any()
    }
