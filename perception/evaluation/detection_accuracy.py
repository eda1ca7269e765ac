"""Is a quantized detector as accurate as the float one? Agreement on real frames and AP@0.5 against ground truth.

Evaluation frames (none of them is a calibration frame, see perception/detection/quantize.py):
- the Udacity highway clip (1280x720, 38 frames) and the six Udacity highway images;
- the KITTI frames of images/kitti; the three of tracking sequence 0001 have ground truth (label_02, Car and
  Pedestrian);
- GTSDB scenes: images/gtsdb and every training scene with a stop sign (the stop signs are the ground truth:
  COCO's "stop sign" is our TRAFFIC_SIGN).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.datasets.gtsdb import gtsdb_stop_signs, stop_sign_scenes
from perception.detection.frames import read_frames
from perception.detection.postprocess import box_iou
from perception.evaluation.detection_metrics import FrameBoxes, detection_ap
from perception.types import Detections, ObjectClass

KITTI_CLASSES = {"Car": ObjectClass.CAR, "Pedestrian": ObjectClass.PEDESTRIAN}
KITTI_TRACKING_FRAME = re.compile(r"^training_(?P<sequence>\d{4})_(?P<frame>\d{6})$")
REPORTED_SCORE = 0.25  # the detections compared: the float model's at this score and above


@dataclass
class EvalFrame:
    name: str
    image: np.ndarray
    truth: FrameBoxes | None = None  # None: no ground truth for this frame


def kitti_tracking_truth(label_dir: Path, sequence: str, frame: int) -> FrameBoxes | None:
    """Car and Pedestrian boxes of one frame of a KITTI tracking sequence; None without a label file."""
    path = label_dir / f"{sequence}.txt"
    if not path.is_file():
        return None
    boxes, labels = [], []
    for line in path.read_text().splitlines():
        fields = line.split()
        if int(fields[0]) == frame and fields[2] in KITTI_CLASSES:
            boxes.append([float(value) for value in fields[6:10]])
            labels.append(int(KITTI_CLASSES[fields[2]]))
    return FrameBoxes(np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64))


def evaluation_frames(shared_data: Path) -> dict[str, list[EvalFrame]]:
    """The evaluation sets by name."""
    images = shared_data / "images"
    sets: dict[str, list[EvalFrame]] = {
        "udacity clip": [
            EvalFrame(f"clip:{index}", image)
            for index, image in read_frames(shared_data / "clips" / "udacity_highway_1280x720.mp4")
        ],
        "udacity images": [EvalFrame(path.stem, next(read_frames(path))[1])
                           for path in sorted((images / "udacity").glob("*.jpg"))],
        "kitti": [],
        "gtsdb": [],
    }
    for path in sorted((images / "kitti").glob("*.png")):
        match = KITTI_TRACKING_FRAME.match(path.stem)
        truth = None
        if match:
            truth = kitti_tracking_truth(
                shared_data / "tracking" / "kitti" / "label_02", match["sequence"], int(match["frame"]))
        sets["kitti"].append(EvalFrame(path.stem, next(read_frames(path))[1], truth))
    stops = gtsdb_stop_signs(shared_data / "signs" / "gtsdb" / "train" / "gt.txt")
    stops.update(gtsdb_stop_signs(images / "gtsdb" / "gt_subset.txt"))
    for name in sorted(stop_sign_scenes(shared_data)):
        path = images / "gtsdb" / f"{name}.jpg"
        path = path if path.is_file() else shared_data / "signs" / "gtsdb" / "train" / f"{name}.jpg"
        boxes = stops.get(name, np.zeros((0, 4), np.float32))
        truth = FrameBoxes(boxes, np.full(len(boxes), int(ObjectClass.TRAFFIC_SIGN), np.int64))
        sets["gtsdb"].append(EvalFrame(name, next(read_frames(path))[1], truth))
    return sets


@dataclass
class Agreement:
    """How many of the reference's detections (score >= REPORTED_SCORE) the candidate found, and score changes."""

    candidate_min_score: float  # candidate detections below it do not count
    reference: int = 0
    found: int = 0
    score_differences: list[float] = field(default_factory=list)  # candidate - reference, matched pairs

    @property
    def share(self) -> float:
        return self.found / self.reference if self.reference else 1.0

    def add(self, reference: Detections, candidate: Detections, iou_threshold: float = 0.5) -> None:
        """Match each reported reference detection to the best same-class candidate box with IoU >= iou_threshold."""
        taken = candidate.scores < self.candidate_min_score
        for index in np.argsort(-reference.scores):
            if reference.scores[index] < REPORTED_SCORE:
                continue
            self.reference += 1
            same_class = (candidate.labels == reference.labels[index]) & ~taken
            ious = np.where(same_class, box_iou(reference.boxes[index], candidate.boxes), 0.0)
            if len(ious) and ious.max() >= iou_threshold:
                best = int(ious.argmax())
                taken[best] = True
                self.found += 1
                self.score_differences.append(float(candidate.scores[best] - reference.scores[index]))


def frame_boxes(detections: Detections) -> FrameBoxes:
    return FrameBoxes(detections.boxes, detections.labels.astype(np.int64), detections.scores)


@dataclass
class SetResult:
    name: str
    frames: int
    agreement: Agreement  # candidate detections at REPORTED_SCORE and above
    agreement_tracked: Agreement  # candidate detections down to the tracker's input threshold
    ap: dict[str, tuple[float, float]]  # class name -> (reference AP, candidate AP)


def compare(reference, candidate, frames: Sequence[EvalFrame], name: str, tracked_score: float = 0.1) -> SetResult:
    """Run both detectors (conf <= tracked_score) on every frame; agreement, and AP@0.5 of each where the frames
    have ground truth."""
    agreement, agreement_tracked = Agreement(REPORTED_SCORE), Agreement(tracked_score)
    truth, found = [], {"reference": [], "candidate": []}
    for frame in frames:
        ours, theirs = reference.detect(frame.image), candidate.detect(frame.image)
        agreement.add(ours, theirs)
        agreement_tracked.add(ours, theirs)
        if frame.truth is not None:
            truth.append(frame.truth)
            found["reference"].append(frame_boxes(ours))
            found["candidate"].append(frame_boxes(theirs))
    ap = {}
    if truth:
        reference_ap, candidate_ap = detection_ap(found["reference"], truth), detection_ap(found["candidate"], truth)
        ap = {ObjectClass(label).name: (reference_ap[label], candidate_ap[label]) for label in reference_ap}
    return SetResult(name, len(frames), agreement, agreement_tracked, ap)


def result_rows(results: Sequence[SetResult]) -> Iterator[str]:
    """Markdown table rows: frames, detections, found share, score differences, AP per class."""
    yield ("| frames | float detections (score >= 0.25) | found by INT8 >= 0.25 (IoU >= 0.5, same class) "
           "| found by INT8 >= 0.1 | score change median / p5 / p95 | AP@0.5 float -> INT8 |")
    yield "|---|---|---|---|---|---|"
    for result in results:
        diffs = np.array(result.agreement.score_differences or [0.0])
        p5, median, p95 = np.percentile(diffs, [5, 50, 95])
        ap = ", ".join(f"{name} {before:.3f} -> {after:.3f}" for name, (before, after) in result.ap.items()) or "-"
        yield (f"| {result.name} ({result.frames}) | {result.agreement.reference} | {result.agreement.found} "
               f"({100 * result.agreement.share:.1f} %) | {result.agreement_tracked.found} "
               f"({100 * result.agreement_tracked.share:.1f} %) | {median:+.3f} / {p5:+.3f} / {p95:+.3f} | {ap} |")


def combined(results: Sequence[SetResult]) -> SetResult:
    """All sets together (agreement only: AP is per set)."""
    total = SetResult("all", sum(result.frames for result in results), Agreement(REPORTED_SCORE),
                      Agreement(results[0].agreement_tracked.candidate_min_score), {})
    for result in results:
        for mine, theirs in ((total.agreement, result.agreement), (total.agreement_tracked, result.agreement_tracked)):
            mine.reference += theirs.reference
            mine.found += theirs.found
            mine.score_differences += theirs.score_differences
    return total
