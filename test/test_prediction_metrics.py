"""Constant-velocity baseline and ADE/FDE on hand-computed cases."""
import numpy as np

from perception.prediction.metrics import constant_velocity, displacement_errors


def test_constant_velocity_repeats_last_step() -> None:
    observed = np.array([[[5.0, 5.0], [0.0, 0.0], [1.0, 0.0], [2.0, 1.0]]])
    expected = [[[3.0, 2.0], [4.0, 3.0], [5.0, 4.0]]]
    np.testing.assert_allclose(constant_velocity(observed, 3), expected)


def test_ade_and_fde_hand_computed() -> None:
    future = np.array([[[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]], [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]])
    predicted = np.zeros_like(future)
    ade, fde = displacement_errors(predicted, future)
    np.testing.assert_allclose(ade, [5.0, 1.0])  # (5 + 0 + 10) / 3, (1 + 1 + 1) / 3
    np.testing.assert_allclose(fde, [10.0, 1.0])
