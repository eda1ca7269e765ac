"""A track's class probabilities, its label across vehicle classes, and its existence probability."""
from __future__ import annotations

import math

import numpy as np
import pytest
from test_tracking_association import box_at, detections

from perception.tracking import Tracker, TrackerConfig
from perception.tracking.tracker import class_change_costs
from perception.types import ObjectClass

CAR, TRUCK, BUS, PEDESTRIAN = ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS, ObjectClass.PEDESTRIAN


def test_a_box_flipping_between_car_and_truck_keeps_one_track_labelled_by_its_summed_scores() -> None:
    tracker = Tracker()
    labels = [CAR, TRUCK, CAR, TRUCK, TRUCK, CAR, CAR]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.9, 0.8]
    for frame, (label, score) in enumerate(zip(labels, scores)):
        (track,) = tracker.update(detections([box_at(100 + 4 * frame, width=120, height=80)], [score], [label]),
                                  frame * 0.1)
        car = sum(s for s, c in zip(scores[:frame + 1], labels) if c == CAR)
        truck = sum(s for s, c in zip(scores[:frame + 1], labels) if c == TRUCK)
        assert track.track_id == 1
        assert track.class_probabilities == pytest.approx(
            {c: p for c, p in ((CAR, car / (car + truck)), (TRUCK, truck / (car + truck))) if p > 0})
        assert list(track.class_probabilities) == sorted(track.class_probabilities,
                                                         key=lambda c: -track.class_probabilities[c])
        assert track.label == max(track.class_probabilities, key=track.class_probabilities.get)
    # after frame 4 the trucks outweigh (0.8 + 0.6 + 0.5 > 0.9 + 0.7), after frame 6 the cars again
    assert track.label == CAR


def test_the_truck_label_wins_once_its_scores_outweigh_the_cars() -> None:
    tracker = Tracker()
    for frame, label in enumerate([CAR, TRUCK, TRUCK]):
        (track,) = tracker.update(detections([box_at(100, width=120, height=80)], [0.8], [label]), frame * 0.1)
    assert track.label == TRUCK and track.class_probabilities == pytest.approx({TRUCK: 2 / 3, CAR: 1 / 3})


def test_without_the_penalty_a_car_flip_would_split_the_track() -> None:
    """class_change_cost 1: vehicle classes never mix, the old behaviour that split the track."""
    tracker = Tracker(TrackerConfig(class_change_cost=1.0))
    seen = set()
    for frame, label in enumerate([CAR, CAR, TRUCK, TRUCK]):
        seen |= {t.track_id for t in tracker.update(detections([box_at(100, width=120, height=80)], [0.9], [label]),
                                                    frame * 0.1)}
    assert seen == {1, 2}


def test_pedestrians_and_cars_never_mix_and_the_same_class_is_preferred() -> None:
    costs = class_change_costs(np.array([CAR, PEDESTRIAN, BUS]), np.array([CAR, TRUCK, PEDESTRIAN]), 0.2)
    np.testing.assert_allclose(costs, [[0.0, 0.2, 1.0], [1.0, 1.0, 0.0], [0.2, 0.2, 1.0]])
    tracker = Tracker()
    for frame in range(3):
        tracker.update(detections([box_at(100), box_at(300, width=120, height=80)], [0.9, 0.9], [PEDESTRIAN, CAR]),
                       frame * 0.1)
    # the pedestrian's box is now called a car and the car's a truck: the pedestrian track is not continued
    tracks = tracker.update(detections([box_at(100), box_at(300, width=120, height=80)], [0.9, 0.9], [CAR, TRUCK]),
                            0.3)
    assert [(t.track_id, t.label) for t in tracks] == [(2, CAR)]


def test_existence_is_a_bounded_time_average_of_scores_with_misses_as_zero() -> None:
    tau = 0.5
    tracker = Tracker(TrackerConfig(report_coasting=True, existence_time_constant=tau))
    expected = None
    stamps = [0.0, 0.1, 0.2, 0.35, 0.4, 0.6, 0.7, 0.8]
    scores = [0.7, 0.9, 0.8, None, 0.95, None, None, 0.9]  # None: no detection (the track coasts)
    previous = None
    for stamp, score in zip(stamps, scores):
        boxes = [] if score is None else [box_at(100)]
        tracks = tracker.update(detections(boxes, [] if score is None else [score]), stamp)
        gain = 0.0 if previous is None else 1 - math.exp(-(stamp - previous) / tau)
        expected = score if expected is None else expected + gain * ((score or 0.0) - expected)
        previous = stamp
        (track,) = tracks
        assert track.existence_probability == pytest.approx(expected)
        assert 0.0 <= track.existence_probability <= 1.0
    assert track.score == pytest.approx(0.9)  # the last detection's score stays the track's score
