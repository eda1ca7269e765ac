"""`perception eval DIR --workers 2`: the real command on a folder of real bags (the sample bag cut short, a truncated
copy) starts Ray on this machine, writes one report with a row per bag and the totals, and summary.json; the bad
bag is reported with its reason and the command still succeeds. One Ray session (the command's) for the module."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("ray")

from perception.resources import data_path  # noqa: E402
from test_fleet_eval import cut_bag  # noqa: E402

FRAMES = 20


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet_cli")
    bags = folder / "bags"
    bags.mkdir()
    sample = cut_bag(data_path("sample_highway_960x540.mcap"), bags / "a.mcap", FRAMES)
    cut_bag(data_path("sample_highway_960x540.mcap"), bags / "b.mcap", FRAMES // 2)
    (bags / "c_truncated.mcap").write_bytes(sample.read_bytes()[:20000])
    out = folder / "out"
    run = subprocess.run([sys.executable, "-m", "perception", "eval", str(bags), "--workers", "2", "--out", str(out)],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "RAY_DISABLE_USAGE_STATS": "1"})
    return run, out


def test_one_report_and_summary_for_the_fleet(fleet_run):
    run, out = fleet_run
    assert run.returncode == 0, run.stderr[-3000:]
    assert "fleet eval: 100%" in run.stderr and f"{FRAMES + FRAMES // 2}/{FRAMES + FRAMES // 2}" in run.stderr
    summary = json.loads((out / "summary.json").read_text())
    rows = {row["stream"]: row for row in summary["bags"]}
    assert rows["a"]["frames"] == FRAMES and rows["b"]["frames"] == FRAMES // 2
    assert "cannot read the bag (corrupt or truncated?)" in rows["c_truncated"]["error"]
    for name in "ab":
        assert (out / name / "eval.mcap").exists()
        assert rows[name]["detections"]["car"] > 0 and rows[name]["tracks"] > 0
        assert set(rows[name]["latency_ms"]) == {"detections", "tracks", "predictions"}
        assert rows[name]["prediction_error"]
    totals = summary["totals"]
    assert (totals["bags"], totals["failed"], totals["frames"]) == (3, 1, FRAMES + FRAMES // 2)
    assert totals["detections"]["car"] == rows["a"]["detections"]["car"] + rows["b"]["detections"]["car"]
    assert totals["tracks"] == rows["a"]["tracks"] + rows["b"]["tracks"]
    assert summary["run"]["workers"] == 2 and summary["run"]["frames_evaluated"] == FRAMES + FRAMES // 2
    assert summary["run"]["retried_streams"] == 0 and summary["run"]["workers_per_driver"] > 0
    page = (out / "report.html").read_text()
    assert page.count('<a href="a/eval.mcap">') == 1 and page.count('<a href="b/eval.mcap">') == 1
    assert "failed: " in page and "all 2 of 3" in page
    assert "c_truncated: FAILED" in run.stdout


def test_eval_help_says_when_ray_is_used():
    run = subprocess.run([sys.executable, "-m", "perception", "eval", "--help"], capture_output=True, text=True,
                         timeout=120)
    text = " ".join(run.stdout.split())
    assert "One bag runs in this process" in text and "--ray-address" in text and "--workers" in text
