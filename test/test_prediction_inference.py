"""The runtime predictor's network on ONNX Runtime gives eager torch's paths (the bundled model, a model with
the neighbour and class inputs, and one with three modes),
and falls back to torch, saying why, where ONNX Runtime cannot run."""
import copy
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from perception.prediction.checkpoint import bundled_model_path, load_checkpoint, save_checkpoint
from perception.prediction.model import TrajectoryRNN
from perception.prediction.runtime import TrajectoryPredictor
from perception.types import ObjectClass

LABELS = [ObjectClass.CAR, ObjectClass.PEDESTRIAN, ObjectClass.BICYCLE, ObjectClass.TRAFFIC_LIGHT]


def walking_histories(count: int, seed: int = 0) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """`count` 1.5 s histories at 10 Hz with jittered stamps, different speeds and noisy positions, 1 m apart."""
    rng = np.random.default_rng(seed)
    histories = {}
    for track in range(count):
        stamps = np.arange(15) * 0.1 + rng.uniform(0.0, 0.02, 15)
        positions = np.array([track, 0.0]) + stamps[:, None] * rng.normal(0.0, 4.0, 2)
        histories[track] = (stamps, positions + rng.normal(0.0, 0.05, (15, 2)))
    return histories


def social_checkpoint_with_classes(tmp_path: Path) -> Path:
    config = copy.deepcopy(load_checkpoint(bundled_model_path()).config)
    config.neighbour_radius, config.class_input = 10.0, True
    path = tmp_path / "social_classes.pt"
    save_checkpoint(TrajectoryRNN(config), path)  # untrained: every input changes the output
    return path


def three_mode_checkpoint(tmp_path: Path) -> Path:
    config = copy.deepcopy(load_checkpoint(bundled_model_path()).config)
    config.modes = 3
    path = tmp_path / "three_modes.pt"
    save_checkpoint(TrajectoryRNN(config), path)  # untrained: modes and their probabilities all differ
    return path


CHECKPOINTS = {"bundled": lambda tmp_path: bundled_model_path(),
               "neighbours and classes": social_checkpoint_with_classes, "three modes": three_mode_checkpoint}


@pytest.mark.parametrize("checkpoint", list(CHECKPOINTS))
@pytest.mark.parametrize("tracks", [1, 7, 40])
def test_onnxruntime_paths_equal_eager_torch(tmp_path: Path, checkpoint: str, tracks: int) -> None:
    path = CHECKPOINTS[checkpoint](tmp_path)
    onnx, torch_predictor = TrajectoryPredictor(path), TrajectoryPredictor(path, runtime="torch")
    assert (onnx.forward.runtime, torch_predictor.forward.runtime) == ("onnxruntime", "torch")
    histories = walking_histories(tracks)
    labels = {track: LABELS[track % len(LABELS)] for track in histories}
    fast, reference = onnx.predict(histories, labels), torch_predictor.predict(histories, labels)
    assert sorted(fast) == sorted(reference) == list(range(tracks))
    modes = 3 if checkpoint == "three modes" else 1
    for track in histories:
        assert len(fast[track]) == len(reference[track]) == modes
        for path_fast, path_reference in zip(fast[track], reference[track]):
            assert path_fast.model == path_reference.model == "rnn"
            assert path_fast.confidence == pytest.approx(path_reference.confidence, abs=1e-5)
            np.testing.assert_allclose(path_fast.positions, path_reference.positions, rtol=0, atol=1e-4)
            np.testing.assert_allclose(path_fast.covariances, path_reference.covariances, rtol=1e-4, atol=1e-6)


def test_without_onnxruntime_the_predictor_runs_torch_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as on a machine without the package
    with caplog.at_level(logging.WARNING, logger="perception.prediction.inference"):
        predictor = TrajectoryPredictor(bundled_model_path())
    assert predictor.forward.runtime == "torch"
    assert "ModuleNotFoundError" in predictor.forward.reason and "kitti.pt" in predictor.forward.reason
    assert predictor.forward.reason in caplog.text
    (path,) = predictor.predict(walking_histories(1), {0: ObjectClass.CAR})[0]
    assert path.model == "rnn" and np.isfinite(path.positions).all()


def test_an_unknown_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="runtime must be one of"):
        TrajectoryPredictor(bundled_model_path(), runtime="tensorrt")
