"""Batched constant-velocity Kalman filter steps; the first half of the state is measured directly."""
from __future__ import annotations

import numpy as np


def constant_velocity_transition(dimension: int, dt: float) -> np.ndarray:
    """State transition of [position (dimension), velocity (dimension)] over dt seconds."""
    transition = np.eye(2 * dimension)
    transition[:dimension, dimension:] = dt * np.eye(dimension)
    return transition


def predict(
    means: np.ndarray, covariances: np.ndarray, transition: np.ndarray, process_noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Propagate (N, D) means and (N, D, D) covariances; process_noise is (D, D) or (N, D, D)."""
    return means @ transition.T, transition @ covariances @ transition.T + process_noise


def gain(covariances: np.ndarray, measurement_noise: np.ndarray) -> np.ndarray:
    """(N, D, M) Kalman gains of (N, D, D) state covariances for (N, M, M) position measurement covariances."""
    m = measurement_noise.shape[-1]
    innovation_covariance = covariances[:, :m, :m] + measurement_noise
    # K^T = S^-1 H P, with H P the first m rows of P (S and P symmetric)
    return np.linalg.solve(innovation_covariance, covariances[:, :m, :]).transpose(0, 2, 1)


def update(
    means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray, measurement_noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Correct with (N, M) position measurements, M = D / 2, and (N, M, M) measurement covariances."""
    m = measurements.shape[1]
    gains = gain(covariances, measurement_noise)
    innovation = measurements - means[:, :m]
    means = means + np.einsum("nij,nj->ni", gains, innovation)
    covariances = covariances - gains @ covariances[:, :m, :]
    return means, covariances


def updated_with_gain(covariances: np.ndarray, gains: np.ndarray, measurement_noise: np.ndarray) -> np.ndarray:
    """Covariance of one part of the state's error after an update with gains computed for the whole error (Joseph
    form, (I - K H) P (I - K H)^T + K R K^T): the part's (N, D, D) covariances and its share of the measurement
    noise (N, M, M)."""
    m = measurement_noise.shape[-1]
    keep = np.eye(covariances.shape[-1])[None] - np.pad(gains, ((0, 0), (0, 0), (0, covariances.shape[-1] - m)))
    return keep @ covariances @ keep.transpose(0, 2, 1) + gains @ measurement_noise @ gains.transpose(0, 2, 1)
