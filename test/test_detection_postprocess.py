"""YOLOv8 output decoding and class-aware NMS (shared by every backend)."""
import numpy as np
import pytest

from perception.detection.postprocess import class_aware_nms, decode_candidates, postprocess
from perception.detection.preprocess import LetterboxTransform

CLASSES = 5


def head_output(rows: list[tuple[float, float, float, float, int, float]]) -> np.ndarray:
    """A (1, 4 + CLASSES, N) output from (cx, cy, w, h, class, score) rows."""
    output = np.zeros((1, 4 + CLASSES, len(rows)), np.float32)
    for index, (cx, cy, w, h, class_id, score) in enumerate(rows):
        output[0, :4, index] = cx, cy, w, h
        output[0, 4 + class_id, index] = score
    return output


def test_overlapping_boxes_of_different_classes_both_survive_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    keep = class_aware_nms(boxes, scores, np.array([0, 0, 1]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]  # box 1 is suppressed by box 0 of its class; box 2 is another class


def test_nms_keeps_disjoint_boxes_in_score_order():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    keep = class_aware_nms(boxes, np.array([0.3, 0.9], np.float32), np.array([2, 2]), iou_threshold=0.5)
    assert keep.tolist() == [1, 0]


def test_decode_converts_centre_boxes_and_thresholds_scores():
    output = head_output([(50, 40, 20, 10, 3, 0.8), (10, 10, 4, 4, 1, 0.1)])
    decoded = decode_candidates(output, conf_threshold=0.25, class_ids_allowed=None)
    assert decoded.boxes.tolist() == [[40.0, 35.0, 60.0, 45.0]]
    assert decoded.class_ids.tolist() == [3]
    assert decoded.scores.tolist() == pytest.approx([0.8])


def test_decode_ignores_classes_not_allowed():
    output = head_output([(50, 40, 20, 10, 3, 0.8), (10, 10, 4, 4, 1, 0.6)])
    decoded = decode_candidates(output, conf_threshold=0.25, class_ids_allowed=np.array([0, 1]))
    assert decoded.class_ids.tolist() == [1]


def test_postprocess_rescales_to_source_pixels_and_caps_count():
    transform = LetterboxTransform(scale=0.5, pad_x=0.0, pad_y=10.0, source_hw=(200, 400))
    rows = [(20 + 30 * i, 60, 10, 10, 0, 0.5 + i / 100) for i in range(5)]
    result = postprocess(head_output(rows), transform, 0.25, 0.45, max_detections=3)
    assert len(result.scores) == 3 and result.scores[0] == pytest.approx(0.54)
    assert result.boxes[0].tolist() == pytest.approx([(20 + 120 - 5) * 2, (60 - 5 - 10) * 2, (20 + 120 + 5) * 2, 110])


def test_malformed_output_is_rejected():
    with pytest.raises(ValueError, match="4 \\+ classes"):
        decode_candidates(np.zeros((84, 100), np.float32), 0.25, None)
