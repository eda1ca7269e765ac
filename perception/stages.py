"""The pipeline steps as the nodes run them, without ROS, so that offline evaluation feeds exactly the
same code as the live graph. Each is built from the node's parameter dictionary."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from perception.prediction.history import TrackHistories
from perception.stamps import StampGuard, StampVerdict
from perception.tracking.ground_plane import CameraPose, GroundPlaneProjector
from perception.tracking.tracker import Tracker, TrackerConfig
from perception.types import Detections, PredictedPath, Track

if TYPE_CHECKING:  # the detection and prediction stacks (ONNX Runtime, torch) load only where they run
    from perception.detection.detector import Detector
    from perception.prediction.runtime import TrajectoryPredictor

SKIPPED = (StampVerdict.DUPLICATE, StampVerdict.OUT_OF_ORDER)


@dataclass
class StageOutput:
    verdict: StampVerdict  # DUPLICATE / OUT_OF_ORDER: input skipped, nothing else set
    tracks: list[Track] | None = None
    paths: dict[int, list[PredictedPath]] | None = None


def detector_from_parameters(p: dict[str, Any], status_callback: Callable[[str], None] | None = None) -> "Detector":
    """The detector node's detector, from its parameters."""
    from perception.detection.factory import create_detector

    return create_detector(
        model=p["model"] or None, backend=p["backend"], imgsz=p["imgsz"], conf=p["conf_threshold"],
        iou=p["iou_threshold"], device=p["device"] or None, fallback=p["fallback"],
        unknown_classes=p["unknown_classes"], status_callback=status_callback,
    )


def camera_pose_from_parameters(p: dict[str, Any]) -> CameraPose:
    return CameraPose(p["camera_x"], p["camera_y"], p["camera_z"], p["camera_roll"], p["camera_pitch"], p["camera_yaw"])


class TrackingStage:
    """Ground-plane projection (once intrinsics are known) + tracker + stamp checks."""

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> "TrackingStage":
        config = TrackerConfig(high_score=p["high_score"], low_score=p["low_score"], max_coast_time=p["max_coast_time"],
                               report_coasting=p["report_coasting"])
        return cls(config, camera_pose_from_parameters(p), p["reset_after_backward_jump_s"])

    def __init__(self, config: TrackerConfig, pose: CameraPose, reset_after_backward_jump_s: float = 2.0) -> None:
        self.config, self.pose = config, pose
        self.tracker = Tracker(config)
        self.stamps = StampGuard(reset_after_backward_jump_s)
        self.projector: GroundPlaneProjector | None = None
        self.intrinsics: np.ndarray | None = None

    def set_intrinsics(self, intrinsics: np.ndarray) -> bool:
        """Use these camera intrinsics from now on; True when they changed."""
        if self.intrinsics is not None and np.allclose(intrinsics, self.intrinsics):
            return False
        self.intrinsics = intrinsics
        self.projector = GroundPlaneProjector(intrinsics, self.pose)
        return True

    def process(self, detections: Detections, stamp: float) -> StageOutput:
        verdict = self.stamps.check(stamp)
        if verdict in SKIPPED:
            return StageOutput(verdict)
        if verdict is StampVerdict.TIME_JUMPED_BACK:
            self.tracker.reset()
        ground = self.projector.project_boxes(detections.boxes) if self.projector and len(detections) else None
        return StageOutput(verdict, tracks=self.tracker.update(detections, stamp, ground))


class PredictionStage:
    """Per-track histories + batched trajectory prediction + stamp checks."""

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> "PredictionStage":
        import torch

        from perception.prediction.runtime import TrajectoryPredictor

        torch.set_num_threads(1)  # small batched model; more threads only contend with the detector
        predictor = TrajectoryPredictor(p["model"] or None, p["horizon_s"], p["time_step_s"])
        return cls(predictor, p["history_s"], p["reset_after_backward_jump_s"])

    def __init__(self, predictor: "TrajectoryPredictor", history_s: float, reset_after_backward_jump_s: float = 2.0):
        self.predictor = predictor
        self.histories = TrackHistories(history_s)
        self.stamps = StampGuard(reset_after_backward_jump_s)

    def warm_up(self) -> None:
        """One forward pass, so that the first real message does not pay for initialisation."""
        stamps = np.linspace(0.0, self.predictor.min_history_s + 0.5, 20)
        self.predictor.predict({0: (stamps, np.column_stack([stamps, np.zeros_like(stamps)]))})

    def process(self, tracks: list[Track], stamp: float) -> StageOutput:
        verdict = self.stamps.check(stamp)
        if verdict in SKIPPED:
            return StageOutput(verdict)
        if verdict is StampVerdict.TIME_JUMPED_BACK:
            self.histories.reset()
        histories = self.histories.update(stamp, tracks)
        return StageOutput(verdict, tracks=tracks, paths=self.predictor.predict(histories) if histories else {})
