"""TrackEval-based scores on tiny ground truths whose metrics are known by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perception.evaluation.tracking_metrics import COMBINED, evaluate_kitti, evaluate_mot

SEQINFO = "[Sequence]\nname={name}\nimDir=img1\nframeRate=10\nseqLength=4\nimWidth=640\nimHeight=480\nimExt=.jpg\n"


def write_mot_sequence(root: Path, name: str) -> Path:
    folder = root / name
    (folder / "gt").mkdir(parents=True)
    (folder / "seqinfo.ini").write_text(SEQINFO.format(name=name))
    (folder / "gt" / "gt.txt").write_text("".join(f"{f},1,100,100,50,100,1,1,1\n" for f in range(1, 5)))
    return folder


def test_mot_perfect_and_switched_identity(tmp_path: Path) -> None:
    sequence = write_mot_sequence(tmp_path / "gt", "TINY-01")
    perfect, switched = tmp_path / "perfect", tmp_path / "switched"
    perfect.mkdir(), switched.mkdir()
    (perfect / "TINY-01.txt").write_text("".join(f"{f},5,100,100,50,100,1,-1,-1,-1\n" for f in range(1, 5)))
    (switched / "TINY-01.txt").write_text(
        "".join(f"{f},{1 if f <= 2 else 2},100,100,50,100,1,-1,-1,-1\n" for f in range(1, 5))
    )
    scores = evaluate_mot([sequence], {"perfect": perfect, "switched": switched})
    best = scores["perfect"]["TINY-01"]
    assert (best.hota, best.mota, best.idf1, best.id_switches) == pytest.approx((100, 100, 100, 0))
    worse = scores["switched"][COMBINED]
    # one switch in 4 frames: MOTA 1 - 1/4; IDF1 2*2/(4+4); HOTA sqrt(DetA 1 * AssA 1/2)
    assert (worse.mota, worse.idf1, worse.id_switches) == pytest.approx((75, 50, 1))
    assert worse.hota == pytest.approx(100 * 0.5**0.5)


def test_mot_from_frame_keeps_later_frames(tmp_path: Path) -> None:
    sequence = write_mot_sequence(tmp_path / "gt", "TINY-01")
    results = tmp_path / "late"
    results.mkdir()
    (results / "TINY-01.txt").write_text("".join(f"{f},5,100,100,50,100,1,-1,-1,-1\n" for f in (3, 4)))
    assert evaluate_mot([sequence], {"late": results}, "half")["late"]["TINY-01"].mota == pytest.approx(100)
    assert evaluate_mot([sequence], {"late": results}, 1)["late"]["TINY-01"].mota == pytest.approx(50)


def test_kitti_dontcare_and_van_handling(tmp_path: Path) -> None:
    label = tmp_path / "label_02" / "0000.txt"
    label.parent.mkdir()
    rows = []
    for frame in range(3):
        rows.append(f"{frame} 0 Car 0 0 0 100 100 200 180 1.5 1.6 4 0 1.6 10 0")
        rows.append(f"{frame} 1 Van 0 0 0 400 100 500 200 2 1.8 5 3 1.6 12 0")
        rows.append(f"{frame} -1 DontCare -1 -1 -10 700 100 800 200 -1 -1 -1 -1000 -1000 -1000 -10")
    label.write_text("\n".join(rows) + "\n")
    results = tmp_path / "results"
    results.mkdir()
    lines = []
    for frame in range(3):
        lines.append(f"{frame} 7 Car -1 -1 -10 100 100 200 180 -1 -1 -1 -1000 -1000 -1000 -10 0.9")
        lines.append(f"{frame} 8 Car -1 -1 -10 400 100 500 200 -1 -1 -1 -1000 -1000 -1000 -10 0.9")  # on the Van
        lines.append(f"{frame} 9 Car -1 -1 -10 705 105 795 195 -1 -1 -1 -1000 -1000 -1000 -10 0.9")  # DontCare
    lines.append("2 10 Car -1 -1 -10 300 300 360 360 -1 -1 -1 -1000 -1000 -1000 -10 0.9")  # a real false positive
    lines.append("1 11 Pedestrian -1 -1 -10 900 100 930 180 -1 -1 -1 -1000 -1000 -1000 -10 0.9")  # none labelled
    (results / "0000.txt").write_text("\n".join(lines) + "\n")
    scores = evaluate_kitti([label], {"ours": results})["ours"]
    car = scores["car"]["0000"]
    assert (car.false_positives, car.misses, car.id_switches) == (1, 0, 0)
    assert car.mota == pytest.approx(100 * (1 - 1 / 3))
    # a class the ground truth does not have gets no figures (TrackEval: HOTA 0, MOTA -100 per false positive)
    pedestrian = scores["pedestrian"]["0000"]
    assert pedestrian.false_positives == 1
    assert np.isnan(pedestrian.hota) and np.isnan(pedestrian.mota) and np.isnan(pedestrian.idf1)
