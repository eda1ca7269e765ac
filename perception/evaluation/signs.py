"""GTSDB scores of the sign recognizer: AP@0.5 per category, mAP over the 43 classes, recall by sign size,
classification accuracy on ground-truth boxes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.datasets.gtsdb import SceneSigns, scene_file
from perception.evaluation.detection_metrics import FrameBoxes, detection_ap
from perception.signs.gtsdb import CATEGORIES, SIGN_CLASSES
from perception.tracking.association import iou_matrix

SIZE_BINS = ((0, 32, "<32 px"), (32, 64, "32-64 px"), (64, 10_000, ">64 px"))  # by the box's larger side
CATEGORY_OF_CLASS = np.array([CATEGORIES.index(category) for _, category in SIGN_CLASSES], np.int64)


@dataclass
class SignScores:
    category_ap: dict[str, float]
    class_ap: dict[int, float]  # classes present in the ground truth
    recall_by_size: dict[str, tuple[int, int]]  # label -> (found, total)
    classification: tuple[int, int]  # (correct, total) on ground-truth boxes

    @property
    def mean_ap(self) -> float:
        return float(np.mean(list(self.class_ap.values()))) if self.class_ap else 0.0


def frame_boxes(signs: SceneSigns | None, by_category: bool, truth: bool) -> FrameBoxes:
    if signs is None:
        return FrameBoxes(np.zeros((0, 4)), np.zeros(0, np.int64), None if truth else np.zeros(0))
    labels = CATEGORY_OF_CLASS[signs.class_ids] if by_category else signs.class_ids
    return FrameBoxes(signs.boxes, labels, None if truth else signs.scores)


def ground_truth_boxes(signs: SceneSigns) -> np.ndarray:
    """GTSDB's inclusive corners as the half-open pixel boxes detectors output."""
    return signs.boxes + np.array([0, 0, 1, 1], np.float32)


def size_recall(found: dict[str, SceneSigns], truth: dict[str, SceneSigns], names: list[str]) -> dict[str, tuple[int, int]]:
    """Ground-truth signs overlapped (IoU >= 0.5) by any detection, whatever its class, per size bin."""
    counts = {label: [0, 0] for _, _, label in SIZE_BINS}
    for name in names:
        if name not in truth:
            continue
        boxes = ground_truth_boxes(truth[name])
        detections = found.get(name)
        overlaps = iou_matrix(boxes.astype(float), detections.boxes.astype(float)) if detections else None
        for row, box in enumerate(boxes):
            side = max(box[2] - box[0], box[3] - box[1])
            label = next(label for low, high, label in SIZE_BINS if low <= side < high)
            counts[label][1] += 1
            counts[label][0] += int(overlaps is not None and overlaps.shape[1] > 0 and overlaps[row].max() >= 0.5)
    return {label: (found_count, total) for label, (found_count, total) in counts.items()}


def score_signs(
    found: dict[str, SceneSigns], truth: dict[str, SceneSigns], names: list[str], classification: tuple[int, int]
) -> SignScores:
    truth_half_open = {
        name: SceneSigns(ground_truth_boxes(signs), signs.class_ids, signs.scores) for name, signs in truth.items()
    }
    ap = {}
    for by_category in (True, False):
        detections = [frame_boxes(found.get(name), by_category, truth=False) for name in names]
        expected = [frame_boxes(truth_half_open.get(name), by_category, truth=True) for name in names]
        ap[by_category] = detection_ap(detections, expected, 0.5)
    category_ap = {CATEGORIES[index]: value for index, value in ap[True].items()}
    return SignScores(category_ap, ap[False], size_recall(found, truth, names), classification)


def evaluate(recognizer, gtsdb_dir: Path, truth: dict[str, SceneSigns], scenes: range, progress=None):
    """Run `recognizer` over the scenes; returns (detections per file, SignScores)."""
    from perception.signs.training_data import read_scene

    names = [scene_file(number) for number in scenes]
    found: dict[str, SceneSigns] = {}
    correct = total = 0
    for name in progress(names) if progress else names:
        image = read_scene(gtsdb_dir, name)
        detections = recognizer.recognize(image)
        found[name] = SceneSigns(detections.boxes, detections.source_class_ids, detections.scores)
        if name in truth:
            class_ids, _ = recognizer.classifier.classify(image, truth[name].boxes)
            correct += int((class_ids == truth[name].class_ids).sum())
            total += len(class_ids)
    return found, score_signs(found, truth, names, (correct, total))


def score_lines(scores: SignScores, scene_count: int) -> list[str]:
    lines = [f"GTSDB scenes: {scene_count}"]
    for category in CATEGORIES:
        value = scores.category_ap.get(category)
        lines.append(f"AP@0.5 {category:<12} {'n/a (no signs)' if value is None else f'{value:.3f}'}")
    lines.append(f"mAP@0.5 over {len(scores.class_ap)} classes present (right class required): {scores.mean_ap:.3f}")
    for label, (found_count, total) in scores.recall_by_size.items():
        share = f"{found_count / total:.3f}" if total else "n/a"
        lines.append(f"recall {label:<9} {share} ({found_count}/{total}, any class, IoU >= 0.5)")
    correct, total = scores.classification
    lines.append(f"classification on ground-truth boxes: {correct / max(total, 1):.4f} ({correct}/{total})")
    return lines
