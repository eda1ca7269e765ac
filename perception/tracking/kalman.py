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


def update(
    means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray, measurement_noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Correct with (N, M) position measurements, M = D / 2, and (N, M, M) measurement covariances."""
    m = measurements.shape[1]
    innovation_covariance = covariances[:, :m, :m] + measurement_noise
    # K^T = S^-1 H P, with H P the first m rows of P (S and P symmetric)
    gain = np.linalg.solve(innovation_covariance, covariances[:, :m, :]).transpose(0, 2, 1)
    innovation = measurements - means[:, :m]
    means = means + np.einsum("nij,nj->ni", gain, innovation)
    covariances = covariances - gain @ covariances[:, :m, :]
    return means, covariances
