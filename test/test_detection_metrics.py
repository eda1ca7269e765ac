"""Detection AP on hand-computed cases."""
import numpy as np
import pytest

from perception.evaluation.detection_metrics import FrameBoxes, average_precision, detection_ap


def test_average_precision_of_a_known_curve():
    # Hits at ranks 1 and 3 of 3 detections, 2 positives: precision 1, 0.5, 0.67 at recall 0.5, 0.5, 1.
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_detection_ap_per_class_with_duplicates_and_misses():
    truth = [FrameBoxes(np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([3, 1]))]
    found = [FrameBoxes(np.array([[0, 0, 10, 10], [0, 0, 10, 11], [50, 50, 60, 60]]), np.array([3, 3, 1]),
                        np.array([0.9, 0.8, 0.7]))]
    ap = detection_ap(found, truth)
    assert ap[3] == pytest.approx(1.0)  # the duplicate comes after the hit: precision envelope stays 1 at recall 1
    assert ap[1] == 0.0  # the only pedestrian detection misses
