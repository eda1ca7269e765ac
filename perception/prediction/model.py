"""GRU encoder and feed-forward decoder predicting a 2D Gaussian per future step from past positions.

The decoder emits all future steps at once (no recurrence) to keep 100 tracks within a few ms.

Inputs are the observed displacements in a frame centred on the last observed position with x
along the observed heading (last minus first position), so a prediction moves and turns with its
track; outputs come back in the caller's frame. Models with a neighbour radius also encode the
nearest other objects (their positions and last steps relative to the track's, in the same frame)
one by one and max-pool them, as in social pooling: whether a walker has company, someone in the
way or a crowd around reaches the decoder. Future displacements are predicted as corrections
to the last observed one, so the untrained network starts out as the constant-velocity model.
The corrections are scaled by the checkpoint's correction_scale (alpha in [0, 1], chosen on the
validation split), per object class where the checkpoint has class_correction_scales: alpha = 0 is
exactly constant velocity, alpha = 1 the network as trained. Models with class_input also see the
object class (one-hot, next to the GRU state).

A model with modes > 1 predicts that many alternative futures (each as above, with its own correction and
covariances) and the probability of each (a softmax over one logit per mode): a mixture of paths. `forward` gives
the most probable mode, `forward_modes` all of them.

A model with velocity_input sees the tracker's filtered velocity of each track (in the heading-aligned frame, next to
the GRU state); with velocity_base that velocity is also its constant-velocity base (alpha = 0 is then exactly
constant velocity from the tracker's state), so that it learns a correction to the tracker's own extrapolation rather
than to the last observed step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from perception.prediction.neighbours import MAX_NEIGHBOURS, STATE_SIZE

if TYPE_CHECKING:
    from perception.prediction.windows import Windows

MIN_HEADING_DISTANCE_M = 1e-3  # below this the observed track has no heading: identity frame
MAX_CORRELATION = 0.95
NEIGHBOUR_FEATURES = 32  # width of the pooled encoding of the neighbours
PREDICT_BATCH_SIZE = 4096  # windows per forward pass of predict_windows


@dataclass
class PredictorConfig:
    """Everything needed to rebuild a model from its checkpoint."""

    obs_len: int  # observed positions, including the current one
    pred_len: int  # predicted positions, time_step apart, the first one time_step ahead
    time_step: float  # seconds between consecutive positions
    hidden_size: int = 64
    displacement_scale: float = 1.0  # metres per step that the network sees as 1.0
    # RMS error (m) of the constant-velocity baseline per future step on the training windows,
    # used as the uncertainty of constant-velocity paths (for classes without their own below)
    constant_velocity_rmse: list[float] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)  # dataset, splits / sequences trained on
    # alpha: the fraction of the learned correction added to constant velocity (1.0: as trained)
    correction_scale: float = 1.0
    # metres: neighbours are the other objects within it (their positions reach the network divided by it);
    # None: the model has no neighbour input
    neighbour_radius: float | None = None
    # object classes the checkpoint knows, in the order of their indices (input one-hot, per-class alpha)
    classes: list[str] = field(default_factory=list)
    class_input: bool = False  # the network sees the class as a one-hot vector of `classes`
    # alpha per class (chosen on each class's validation windows); other classes use correction_scale
    class_correction_scales: dict[str, float] = field(default_factory=dict)
    # constant_velocity_rmse on each class's validation windows alone (a car's is not a walker's)
    class_constant_velocity_rmse: dict[str, list[float]] = field(default_factory=dict)
    modes: int = 1  # alternative futures predicted, each with its probability
    # the network sees the tracker's filtered velocity (an input, m/s in the caller's frame)
    velocity_input: bool = False
    # ... and it is the constant-velocity base (implies the input); else the last observed step is
    velocity_base: bool = False

    @property
    def uses_velocity(self) -> bool:
        """The model takes the tracker's velocity as an input."""
        return self.velocity_input or self.velocity_base

    def class_index(self, name: str) -> int:
        """The index of `name` in `classes`; -1 for a class the checkpoint does not know."""
        return self.classes.index(name) if name in self.classes else -1

    def class_indices(self, names: "list[str] | tuple[str, ...]") -> torch.Tensor:
        """(B,) indices into `classes` (class_index of each name)."""
        return torch.tensor([self.class_index(name) for name in names], dtype=torch.long)

    def correction_scale_table(self) -> list[float]:
        """Alpha per class index, and last (index -1) correction_scale for an unknown class."""
        return [self.class_correction_scales.get(name, self.correction_scale) for name in self.classes] + [
            self.correction_scale]

    def correction_scales(self, classes: torch.Tensor | None, count: int) -> torch.Tensor:
        """(B, 1, 1) alpha per row: its class's, else correction_scale (classes None or -1: unknown)."""
        if classes is None:
            return torch.full((count, 1, 1), self.correction_scale)
        return torch.tensor(self.correction_scale_table())[classes].view(-1, 1, 1)


def heading_rotations(observed: torch.Tensor) -> torch.Tensor:
    """(B, obs_len, 2) -> (B, 2, 2) rotations whose first column is the observed heading."""
    heading = observed[:, -1] - observed[:, 0]
    length = heading.norm(dim=-1, keepdim=True)
    identity = torch.tensor([1.0, 0.0], dtype=observed.dtype).expand_as(heading)
    unit = torch.where(length > MIN_HEADING_DISTANCE_M, heading / length.clamp_min(MIN_HEADING_DISTANCE_M), identity)
    cos, sin = unit[:, 0], unit[:, 1]
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def constant_velocity_covariances(config: PredictorConfig) -> torch.Tensor:
    """(len(classes) + 1, pred_len, 3) isotropic covariances (var_x, var_y, cov_xy) of constant velocity from its
    RMSE per step: one row per class of config.classes (its own RMSE where the config has one), the last row from
    all training windows (unknown classes; index -1)."""
    rows = [config.class_constant_velocity_rmse.get(name, config.constant_velocity_rmse) for name in config.classes]
    rows.append(config.constant_velocity_rmse)
    if any(len(row) != config.pred_len for row in rows):
        raise ValueError(f"constant_velocity_rmse needs {config.pred_len} values")
    variance = torch.tensor(rows, dtype=torch.float32) ** 2 / 2.0
    return torch.stack([variance, variance, torch.zeros_like(variance)], -1)


class TrajectoryRNN(nn.Module):
    """observed (B, obs_len, 2) [, neighbours (B, K, 4), present (B, K)] [, classes (B,)] [, velocities (B, 2)] ->
    means (B, pred_len, 2), covariances (B, pred_len, 3) in metres.

    Neighbours are the states (x, y, step x, step y) of other objects at the last observed instant,
    present marks the real ones; without them every track is alone. A model whose config has no
    neighbour_radius has no neighbour input and ignores them. Classes are indices into config.classes
    (-1 or None: unknown, a zero one-hot and the default alpha). Velocities (m/s, the tracker's) are read only by a
    model with velocity_input or velocity_base; without them such a model takes the last observed step's.

    With alpha = config.correction_scales(classes), means = CV + alpha * learned correction and covariances =
    alpha * learned + (1 - alpha) * CV covariances. The latter bounds the second moment of the blended
    prediction's error from above (by alpha (1 - alpha) c c^T, c the correction), so it never gets
    overconfident, and is exact at both ends.
    """

    def __init__(self, config: PredictorConfig):
        super().__init__()
        self.config = config
        self.constant_velocity_covariances = constant_velocity_covariances(config)  # not a buffer: not saved
        self.encoder = nn.GRU(2, config.hidden_size, batch_first=True)
        self.neighbour_encoder = (
            None
            if config.neighbour_radius is None
            else nn.Sequential(
                nn.Linear(STATE_SIZE, NEIGHBOUR_FEATURES),
                nn.ReLU(),
                nn.Linear(NEIGHBOUR_FEATURES, NEIGHBOUR_FEATURES),
                nn.ReLU(),
            )
        )
        code_size = config.hidden_size + (0 if self.neighbour_encoder is None else NEIGHBOUR_FEATURES)
        code_size += len(config.classes) if config.class_input else 0
        code_size += 2 if config.uses_velocity else 0
        # per mode and future step: displacement mean (2), log standard deviations (2), correlation (1); then one
        # logit per mode where there are several
        self.decoder = nn.Sequential(
            nn.Linear(code_size, config.hidden_size),
            nn.ReLU(),
            nn.Linear(config.hidden_size,
                      config.modes * config.pred_len * 5 + (config.modes if config.modes > 1 else 0)),
        )

    def forward(
        self,
        observed: torch.Tensor,
        neighbours: torch.Tensor | None = None,
        present: torch.Tensor | None = None,
        classes: torch.Tensor | None = None,
        velocities: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The most probable mode's means (B, pred_len, 2) and covariances (B, pred_len, 3)."""
        means, covariances, probabilities = self.forward_modes(observed, neighbours, present, classes, velocities)
        if self.config.modes == 1:
            return means[:, 0], covariances[:, 0]
        best = probabilities.argmax(-1)
        rows = torch.arange(len(observed))
        return means[rows, best], covariances[rows, best]

    def forward_modes(
        self,
        observed: torch.Tensor,
        neighbours: torch.Tensor | None = None,
        present: torch.Tensor | None = None,
        classes: torch.Tensor | None = None,
        velocities: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Means (B, modes, pred_len, 2), covariances (B, modes, pred_len, 3) and probabilities (B, modes)."""
        modes, pred_len = self.config.modes, self.config.pred_len
        scale = self.config.displacement_scale
        origin = observed[:, -1:]
        rotation = heading_rotations(observed)
        local = (observed - origin) @ rotation
        steps = local[:, 1:] - local[:, :-1]  # Tensor.diff has no ONNX export
        _, hidden = self.encoder(steps / scale)
        code = hidden[-1]
        if self.neighbour_encoder is not None:
            code = torch.cat([code, self.encode_neighbours(observed, rotation, neighbours, present)], -1)
        if self.config.class_input:
            code = torch.cat([code, self.one_hot(classes, len(observed)).to(code.dtype)], -1)
        base = steps[:, -1]  # the constant-velocity step in the local frame
        if self.config.uses_velocity:
            tracker_step = base
            if velocities is not None:
                tracker_step = (velocities.to(observed.dtype) * self.config.time_step).unsqueeze(1).bmm(rotation)[:, 0]
            code = torch.cat([code, tracker_step / scale], -1)
            base = tracker_step if self.config.velocity_base else base
        decoded = self.decoder(code)
        out = decoded[:, : modes * pred_len * 5].reshape(-1, modes, pred_len, 5)
        if modes > 1:
            probabilities = torch.softmax(decoded[:, modes * pred_len * 5 :], -1)
        else:
            probabilities = torch.ones_like(observed[:, :1, 0])  # (B, 1), traced with a dynamic batch
        alpha = self.config.correction_scales(classes, len(observed)).to(observed.dtype).unsqueeze(1)
        # future displacements are corrections to the constant-velocity step
        local_means = (out[..., :2] * (alpha * scale) + base[:, None, None]).cumsum(dim=2)
        sigma = out[..., 2:4].clamp(-8.0, 6.0).exp() * scale
        correlation = MAX_CORRELATION * torch.tanh(out[..., 4])
        off_diagonal = correlation * sigma[..., 0] * sigma[..., 1]
        row_x = torch.stack([sigma[..., 0] ** 2, off_diagonal], -1)
        row_y = torch.stack([off_diagonal, sigma[..., 1] ** 2], -1)
        local_covariance = torch.stack([row_x, row_y], -2)
        turn = rotation[:, None, None]
        covariance = turn @ local_covariance @ turn.transpose(-1, -2)
        means = local_means @ rotation[:, None].transpose(-1, -2) + origin[:, None]
        learned = torch.stack([covariance[..., 0, 0], covariance[..., 1, 1], covariance[..., 0, 1]], -1)
        prior = self.constant_velocity_covariances[-1 if classes is None else classes]
        prior = prior.unsqueeze(-3) if prior.dim() == 3 else prior
        return means, alpha * learned + (1.0 - alpha) * prior, probabilities

    def one_hot(self, classes: torch.Tensor | None, count: int) -> torch.Tensor:
        """(B, len(config.classes)); all zero for an unknown class (-1) or without classes."""
        width = len(self.config.classes)
        if classes is None:
            return torch.zeros(count, width)
        return nn.functional.one_hot(classes.clamp_min(0), width) * (classes >= 0).unsqueeze(-1)

    def encode_neighbours(
        self,
        observed: torch.Tensor,
        rotation: torch.Tensor,
        neighbours: torch.Tensor | None,
        present: torch.Tensor | None,
    ) -> torch.Tensor:
        """(B, NEIGHBOUR_FEATURES): the neighbours relative to the track, encoded and max-pooled (0: alone)."""
        if neighbours is None or present is None:
            neighbours = observed.new_zeros(len(observed), MAX_NEIGHBOURS, STATE_SIZE)
            present = torch.zeros(len(observed), MAX_NEIGHBOURS, dtype=torch.bool)
        assert self.neighbour_encoder is not None and self.config.neighbour_radius is not None
        position = (neighbours[..., :2] - observed[:, -1:]) @ rotation / self.config.neighbour_radius
        own_step = observed[:, -1:] - observed[:, -2:-1]
        step = (neighbours[..., 2:] - own_step) @ rotation / self.config.displacement_scale
        encoded = self.neighbour_encoder(torch.cat([position, step], -1))
        return (encoded * present.unsqueeze(-1)).amax(dim=1)  # encodings are >= 0: absent rows never win


def gaussian_nll(
    means: torch.Tensor, covariances: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean negative log-likelihood of targets (B, T, 2) under 2D Gaussians (var_x, var_y, cov_xy); weights (B,)
    weigh the windows (mean 1 keeps the scale)."""
    var_x, var_y, cov_xy = covariances.unbind(-1)
    dx, dy = (targets - means).unbind(-1)
    determinant = var_x * var_y - cov_xy**2
    mahalanobis = (var_y * dx**2 - 2 * cov_xy * dx * dy + var_x * dy**2) / determinant
    nll = 0.5 * mahalanobis + 0.5 * determinant.log() + math.log(2 * math.pi)
    return nll.mean() if weights is None else (nll.mean(-1) * weights).mean()


def predict_windows(model: TrajectoryRNN, windows: Windows) -> np.ndarray:
    """(N, pred_len, 2) mean predictions (the most probable mode's) made from the observed part of each window (and
    its neighbours) only."""
    means, probabilities = predict_window_modes(model, windows)
    return means[np.arange(len(means)), probabilities.argmax(-1)]


def predict_window_modes(model: TrajectoryRNN, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Every mode's means (N, modes, pred_len, 2) and the modes' probabilities (N, modes)."""
    model.eval()
    observed = torch.tensor(windows.observed, dtype=torch.float32)
    neighbours = windows.neighbours_or_alone()
    states = torch.tensor(neighbours.states, dtype=torch.float32)
    present = torch.tensor(neighbours.present)
    classes = model.config.class_indices(windows.object_classes.tolist())
    config = model.config
    if not len(windows):
        return np.zeros((0, config.modes, config.pred_len, 2)), np.zeros((0, config.modes))
    velocities = torch.tensor(windows.velocities_or_last_step(config.time_step), dtype=torch.float32)
    with torch.no_grad():
        outputs = [
            model.forward_modes(*chunk)
            for chunk in zip(*(tensor.split(PREDICT_BATCH_SIZE)
                               for tensor in (observed, states, present, classes, velocities)))
        ]
    means = torch.cat([m for m, _, _ in outputs]).numpy().astype(np.float64)
    return means, torch.cat([p for _, _, p in outputs]).numpy().astype(np.float64)


def mixture_loss(means: torch.Tensor, covariances: torch.Tensor, probabilities: torch.Tensor, targets: torch.Tensor,
                 weights: torch.Tensor) -> torch.Tensor:
    """Winner takes all over the modes (B, modes, T, ...): the ADE and Gaussian NLL of each window's closest mode,
    and the cross-entropy that teaches the probabilities which mode that was; weights (B,) weigh the windows."""
    distances = (means - targets.unsqueeze(1)).norm(dim=-1).mean(-1)
    best = distances.argmin(-1)
    rows = torch.arange(len(targets))
    cross_entropy = -probabilities[rows, best].clamp_min(1e-6).log()
    ade = distances[rows, best]
    return ((ade + cross_entropy) * weights).mean() + gaussian_nll(
        means[rows, best].detach(), covariances[rows, best], targets, weights)
