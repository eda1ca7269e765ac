"""MOTChallenge / KITTI result files and the `perception track` command on real detections."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.cli import main
from perception.datasets import kitti, mot
from perception.datasets.tracking_results import mot_result_rows, write_kitti_results
from perception.types import ObjectClass, Track


def make_track(track_id: int, label: ObjectClass, box: list[float], score: float) -> Track:
    return Track(track_id, label, score, np.array(box), age=0.0, hits=1, frames_since_update=0)


def test_mot_results_round_trip(tmp_path: Path) -> None:
    results = [(7, [make_track(3, ObjectClass.PEDESTRIAN, [10.0, 20.0, 50.0, 120.0], 0.9)]), (8, [])]
    rows = mot_result_rows(results)
    mot.write_results(tmp_path / "out.txt", rows)
    read = mot.read_rows(tmp_path / "out.txt")
    np.testing.assert_allclose(read, [[7, 3, 10.0, 20.0, 40.0, 100.0, 0.9, -1, -1, -1]])


def test_kitti_results_round_trip(tmp_path: Path) -> None:
    results = [
        (0, [make_track(1, ObjectClass.CAR, [100.0, 150.0, 300.0, 250.0], 0.8)]),
        (2, [make_track(2, ObjectClass.PEDESTRIAN, [400.0, 120.0, 440.0, 230.0], 0.7)]),
    ]
    write_kitti_results(tmp_path / "0000.txt", results, (1242, 375))
    objects = kitti.read_objects(tmp_path / "0000.txt")
    assert [(o.frame, o.track_id, o.type) for o in objects] == [(0, 1, "Car"), (2, 2, "Pedestrian")]
    np.testing.assert_allclose(objects[1].box, [400.0, 120.0, 440.0, 230.0])
    assert objects[1].score == 0.7


def test_kitti_results_are_clipped_to_the_sequences_own_image_size(tmp_path: Path) -> None:
    """KITTI's image sizes differ by recording day (1242x375, 1224x370, ...): a box reaching past a 1224x370 image's
    border is clipped there, and one wholly beyond it (a coasting track that has left the view) is not written."""
    results = [(0, [make_track(1, ObjectClass.CAR, [1100.0, 150.0, 1240.0, 373.0], 0.8),
                    make_track(2, ObjectClass.CAR, [1226.0, 150.0, 1240.0, 200.0], 0.8)])]
    write_kitti_results(tmp_path / "0017.txt", results, (1224, 370))
    (car,) = kitti.read_objects(tmp_path / "0017.txt")
    np.testing.assert_allclose(car.box, [1100.0, 150.0, 1224.0, 370.0])
    rows = [dict(type="Car", box=[0.0, 0.0, 1223.0, 100.0]), dict(type="DontCare", box=[0.0, 0.0, 1241.0, 374.0]),
            dict(type="Pedestrian", box=[5.0, 10.0, 20.0, 369.0])]
    labelled = [kitti.KittiObject(0, i, r["type"], 0.0, 0, 0.0, np.array(r["box"]), np.ones(3), np.zeros(3), 0.0)
                for i, r in enumerate(rows)]
    assert kitti.labelled_image_size(labelled) == (1224, 370)  # from the objects' boxes, DontCare left out


def test_track_mot_from_frame(shared_data: Path, tmp_path: Path) -> None:
    sequence = shared_data / "tracking" / "mot17" / "MOT17-09"
    out = tmp_path / "MOT17-09.txt"
    argv = ["track", "--format", "mot", "--detections", str(sequence / "det" / "yolox_x_ablation.txt"),
            "--seqinfo", str(sequence / "seqinfo.ini"), "--from-frame", "500", "--out", str(out)]
    assert main(argv) == 0
    rows = mot.read_rows(out)
    assert rows[:, 0].min() == 500 and rows[:, 0].max() == 525
    assert len(rows) > 26 * 5  # a busy scene: several people per frame
    for frame in np.unique(rows[:, 0]):
        ids = rows[rows[:, 0] == frame, 1]
        assert len(np.unique(ids)) == len(ids)


def test_track_kitti_with_calibration(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "tracking" / "kitti"
    out = tmp_path / "0001.txt"
    argv = ["track", "--format", "kitti", "--detections", str(data / "det_2d_permatrack" / "0001.txt"),
            "--calib", str(data / "calib" / "0001.txt"), "--out", str(out)]
    assert main(argv) == 0
    objects = kitti.read_objects(out)
    assert {o.type for o in objects} >= {"Car", "Pedestrian"}
    located = np.array([o.location for o in objects if o.location[2] > -1000])
    assert len(located) > 0.9 * len(objects)
    np.testing.assert_allclose(located[:, 1], 1.65)  # on the ground, 1.65 m below the camera
    # in front of the camera, but for the coasting tracks of cars being passed (their boxes cut at a side border
    # of the image): they move on behind the camera
    boxes = np.array([o.box for o in objects if o.location[2] > -1000])
    inside = (boxes[:, 0] > 2) & (boxes[:, 2] < 1240)
    assert np.all(located[inside, 2] > 0) and np.mean(located[:, 2] > 0) > 0.95
