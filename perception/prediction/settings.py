"""Training settings of the trajectory predictor, without torch (the command line reads their defaults)."""
from __future__ import annotations

from dataclasses import dataclass

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
    class_input: bool = False  # give the model the object class (one-hot)
    # weigh each window by 1 / its class's share of the training windows: every class counts the same in the
    # loss, as in the class-balanced validation ADE that chooses the epoch
    class_balanced: bool = False
    modes: int = 1  # alternative futures (with probabilities) the model predicts
    velocity_input: bool = False  # the model sees the tracker's velocity (Windows.velocities)
    velocity_base: bool = False  # ... and it is the model's constant-velocity base
