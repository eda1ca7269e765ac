"""Tracker association on hand-made scenes."""
from __future__ import annotations

import numpy as np
import pytest

from perception.tracking import GroundMeasurements, Tracker, TrackerConfig
from perception.types import Detections, ObjectClass


def detections(boxes: list[list[float]], scores: list[float] | None = None, labels: list[ObjectClass] | None = None) -> Detections:
    n = len(boxes)
    return Detections(
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.array(scores if scores is not None else [0.9] * n, np.float32),
        labels=np.array(labels if labels is not None else [ObjectClass.PEDESTRIAN] * n, np.int64),
        source_class_ids=np.full(n, -1),
    )


def box_at(x: float, y: float = 100.0, width: float = 40.0, height: float = 100.0) -> list[float]:
    return [x, y, x + width, y + height]


def ids(tracks) -> list[int]:
    return sorted(t.track_id for t in tracks)


def test_identity_kept_through_short_occlusion() -> None:
    tracker = Tracker()
    seen = []
    for frame in range(20):
        x = 100 + 10 * frame  # 100 px/s at 10 Hz
        occluded = 8 <= frame < 12  # 0.4 s, shorter than max_coast_time
        tracks = tracker.update(detections([] if occluded else [box_at(x)]), stamp=frame * 0.1)
        assert len(tracks) == (0 if occluded else 1)
        seen += ids(tracks)
    assert set(seen) == {1}


def test_low_score_detections_extend_tracks_but_do_not_start_them() -> None:
    tracker = Tracker()
    for frame in range(5):
        tracker.update(detections([box_at(100 + 5 * frame)], [0.9]), frame * 0.1)
    for frame in range(5, 10):  # partly occluded: low scores, plus a low-score clutter box elsewhere
        tracks = tracker.update(detections([box_at(100 + 5 * frame), box_at(600)], [0.3, 0.3]), frame * 0.1)
        assert ids(tracks) == [1]
        np.testing.assert_allclose(tracks[0].box[0], 100 + 5 * frame, atol=3.0)


def test_matching_is_class_aware() -> None:
    tracker = Tracker()
    for frame in range(3):
        tracker.update(detections([box_at(100)]), frame * 0.1)
    tracks = tracker.update(detections([box_at(100)], labels=[ObjectClass.CAR]), 0.3)
    assert tracks == []  # the pedestrian track is not continued by a car, the car track is still tentative
    tracks = tracker.update(detections([box_at(100)], labels=[ObjectClass.CAR]), 0.4)
    assert [(t.track_id, t.label) for t in tracks] == [(2, ObjectClass.CAR)]


def test_ids_are_never_reused() -> None:
    config = TrackerConfig(max_coast_time=0.5)
    tracker = Tracker(config)
    stamp, seen = 0.0, []
    for appearance in range(3):
        for _ in range(3):
            seen.append(ids(tracker.update(detections([box_at(100)]), stamp)))
            stamp += 0.1
        stamp += 1.0  # gap longer than max_coast_time: the track is deleted
    # the first update confirms at once; later births need a second hit
    assert seen == [[1], [1], [1], [], [2], [2], [], [3], [3]]


def test_prediction_uses_elapsed_time_across_uneven_steps() -> None:
    tracker = Tracker()
    stamps = [0.0, 0.1, 0.15, 0.3, 0.35, 0.5, 0.9, 1.0]
    for stamp in stamps:  # 200 px/s; the 0.4 s gap moves the 40 px wide box by 80 px
        tracks = tracker.update(detections([box_at(100 + 200 * stamp)]), stamp)
    assert ids(tracks) == [1]
    assert tracks[0].age == pytest.approx(1.0)
    assert tracks[0].hits == len(stamps)


def test_rejects_stamps_going_backwards() -> None:
    tracker = Tracker()
    tracker.update(detections([box_at(100)]), 1.0)
    with pytest.raises(ValueError):
        tracker.update(detections([box_at(100)]), 0.5)


def test_ground_state_tracks_position_and_velocity() -> None:
    tracker = Tracker()
    covariance = np.diag([0.04, 0.04])[None]
    for frame in range(30):
        stamp = frame * 0.1
        ground = GroundMeasurements(np.array([[10.0 + 2.0 * stamp, -1.0]]), covariance, np.array([True]))
        tracks = tracker.update(detections([box_at(100)]), stamp, ground)
    state = tracks[0].ground
    np.testing.assert_allclose(state.position, [10.0 + 2.0 * stamp, -1.0], atol=0.1)
    np.testing.assert_allclose(state.velocity, [2.0, 0.0], atol=0.2)
    assert np.all(np.linalg.eigvalsh(state.position_covariance) < 0.04)


def test_persistent_measurement_error_is_not_averaged_away() -> None:
    # every measurement of the object carries the same (persistent) error: the filter's own covariance shrinks with
    # the updates, the reported one keeps the persistent part
    tracker = Tracker()
    persistent = np.diag([1.0, 0.01])[None]
    for frame in range(30):
        ground = GroundMeasurements(np.array([[10.0, -1.0]]), persistent + np.diag([0.04, 0.04])[None],
                                    np.array([True]), persistent)
        tracks = tracker.update(detections([box_at(100)]), frame * 0.1, ground)
    covariance = tracks[0].ground.position_covariance
    assert np.all(np.linalg.eigvalsh(covariance - persistent[0]) > 0)
    assert covariance[0, 0] < 1.0 + 1.04  # the persistent part plus less than one measurement's covariance
