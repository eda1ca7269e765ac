"""Correction scale (alpha): constant velocity at 0, blended covariances, chosen on validation, saved."""
from pathlib import Path

import numpy as np
import torch

from perception.prediction.checkpoint import load_checkpoint, save_checkpoint
from perception.prediction.metrics import constant_velocity
from perception.prediction.model import constant_velocity_covariances, predict_windows
from perception.prediction.runtime import TrajectoryPredictor
from perception.prediction.training import choose_correction_scale, measure_class_constant_velocity_rmse
from perception.prediction.windows import Windows


def curved_windows(count: int = 6) -> Windows:
    """Tracks (8 observed + 12 future positions) that speed up and turn, so no model is exact."""
    generator = np.random.default_rng(3)
    steps = 0.4 + 0.1 * generator.normal(size=(count, 20, 2)) + np.linspace(0.0, 0.3, 20)[None, :, None]
    labels = np.array(["pedestrian"] * count)
    return Windows(steps.cumsum(axis=1), labels, np.arange(count), np.zeros(count, int), labels, 8)


def test_scale_zero_is_constant_velocity_with_its_covariances(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    model.config.correction_scale = 0.0
    windows = curved_windows()
    np.testing.assert_allclose(predict_windows(model, windows), constant_velocity(windows.observed, 12), atol=1e-5)
    with torch.no_grad():
        _, covariances = model(torch.tensor(windows.observed, dtype=torch.float32))
    expected = constant_velocity_covariances(model.config).expand_as(covariances)
    torch.testing.assert_close(covariances, expected, rtol=0, atol=0)


def test_means_and_covariances_interpolate_linearly(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    observed = torch.tensor(curved_windows().observed, dtype=torch.float32)
    outputs = {}
    for alpha in (0.0, 0.3, 1.0):
        model.config.correction_scale = alpha
        with torch.no_grad():
            outputs[alpha] = model(observed)
    for blended, prior, learned in zip(outputs[0.3], outputs[0.0], outputs[1.0]):
        torch.testing.assert_close(blended, 0.7 * prior + 0.3 * learned, atol=1e-5, rtol=1e-5)


def test_validation_chooses_the_best_scale_and_the_checkpoint_keeps_it(
    tiny_predictor_checkpoint: Path, tmp_path: Path
) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    windows = curved_windows()
    model.config.correction_scale = 0.3
    windows.positions[:, 8:] = predict_windows(model, windows)  # a future that alpha = 0.3 predicts exactly
    model.config.correction_scale = 1.0
    val_ade = choose_correction_scale(model, windows)["all"]
    assert sorted(val_ade) == [round(0.1 * step, 1) for step in range(11)]
    assert model.config.correction_scale == 0.3 and val_ade[0.3] < 1e-5 < min(val_ade[0.2], val_ade[0.4])
    save_checkpoint(model, tmp_path / "calibrated.pt")
    loaded = load_checkpoint(tmp_path / "calibrated.pt")
    assert loaded.config.correction_scale == 0.3
    np.testing.assert_array_equal(predict_windows(loaded, windows), predict_windows(model, windows))


def test_runtime_applies_the_stored_scale(tiny_predictor_checkpoint: Path, tmp_path: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    model.config.correction_scale = 0.0
    save_checkpoint(model, tmp_path / "constant_velocity.pt")
    predictor = TrajectoryPredictor(tmp_path / "constant_velocity.pt", horizon_s=2.0, time_step_s=0.2)
    stamps = np.arange(0.0, 3.2, 0.4)
    history = (stamps, np.array([3.0, -2.0]) + stamps[:, None] * np.array([1.0, 0.5]))
    (path,) = predictor.predict({1: history})[1]
    fallback = predictor.constant_velocity_path(*history)
    assert path.model == "constant_velocity" and fallback.model == "constant_velocity_fallback"
    np.testing.assert_allclose(path.positions, fallback.positions, atol=1e-5)
    np.testing.assert_allclose(path.covariances, fallback.covariances, atol=1e-7)


def test_each_class_gets_its_own_scale_and_the_runtime_names_constant_velocity(tmp_path: Path) -> None:
    from perception.prediction.model import PredictorConfig, TrajectoryRNN
    from perception.types import ObjectClass

    torch.manual_seed(0)
    config = PredictorConfig(obs_len=8, pred_len=12, time_step=0.4, hidden_size=16, displacement_scale=0.4,
                             constant_velocity_rmse=[0.1] * 12, classes=["pedestrian", "vehicle"], class_input=True,
                             class_constant_velocity_rmse={"vehicle": [0.3] * 12})
    model = TrajectoryRNN(config).eval()
    windows = curved_windows(8)
    windows.object_classes = np.array(["pedestrian"] * 4 + ["vehicle"] * 4)
    model.config.correction_scale = 0.6
    predicted = predict_windows(model, windows)
    # pedestrians move as alpha 0.6 predicts, vehicles at constant velocity (alpha 0)
    windows.positions[:4, 8:] = predicted[:4]
    windows.positions[4:, 8:] = constant_velocity(windows.observed[4:], 12)
    val_ade = choose_correction_scale(model, windows)
    assert model.config.class_correction_scales == {"pedestrian": 0.6, "vehicle": 0.0}
    assert val_ade["pedestrian"][0.6] < 1e-5 and val_ade["vehicle"][0.0] < 1e-5
    np.testing.assert_allclose(predict_windows(model, windows), windows.future, atol=1e-5)
    model.config.correction_scale = 0.5  # the default, for classes without their own
    save_checkpoint(model, tmp_path / "per_class.pt")
    predictor = TrajectoryPredictor(tmp_path / "per_class.pt")
    history = (np.arange(0.0, 3.2, 0.4), windows.observed[0])
    labels = {1: ObjectClass.PEDESTRIAN, 2: ObjectClass.CAR, 3: ObjectClass.TRAFFIC_SIGN}
    paths = predictor.predict({1: history, 2: history, 3: history}, labels)
    assert [paths[i][0].model for i in (1, 2, 3)] == ["rnn", "constant_velocity", "rnn"]  # 3: alpha 0.5
    np.testing.assert_allclose(paths[2][0].positions, constant_velocity(windows.observed[:1], 12)[0], atol=1e-5)
    assert not np.allclose(paths[1][0].positions, paths[2][0].positions)
    # constant velocity's uncertainty is the class's own (vehicles 0.3 m RMSE per step here, others 0.1 m),
    # for the class's constant-velocity paths and for fallback paths alike
    np.testing.assert_allclose(paths[2][0].covariances[:, :2], 0.045, rtol=1e-5)
    short = (np.array([0.0, 0.4]), windows.observed[0, -2:])
    fallback = predictor.predict({2: short, 3: short}, labels)
    np.testing.assert_allclose(fallback[2][0].covariances[:, :2], 0.045, rtol=1e-5)
    np.testing.assert_allclose(fallback[3][0].covariances[:, :2], 0.005, rtol=1e-5)


def test_class_input_changes_the_prediction_and_unknown_classes_get_no_class(tmp_path: Path) -> None:
    from perception.prediction.model import PredictorConfig, TrajectoryRNN

    torch.manual_seed(0)
    config = PredictorConfig(obs_len=8, pred_len=12, time_step=0.4, hidden_size=16, displacement_scale=0.4,
                             constant_velocity_rmse=[0.1] * 12, classes=["cyclist", "vehicle"], class_input=True)
    model = TrajectoryRNN(config).eval()
    observed = torch.tensor(curved_windows(1).observed, dtype=torch.float32).expand(4, -1, -1)
    with torch.no_grad():
        for layer in model.decoder:  # make the class columns count
            if isinstance(layer, torch.nn.Linear):
                layer.weight.normal_(0.0, 0.5)
        means, _ = model(observed, classes=config.class_indices(["cyclist", "vehicle", "bus", "vehicle"]))
        without, _ = model(observed)
    assert config.class_indices(["bus"]).tolist() == [-1]
    assert not torch.allclose(means[0], means[1], atol=1e-4)
    torch.testing.assert_close(means[1], means[3])
    torch.testing.assert_close(means[2], without[2])  # unknown: the same as no class at all


def test_constant_velocity_uncertainty_per_class_is_measured_on_validation(tiny_predictor_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_predictor_checkpoint)
    model.config.classes = ["cyclist", "pedestrian", "vehicle"]
    windows = curved_windows(6)
    windows.object_classes = np.array(["pedestrian"] * 2 + ["vehicle"] * 4)
    windows.positions[4:, 8:] = constant_velocity(windows.observed[4:], 12)  # two vehicles exactly at constant velocity
    measure_class_constant_velocity_rmse(model, windows)
    errors = np.linalg.norm(constant_velocity(windows.observed, 12) - windows.future, axis=-1)
    rmse = model.config.class_constant_velocity_rmse
    assert sorted(rmse) == ["pedestrian", "vehicle"]  # no cyclist to measure: the default stays
    np.testing.assert_allclose(rmse["pedestrian"], np.sqrt((errors[:2] ** 2).mean(0)))
    np.testing.assert_allclose(rmse["vehicle"], np.sqrt((errors[2:] ** 2).mean(0)))
    table = constant_velocity_covariances(model.config)  # rows: cyclist, pedestrian, vehicle, unknown
    np.testing.assert_allclose(table[2, :, 0].numpy(), np.array(rmse["vehicle"]) ** 2 / 2, rtol=1e-5)
    torch.testing.assert_close(table[0], table[3])
