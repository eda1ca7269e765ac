"""Training of the trajectory RNN: ADE loss on the means, Gaussian NLL for the covariances.

After training, the correction scale (alpha) is chosen on the validation windows.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from perception.prediction.evaluation import predict_windows
from perception.prediction.metrics import constant_velocity, displacement_errors
from perception.prediction.model import PredictorConfig, TrajectoryRNN, gaussian_nll
from perception.prediction.sources import Protocol
from perception.prediction.windows import Windows

CORRECTION_SCALES = tuple(round(0.1 * step, 1) for step in range(11))  # alpha grid, 0 = constant velocity
# "random": each window reflected with probability 1/2 per batch; "both": every window in both orientations
MIRROR_MODES = ("random", "both")


@dataclass
class TrainingSettings:
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 2e-3
    hidden_size: int = 64
    seed: int = 0
    mirror: str = "both"  # one of MIRROR_MODES
    # annotation-noise augmentation: a noisy_fraction of the windows get Gaussian noise on their observed
    # positions, with a standard deviation drawn per window from [0, observation_noise] metres
    observation_noise: float = 0.0
    noisy_fraction: float = 0.5
    neighbours: bool = False  # give the model the other objects within the protocol's neighbour radius


def model_config(
    train: Windows, protocol: Protocol, hidden_size: int, data: dict[str, str], neighbours: bool
) -> PredictorConfig:
    """Config whose input scale and fallback uncertainty come from the training windows."""
    steps = np.diff(train.observed, axis=1)
    cv_errors = np.linalg.norm(constant_velocity(train.observed, protocol.pred_len) - train.future, axis=-1)
    return PredictorConfig(
        obs_len=protocol.obs_len,
        pred_len=protocol.pred_len,
        time_step=protocol.time_step,
        hidden_size=hidden_size,
        displacement_scale=float(np.sqrt((steps**2).sum(-1).mean())),
        constant_velocity_rmse=np.sqrt((cv_errors**2).mean(0)).tolist(),
        data=data,
        neighbour_radius=protocol.neighbour_radius if neighbours else None,
    )


@dataclass
class WindowTensors:
    """Training windows as tensors: positions (N, T, 2), neighbour states (N, K, 4) and presence (N, K)."""

    positions: torch.Tensor
    neighbours: torch.Tensor
    present: torch.Tensor

    @classmethod
    def of(cls, windows: Windows) -> "WindowTensors":
        neighbours = windows.neighbours_or_alone()
        return cls(
            torch.tensor(windows.positions, dtype=torch.float32),
            torch.tensor(neighbours.states, dtype=torch.float32),
            torch.tensor(neighbours.present),
        )

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: torch.Tensor) -> "WindowTensors":
        return WindowTensors(self.positions[index], self.neighbours[index], self.present[index])

    def reflected(self) -> "WindowTensors":
        """Reflected across the x axis (y -> -y, in the heading-aligned frame too), neighbours included."""
        return WindowTensors(
            self.positions * torch.tensor([1.0, -1.0]),
            self.neighbours * torch.tensor([1.0, -1.0, 1.0, -1.0]),
            self.present,
        )

    def mirrored(self, generator: torch.Generator) -> "WindowTensors":
        """Each window reflected with probability 1/2 (left/right symmetry)."""
        flip = torch.rand(len(self), generator=generator) < 0.5
        reflection = self.reflected()
        return WindowTensors(
            torch.where(flip[:, None, None], reflection.positions, self.positions),
            torch.where(flip[:, None, None], reflection.neighbours, self.neighbours),
            self.present,
        )

    def concatenated(self, other: "WindowTensors") -> "WindowTensors":
        return WindowTensors(
            torch.cat([self.positions, other.positions]),
            torch.cat([self.neighbours, other.neighbours]),
            torch.cat([self.present, other.present]),
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


def training_windows(train: Windows, mirror: str) -> WindowTensors:
    """The windows one epoch draws from: the training windows, with their reflections for mirror "both"."""
    if mirror not in MIRROR_MODES:
        raise ValueError(f"mirror must be one of {MIRROR_MODES}, not {mirror!r}")
    windows = WindowTensors.of(train)
    return windows.concatenated(windows.reflected()) if mirror == "both" else windows


def train_predictor(
    train: Windows, val: Windows, protocol: Protocol, settings: TrainingSettings, data: dict[str, str]
) -> tuple[TrajectoryRNN, dict[str, float]]:
    """The model at the epoch with the lowest validation ADE, and that epoch's validation figures."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = TrajectoryRNN(model_config(train, protocol, settings.hidden_size, data, settings.neighbours))
    windows = training_windows(train, settings.mirror)
    batches_per_epoch = -(-len(windows) // settings.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, settings.learning_rate, total_steps=settings.epochs * batches_per_epoch
    )
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
            means, covariances = model(observed, window.neighbours, window.present)
            ade = (means - future).norm(dim=-1).mean()
            loss = ade + gaussian_nll(means.detach(), covariances, future)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        val_ade, val_fde = (errors.mean() for errors in displacement_errors(predict_windows(model, val), val.future))
        if val_ade < best["val_ade"]:
            best = {"val_ade": float(val_ade), "val_fde": float(val_fde), "epoch": epoch}
            best_state = copy.deepcopy(model.state_dict())
        progress.set_postfix(loss=f"{loss.item():.3f}", val_ade=f"{val_ade:.3f}", best=f"{best['val_ade']:.3f}")
    model.load_state_dict(best_state)
    return model.eval(), best


def choose_correction_scale(model: TrajectoryRNN, val: Windows) -> dict[float, float]:
    """Set the model's correction scale to the grid value with the lowest validation ADE (the smallest on ties).

    Returns the validation ADE per grid value.
    """
    val_ade = {}
    for alpha in CORRECTION_SCALES:
        model.config.correction_scale = alpha
        val_ade[alpha] = float(displacement_errors(predict_windows(model, val), val.future)[0].mean())
    model.config.correction_scale = min(val_ade, key=val_ade.__getitem__)
    return val_ade
