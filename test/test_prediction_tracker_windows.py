"""Training windows from the deployed tracker on KITTI detections (real shared data): observed = what a track
published, future = its matched label's positions in the run's frame; and the cross-validation's use of them (held-out
predictions linear in alpha, alphas chosen without the held-out fold)."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from perception.datasets.ground_tracks import KITTI_PROTOCOL
from perception.datasets.kitti import read_calibration, read_objects, read_poses
from perception.datasets.kitti_rig import KittiRig
from perception.datasets.kitti_tracker_windows import sequence_windows
from perception.pipeline.parameters import deployed_parameters
from perception.prediction import cross_validation
from perception.prediction.model import predict_windows

from conftest import SHARED_DATA

KITTI = SHARED_DATA / "tracking" / "kitti"


@pytest.fixture(scope="module")
def config():
    return deployed_parameters("tracker")


@pytest.mark.parametrize("odometry", [True, False])
def test_futures_are_the_matched_labels_in_the_runs_frame(config, odometry: bool) -> None:
    tracked = sequence_windows(KITTI, "0002", odometry, config, KITTI_PROTOCOL)
    windows = tracked.windows
    assert len(windows) > 500 and set(windows.object_classes) == {"vehicle", "pedestrian", "cyclist"}
    calibration = read_calibration(KITTI / "calib" / "0002.txt")
    rig = KittiRig.level(calibration)
    poses = rig.odom_from_vehicle(read_poses(KITTI / "poses_orbslam3" / "0002.txt"))
    labels = {(o.frame, o.track_id): o for o in read_objects(KITTI / "label_02" / "0002.txt")}
    for index in np.linspace(0, len(windows) - 1, 20).astype(int):
        for step, future in enumerate(windows.future[index]):
            label = labels[windows.first_future_frames[index] + step, windows.object_ids[index]]
            expected = rig.to_vehicle(label.location[None])[0]
            if odometry:  # odom: the label moved with its own frame's pose; base_link: that instant's vehicle frame
                pose = poses[label.frame]
                expected = pose[:3, :3] @ expected + pose[:3, 3]
            np.testing.assert_allclose(future, expected[:2], atol=1e-9)
    # the observed part is the estimator's, not the labels': off by its position error, never equal
    offsets = np.linalg.norm(windows.observed[:, -1] - windows.future[:, 0], axis=-1)
    assert 0.05 < np.median(offsets) < 5.0
    # motion targets: the truth's displacement from its position at the last observed frame, added to the last
    # published position
    motion = tracked.motion_targets()
    np.testing.assert_allclose(motion.future - windows.observed[:, -1:], windows.future - tracked.truth_now[:, None])
    np.testing.assert_array_equal(motion.observed, windows.observed)
    # the tracker-state baseline starts at the last published position and moves at the filtered velocity
    baseline = tracked.state_constant_velocity(KITTI_PROTOCOL.time_step)
    np.testing.assert_allclose(baseline[:, 0], windows.observed[:, -1] + 0.1 * tracked.velocities)
    assert (np.linalg.eigvalsh(tracked.position_covariances) > 0).all()


def test_cross_validation_blends_alphas_exactly_and_never_on_the_held_out_fold(config) -> None:
    tracker = {"odom": {s: sequence_windows(KITTI, s, True, config, KITTI_PROTOCOL) for s in ("0000", "0002", "0005")}}
    candidate = cross_validation.Candidate("test", replace(cross_validation.BASE_SETTINGS, epochs=1, hidden_size=16))
    torch.manual_seed(0)
    result = cross_validation.cross_validate(candidate, tracker, {}, KITTI_PROTOCOL, log=lambda text: None)
    assert [f.sequence for f in result.folds] == ["0000", "0002", "0005"]
    # the mean at alpha 0.4 is the blend of the stored alpha 0 and 1 predictions
    fold = result.folds[1]
    windows = fold.windows.windows
    model = cross_validation.train_model(
        cross_validation.training_windows(candidate, tracker, {}, ["odom"], ["0000", "0005"]), KITTI_PROTOCOL,
        candidate.settings, {})
    zero, one, modes = cross_validation.predictions_at_alpha_zero_and_one(model, windows)
    np.testing.assert_allclose(one, fold.alpha_one, atol=1e-3)  # the same seed trains the same model
    model.config.correction_scale = 0.4
    blended = fold.at({name: 0.4 for name in cross_validation.CLASSES})
    np.testing.assert_allclose(blended, predict_windows(model, windows), atol=1e-3)  # float32 at ~100 m
    assert modes.shape == (len(windows), 1, KITTI_PROTOCOL.pred_len, 2)
    # each fold's alphas come from the other folds only: changing the held-out fold's futures cannot move them
    before = result.nested_alphas(fold)
    fold.windows.windows.positions[:, KITTI_PROTOCOL.obs_len:] += 50.0
    assert result.nested_alphas(fold) == before
    rows = result.rows()
    assert {r["class"] for r in rows if r["sequence"] == "0002"} == {"vehicle", "pedestrian", "cyclist"}
    assert all(r["min_over_modes_ade"] == pytest.approx(r["model_ade"]) for r in rows)  # one mode

