"""`perception eval-kitti` on shared KITTI tracking sequences: the deployed stages run in both ground frames, the
figures are sane, the JSON holds the printed figures, --config changes what runs, and missing poses fail clearly."""
from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pytest

from perception.cli import main
from perception.evaluation.kitti_scores import SECTIONS, squared_mahalanobis
from perception.resources import config_path

SEQUENCES = ["0000", "0002"]  # cars, pedestrians and cyclists; 387 frames


@pytest.fixture(scope="module")
def kitti(shared_data):
    return shared_data / "tracking" / "kitti"


def _run(capsys, kitti, json_path, *options):
    code = main(["eval-kitti", "--kitti-dir", str(kitti), "--sequences", *SEQUENCES, "--json", str(json_path),
                 *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, json.loads(json_path.read_text())


@pytest.fixture(scope="module")
def runs(kitti, tmp_path_factory):
    """{"odom": (stdout, stderr, json), "base_link": ...}, each run once for the module."""
    outputs = {}
    folder = tmp_path_factory.mktemp("eval_kitti")
    for frame, option in (("odom", "--poses"), ("base_link", "--no-poses")):
        with _Captured() as captured:
            code = main(["eval-kitti", "--kitti-dir", str(kitti), "--sequences", *SEQUENCES,
                         "--json", str(folder / f"{frame}.json"), option])
        assert code == 0
        outputs[frame] = (captured.out, captured.err, json.loads((folder / f"{frame}.json").read_text()))
    return outputs


class _Captured:
    """stdout and stderr of a block, as text (for a module-scoped fixture, where capsys cannot be used)."""

    def __enter__(self):
        import contextlib
        import io

        self._out, self._err = io.StringIO(), io.StringIO()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(self._out))
        self._stack.enter_context(contextlib.redirect_stderr(self._err))
        return self

    def __exit__(self, *exc):
        self._stack.close()
        self.out, self.err = self._out.getvalue(), self._err.getvalue()
        return False


def _printed_rows(text: str, columns: tuple) -> list[list[str]]:
    """The rows of the table whose header has these columns' headers."""
    header = "  ".join(h for _, h, _ in columns)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.sub(r" {2,}", "  ", line.strip()) == header)
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows.append(re.split(r" {2,}", line.strip()))
    return rows


@pytest.mark.parametrize("frame", ["odom", "base_link"])
def test_the_json_holds_the_printed_figures(runs, frame):
    out, err, report = runs[frame]
    assert report["frame"] == frame and report["sequences"] == SEQUENCES
    assert report["config"] == str(config_path("perception.yaml"))
    for sequence in SEQUENCES:  # progress per sequence, in the run's frame
        assert re.search(rf"eval-kitti {sequence}: \d+ frames in {frame}, \d+ matched objects", err)
    for section, columns in SECTIONS.items():
        printed = _printed_rows(out, columns)
        assert len(printed) == len(report[section]) > 0, section
        for cells, row in zip(printed, report[section]):
            for cell, (key, _, decimals) in zip(cells, columns):
                value = row[key]
                if decimals is None:
                    assert cell == str(value)
                else:
                    assert (cell == "-") if value is None else float(cell) == value, (section, key, cell, value)


@pytest.mark.parametrize("frame", ["odom", "base_link"])
def test_the_figures_are_sane(runs, frame):
    report = runs[frame][2]
    tracking = {row["class"]: row for row in report["tracking"]}
    assert set(tracking) == {"car", "pedestrian"}
    assert 65.0 <= tracking["car"]["hota"] <= 95.0  # PermaTrack detections: about 80
    assert 50.0 <= tracking["pedestrian"]["hota"] <= 95.0
    for row in tracking.values():
        assert 0.0 < row["mota"] <= 100.0 and 0.0 < row["idf1"] <= 100.0

    positions = {(row["class"], row["range"]): row for row in report["positions"]}
    assert {"car", "pedestrian", "cyclist", "all"} <= {group for group, _ in positions}
    assert positions["all", "any"]["objects"] == sum(positions[group, "any"]["objects"]
                                                     for group in ("car", "pedestrian", "cyclist"))
    for row in positions.values():
        assert 0.0 < row["median_m"] <= row["p90_m"] < 50.0
        assert 0.0 <= row["in_1_sigma_pct"] <= row["in_2_sigma_pct"] <= 100.0
        assert row["velocity_objects"] <= row["objects"]
    # near objects are placed far better than far ones
    assert positions["all", "0-15"]["median_m"] < 1.0 < positions["all", "30-50"]["median_m"]
    assert 0.0 < positions["all", "any"]["velocity_median_m_s"] < 3.0

    prediction = {row["class"]: row for row in report["prediction"]}
    assert set(prediction) == {"car", "pedestrian", "cyclist", "all"}
    assert prediction["all"]["windows"] == sum(prediction[g]["windows"] for g in ("car", "pedestrian", "cyclist"))
    for row in prediction.values():
        assert row["windows"] > 0 and row["paths"] >= 1
        for method in ("", "min_", "kalman_cv_", "last_step_cv_"):
            ade, fde = row[f"{method}ade_m"], row[f"{method}fde_m"]
            assert math.isfinite(ade) and 0.0 < ade < 20.0 and 0.0 < fde < 30.0
        assert row["min_ade_m"] <= row["ade_m"]
        assert row["kalman_cv_ade_m"] < row["kalman_cv_fde_m"]  # errors grow along the horizon
        assert 0.0 <= row["in_1_sigma_pct"] <= row["in_2_sigma_pct"] <= 100.0


def test_the_two_frames_score_different_runs(runs):
    """Odometry changes the ground frame, hence the velocities and what the predictor sees; the image tracking
    (HOTA) gains little, and the matched objects are nearly the same."""
    odom, base_link = runs["odom"][2], runs["base_link"][2]
    assert odom["prediction"] != base_link["prediction"]
    objects = {frame: next(r["objects"] for r in report["positions"] if (r["class"], r["range"]) == ("all", "any"))
               for frame, report in runs.items() for report in [report[2]]}
    assert abs(objects["odom"] - objects["base_link"]) < 0.05 * objects["odom"]


def test_another_graph_file_runs_its_own_parameters(kitti, tmp_path, runs, capsys):
    """--config: a tracker that only starts tracks from high scores misses more objects."""
    graph = tmp_path / "strict.yaml"
    graph.write_text(config_path("perception.yaml").read_text().replace("high_score: 0.25", "high_score: 0.9"))
    code, out, err, report = _run(capsys, kitti, tmp_path / "strict.json", "--config", str(graph))
    assert code == 0 and report["config"] == str(graph) and "(the graph file)" in out
    deployed = {row["class"]: row for row in runs["base_link"][2]["tracking"]}
    strict = {row["class"]: row for row in report["tracking"]}
    assert strict["car"]["misses"] > deployed["car"]["misses"]


def test_a_sequence_without_poses_fails_clearly_when_poses_are_asked_for(kitti, tmp_path, capsys):
    copy = tmp_path / "kitti"
    for folder in ("calib", "label_02", "det_2d_permatrack"):
        (copy / folder).mkdir(parents=True)
        shutil.copy(kitti / folder / "0003.txt", copy / folder)
    with pytest.raises(SystemExit, match=r"sequence 0003: no poses file .*poses_orbslam3/0003\.txt"):
        main(["eval-kitti", "--kitti-dir", str(copy), "--poses"])
    assert main(["eval-kitti", "--kitti-dir", str(copy), "--sequences", "0003"]) == 0  # without poses it runs


def test_coverage_uses_the_covariance_ellipse():
    errors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.0]])
    covariances = np.array([[4.0, 1.0, 0.0], [4.0, 1.0, 0.0], [1.0, 1.0, 0.5], [0.0, 0.0, 0.0]])
    expected = [errors[i] @ np.linalg.inv([[c[0], c[2]], [c[2], c[1]]]) @ errors[i] for i, c in
                enumerate(covariances[:3])]
    np.testing.assert_allclose(squared_mahalanobis(errors, covariances)[:3], expected)
    assert squared_mahalanobis(errors, covariances)[3] == np.inf  # no covariance: outside every ellipse


def test_several_paths_score_the_most_probable_one_and_the_best_of_them(kitti):
    """Each object given a second, more probable path 2 m to the side: ADE/FDE follow that path, minADE/minFDE take
    the nearer path at each window, and the coverage follows the most probable path's ellipses."""
    from dataclasses import replace

    from perception.evaluation.kitti_pipeline import load_predictor, load_sequence, run_sequence
    from perception.evaluation.kitti_scores import prediction_rows, score_sequence
    from perception.graph import load_graph
    from perception.pipeline.camera import CameraParameters
    from perception.pipeline.models import ModelCache

    parameters = CameraParameters.from_graph(load_graph(config_path("perception.yaml")), "front")
    sequence = load_sequence(kitti, "0003", "det_2d_permatrack", poses=True)
    outputs = run_sequence(sequence, parameters.tracker, load_predictor(parameters.predictor, ModelCache()))
    one = {row["class"]: row for row in prediction_rows(score_sequence(sequence, outputs))}
    for output in outputs:
        for track_id, (path,) in output.paths.items():
            aside = replace(path, positions=path.positions + [0.0, 2.0], confidence=0.6)
            output.paths[track_id] = [replace(path, confidence=0.4), aside]
    two = {row["class"]: row for row in prediction_rows(score_sequence(sequence, outputs))}
    assert one["all"]["paths"] == 1 and two["all"]["paths"] == 2
    assert two["all"]["windows"] == one["all"]["windows"] > 50
    assert two["all"]["ade_m"] > one["all"]["ade_m"] + 0.5  # the most probable path is now the one aside
    assert two["all"]["min_ade_m"] <= one["all"]["ade_m"] and two["all"]["min_fde_m"] <= one["all"]["fde_m"]
    assert two["all"]["kalman_cv_ade_m"] == one["all"]["kalman_cv_ade_m"]  # the baselines do not change
    assert two["all"]["in_1_sigma_pct"] < one["all"]["in_1_sigma_pct"]
