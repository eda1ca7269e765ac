"""Covariance factors per class (perception.evaluation.position_folds): the fit recovers a known miscalibration, and
`perception fit-position-covariance` cross-validates it on shared KITTI sequences."""
from __future__ import annotations

import json

import numpy as np

from perception.cli import main
from perception.evaluation.kitti_scores import Samples
from perception.evaluation.position_folds import fit_scales, worst_deviation


def _samples(group: str, covariance_factor: float, count: int, seed: int) -> Samples:
    """Errors of a 2D Gaussian of identity covariance scored under covariance_factor * identity."""
    errors = np.random.default_rng(seed).normal(size=(count, 2))
    samples = Samples()
    samples.groups = [group] * count
    samples.ranges = list(np.linspace(1.0, 60.0, count))
    samples.position_mahalanobis = list(np.sum(errors**2, axis=1) / covariance_factor)
    return samples


def test_fit_recovers_the_factor_of_a_miscalibrated_covariance() -> None:
    samples = _samples("car", 2.0, 4000, 1)  # reported covariance twice the true one
    samples.extend(_samples("pedestrian", 0.5, 400, 2))  # half of it (one range bin of >= 100 objects)
    scales = fit_scales(samples)
    assert set(scales) == {"car", "pedestrian"}
    assert 0.4 < scales["car"] < 0.6 and 1.6 < scales["pedestrian"] < 2.5
    squared, ranges = np.array(samples.position_mahalanobis[:4000]), np.array(samples.ranges[:4000])
    assert worst_deviation(squared, ranges, scales["car"]) < 0.03
    assert worst_deviation(squared, ranges, 1.0) > 0.15


def test_cli_cross_validates_on_shared_sequences(shared_data, tmp_path, capsys) -> None:
    kitti = shared_data / "tracking" / "kitti"
    code = main(["fit-position-covariance", "--kitti-dir", str(kitti), "--sequences", "0003", "0006",
                 "--json", str(tmp_path / "fit.json")])
    assert code == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "fit.json").read_text())
    assert [fold["held_out"] for fold in result["folds"]] == ["0003", "0006"]
    for fold in result["folds"]:
        assert 0.25 <= fold["scales"]["car"] <= 4.0  # 0003 and 0006 hold cars only
        assert f"held-out {fold['held_out']}" in out
    # the held-out runs together hold every object the unscaled runs scored
    count = {r["range"]: r["objects"] for r in result["unscaled"] if r["class"] == "car"}
    assert {r["range"]: r["objects"] for r in result["held_out"] if r["class"] == "car"} == count
    # coverage shares and the factor fitted on both sequences lie in their ranges
    rows = [r for r in result["unscaled"] if r["class"] == "car" and r["range"] == "any"]
    assert rows and 0 < rows[0]["in_1_sigma_pct"] < 100
    assert 0.25 <= result["scales"]["car"] <= 4.0
    # shipped: the fitted factor where the held-out runs deviate less from a Gaussian than the unscaled ones, else 1
    unscaled, held_out = result["deviations"]["car"]
    assert result["chosen"]["car"] == (result["scales"]["car"] if held_out < unscaled else 1.0)
