"""Benchmark sequences as timed frames of Detections, run through a tracker (the result files:
perception.datasets.tracking_results; KITTI through the tracker node's stage: perception.evaluation.kitti_pipeline)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from perception.datasets.kitti import KittiObject
from perception.datasets.mot import SequenceInfo
from perception.tracking.ground_plane import GroundPlaneProjector
from perception.types import Detections, ObjectClass, Track

KITTI_FRAME_RATE = 10.0
KITTI_TYPE_CLASSES = {
    "Car": ObjectClass.CAR,
    "Van": ObjectClass.CAR,
    "Truck": ObjectClass.TRUCK,
    "Pedestrian": ObjectClass.PEDESTRIAN,
    "Person_sitting": ObjectClass.PEDESTRIAN,
    "Cyclist": ObjectClass.BICYCLE,
    "Tram": ObjectClass.BUS,
}



class FrameTracker(Protocol):
    def update(self, detections: Detections, stamp: float) -> list[Track]: ...


@dataclass
class Frame:
    number: int  # as numbered in the benchmark files
    stamp: float  # seconds
    detections: Detections


def mot_frames(rows: np.ndarray, info: SequenceInfo, from_frame: int = 1) -> list[Frame]:
    """Frames from_frame..info.length of MOTChallenge detection rows (all pedestrians)."""
    frames = []
    for number in range(from_frame, info.length + 1):
        selected = rows[rows[:, 0] == number]
        boxes = np.column_stack([selected[:, 2:4], selected[:, 2:4] + selected[:, 4:6]]).astype(np.float32)
        detections = Detections(
            boxes=boxes,
            scores=selected[:, 6].astype(np.float32),
            labels=np.full(len(selected), int(ObjectClass.PEDESTRIAN)),
            source_class_ids=np.full(len(selected), -1),
        )
        frames.append(Frame(number, (number - 1) / info.frame_rate, detections))
    return frames


def kitti_frames(objects: list[KittiObject], length: int = 0) -> list[Frame]:
    """Frames 0..last of KITTI detections (at least `length` frames); types outside KITTI_TYPE_CLASSES (DontCare,
    Misc) are dropped."""
    last = max(max((o.frame for o in objects), default=-1), length - 1)
    by_frame: list[list[KittiObject]] = [[] for _ in range(last + 1)]
    for o in objects:
        if o.type in KITTI_TYPE_CLASSES:
            by_frame[o.frame].append(o)
    frames = []
    for number, frame_objects in enumerate(by_frame):
        detections = Detections(
            boxes=np.array([o.box for o in frame_objects], np.float32).reshape(-1, 4),
            scores=np.array([1.0 if o.score is None else o.score for o in frame_objects], np.float32),
            labels=np.array([int(KITTI_TYPE_CLASSES[o.type]) for o in frame_objects], np.int64),
            source_class_ids=np.full(len(frame_objects), -1),
        )
        frames.append(Frame(number, number / KITTI_FRAME_RATE, detections))
    return frames


def run_tracker(
    tracker: FrameTracker, frames: list[Frame], projector: GroundPlaneProjector | None = None
) -> list[tuple[int, list[Track]]]:
    """Feed the frames in order; with a projector, box bottoms are projected to the ground for each frame."""
    results = []
    for frame in frames:
        if projector is None:
            tracks = tracker.update(frame.detections, frame.stamp)
        else:
            ground = projector.project_boxes(frame.detections.boxes.astype(float))
            tracks = tracker.update(frame.detections, frame.stamp, ground)  # type: ignore[call-arg]
        results.append((frame.number, tracks))
    return results
