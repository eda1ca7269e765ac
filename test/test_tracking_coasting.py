"""Coasting tracks: reported with frames_since_update when asked (the node's default), not in benchmark mode."""
import numpy as np

from perception.tracking.tracker import Tracker, TrackerConfig
from perception.types import Detections, ObjectClass


def car(x: float) -> Detections:
    return Detections(np.array([[x, 100.0, x + 50.0, 150.0]], np.float32), np.array([0.9], np.float32),
                      np.array([int(ObjectClass.CAR)]), np.array([2]))


def run(report_coasting: bool) -> list:
    tracker = Tracker(TrackerConfig(report_coasting=report_coasting, max_coast_time=1.0))
    outputs = [tracker.update(car(100.0 + 5 * i), 0.1 * i) for i in range(5)]
    outputs.append(tracker.update(Detections.empty(), 0.5))  # the car is missed once
    outputs.append(tracker.update(car(130.0), 0.6))
    return outputs


def test_coasting_track_is_reported_with_its_missed_frames_and_predicted_box():
    outputs = run(report_coasting=True)
    (coasting,) = outputs[5]
    assert coasting.frames_since_update == 1 and coasting.track_id == outputs[4][0].track_id
    assert coasting.box[0] > outputs[4][0].box[0]  # predicted forward, not frozen
    (back,) = outputs[6]
    assert back.track_id == coasting.track_id and back.frames_since_update == 0


def test_benchmark_mode_reports_only_matched_tracks():
    outputs = run(report_coasting=False)
    assert outputs[5] == [] and outputs[6][0].track_id == outputs[4][0].track_id
