"""Online ADE/FDE of predictions against later tracker positions, on hand-computed cases."""
import math

import numpy as np
import pytest

from perception.evaluation.online_prediction import PredictionRecord, online_errors


def test_errors_against_interpolated_observations():
    # The track moves at 1 m/s along x, observed every 0.2 s from t = 0 to 2.
    track = [(t, t, 0.0) for t in np.arange(0.0, 2.01, 0.2)]
    exact = PredictionRecord(stamp=1.0, track_id=1, time_step=0.5, positions=np.array([[1.5, 0], [2.0, 0]]),
                             model="rnn", model_steps=2)
    offset = PredictionRecord(stamp=1.0, track_id=1, time_step=0.5, positions=np.array([[1.5, 1.0], [2.0, 2.0]]),
                              model="constant_velocity", model_steps=2)
    beyond = PredictionRecord(stamp=1.5, track_id=1, time_step=0.5, positions=np.array([[2.0, 3.0], [2.5, 0.0]]),
                              model="constant_velocity", model_steps=2)  # only its first step (t = 2.0) is observed
    unknown = PredictionRecord(stamp=1.0, track_id=9, time_step=0.5, positions=np.zeros((2, 2)), model="rnn",
                               model_steps=2)
    errors = online_errors([exact, offset, beyond, unknown], {1: track})
    assert errors["rnn"].ade == 0.0 and errors["rnn"].fde == 0.0 and errors["rnn"].paths == 1
    cv = errors["constant_velocity"]
    assert math.isclose(cv.ade, (1.0 + 2.0 + 3.0) / 3) and math.isclose(cv.fde, 2.0)
    assert (cv.paths, cv.complete_paths) == (2, 1)


def test_the_extrapolated_part_counts_apart_from_the_model():
    track = [(t, t, 0.0) for t in np.arange(0.0, 3.01, 0.5)]
    # exact for its trained first two steps, then 1 m off in its two extrapolated steps
    record = PredictionRecord(stamp=1.0, track_id=1, time_step=0.5, model="rnn", model_steps=2,
                              positions=np.array([[1.5, 0.0], [2.0, 0.0], [2.5, 1.0], [3.0, 1.0]]))
    errors = online_errors([record], {1: track})
    assert errors["rnn"].ade == 0.0 and errors["rnn"].fde == 0.0 and errors["rnn"].complete_paths == 1
    extrapolated = errors["rnn extrapolated"]
    assert extrapolated.ade == 1.0 and extrapolated.fde == 1.0 and extrapolated.paths == 1


def test_steps_in_a_gap_of_the_track_are_not_scored():
    """A track published at 0-1 s and 4-5 s (every 0.1 s): a path predicted at 1 s over 1.1-3 s lies wholly in the gap,
    where the truth is unknown (a straight line across the gap would invent it), so it is not scored; one predicted at
    3.8 s is scored from 4 s on, and not complete."""
    stamps = np.r_[np.arange(0.0, 1.01, 0.1), np.arange(4.0, 5.01, 0.1)]
    track = [(t, t, 0.0) for t in stamps]
    in_gap = PredictionRecord(stamp=1.0, track_id=1, time_step=0.1,
                              positions=np.column_stack([1.0 + 0.1 * np.arange(1, 21), np.ones(20)]), model="rnn",
                              model_steps=20)
    assert online_errors([in_gap], {1: track}) == {}
    into = PredictionRecord(stamp=3.8, track_id=1, time_step=0.1,
                            positions=np.column_stack([3.8 + 0.1 * np.arange(1, 6), np.ones(5)]), model="rnn",
                            model_steps=5)
    errors = online_errors([into], {1: track})["rnn"]
    assert errors.paths == 1 and errors.complete_paths == 0 and math.isnan(errors.fde)
    assert errors.ade == pytest.approx(1.0)  # over 4.0-4.3 s, 1 m beside the track
