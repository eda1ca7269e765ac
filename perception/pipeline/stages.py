"""The tracking and prediction steps (no ROS): each built from its node's parameters (perception.pipeline.parameters)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from perception.camera_calibration import CameraModel
from perception.prediction.history import TrackHistories
from perception.stamps import StampGuard, StampVerdict
from perception.tracking.ego_motion import EgoMotion, FrameMotion, PlanarPose, ground_to_odom, rotation_homography
from perception.tracking.ground_plane import CameraPose, GroundMeasurements
from perception.tracking.metric_position import MetricPositionEstimator
from perception.tracking.tracker import Tracker, TrackerConfig
from perception.types import Detections, ObjectClass, PredictedPath, Track

if TYPE_CHECKING:  # the prediction stack (torch, ONNX Runtime) loads only where it runs
    from perception.pipeline.models import ModelCache
    from perception.prediction.runtime import TrajectoryPredictor

SKIPPED = (StampVerdict.DUPLICATE, StampVerdict.OUT_OF_ORDER)

# How the sign tracker differs from the object tracker (the rest comes from the tracker parameters). The sign node has
# already thresholded its signs, and their scores (detector x classifier) say nothing about box quality: every sign
# starts (confirmed) or extends a track; association is by overlap, then, for signs whose boxes no longer overlap
# (far apart in time, or close by), by ground position and type; a track's sign type is voted over its detections.
SIGN_TRACKER = dict(high_score=0.0, low_score=0.0, score_weighted_association=False, confirm_hits=1,
                    ground_association=True, vote_source_class=True)


@dataclass
class StageOutput:
    verdict: StampVerdict  # DUPLICATE / OUT_OF_ORDER: input skipped, nothing else set
    tracks: list[Track] | None = None
    paths: dict[int, list[PredictedPath]] | None = None
    ground_frame_id: str = ""  # frame of the tracks' ground positions and velocities; empty when there are none
    detections_ground: GroundMeasurements | None = None  # the detections' ground positions in ground_frame_id


def tracker_config(p: dict[str, Any]) -> TrackerConfig:
    """The tracker settings of the tracker parameters."""
    return TrackerConfig(high_score=p["high_score"], low_score=p["low_score"], max_coast_time=p["max_coast_time"],
                         report_coasting=p["report_coasting"], class_change_cost=p["class_change_cost"])


def camera_pose_from_parameters(p: dict[str, Any]) -> CameraPose:
    return CameraPose(p["camera_x"], p["camera_y"], p["camera_z"], p["camera_roll"], p["camera_pitch"], p["camera_yaw"])


class TrackingStage:
    """Ground-plane projection (once intrinsics are known) + ego-motion (odometry) + tracker + stamp checks.

    Ground measurements are moved into the odom frame with the vehicle pose at the image stamp when odometry
    gives one (velocities over the ground), and stay in the vehicle frame otherwise (see EgoMotion)."""

    @classmethod
    def from_parameters(cls, p: dict[str, Any], signs: bool = False) -> "TrackingStage":
        """signs: the tracker of the sign node's signs (SIGN_TRACKER over the tracker parameters)."""
        config = tracker_config(p)
        if signs:
            config = replace(config, **SIGN_TRACKER, max_coast_time=p["sign_max_coast_time"])
        ego_motion = None
        if p["odometry_source"] != "none":
            ego_motion = EgoMotion(p["vehicle_frame"], p["odom_frame"], p["odometry_tolerance_s"],
                                   p["odometry_timeout_s"])
        return cls(config, camera_pose_from_parameters(p), p["reset_after_backward_jump_s"], p["vehicle_frame"],
                   ego_motion)

    def __init__(self, config: TrackerConfig, pose: CameraPose, reset_after_backward_jump_s: float = 2.0,
                 vehicle_frame: str = "base_link", ego_motion: EgoMotion | None = None) -> None:
        self.config, self.pose, self.vehicle_frame, self.ego_motion = config, pose, vehicle_frame, ego_motion
        self.previous_vehicle_pose: PlanarPose | None = None
        self.tracker = Tracker(config)
        self.stamps = StampGuard(reset_after_backward_jump_s)
        self.projector: MetricPositionEstimator | None = None
        self.covariance_scales: dict[ObjectClass, float] | None = None  # of the projector; None: its default
        self.camera: CameraModel | None = None
        self.image_size: tuple[int, int] | None = None

    @property
    def intrinsics(self) -> np.ndarray | None:
        """The 3x3 camera matrix of the ground projection (rectified when the camera has distortion); None: none."""
        return None if self.camera is None else self.camera.matrix

    def set_intrinsics(self, intrinsics: "CameraModel | np.ndarray | None",
                       image_size: tuple[int, int] | None = None) -> bool:
        """Use this camera model (or 3x3 pinhole matrix; and image (width, height), which tells boxes cut at the
        border; None: unknown) from now on; None: no metric positions. True when they changed."""
        if intrinsics is None:
            changed = self.camera is not None
            self.camera, self.image_size, self.projector = None, None, None
            if changed:
                self.tracker.forget_ground()  # no ground frame now: ground states would coast on without one
            return changed
        camera = intrinsics if isinstance(intrinsics, CameraModel) else CameraModel.pinhole(intrinsics)
        if camera.same_as(self.camera) and image_size == self.image_size:
            return False
        self.camera, self.image_size = camera, image_size
        self.projector = self._estimator()
        return True

    def set_pose(self, pose: CameraPose) -> bool:
        """Use this camera mounting pose from now on (e.g. from /tf_static); True when it changed."""
        if pose == self.pose:
            return False
        self.pose = pose
        self.tracker.forget_ground()  # ground states made with the old pose would jump
        if self.camera is not None:
            self.projector = self._estimator()
        return True

    def _estimator(self) -> MetricPositionEstimator:
        return MetricPositionEstimator(self.camera, self.pose, self.image_size,
                                       covariance_scales=self.covariance_scales)

    def process(self, detections: Detections, stamp: float) -> StageOutput:
        verdict = self.stamps.check(stamp)
        if verdict in SKIPPED:
            return StageOutput(verdict)
        if verdict is StampVerdict.TIME_JUMPED_BACK:
            self.tracker.reset()
            if self.ego_motion is not None:
                self.ego_motion.restart()
        motion = self.ego_motion.at(stamp) if self.ego_motion is not None else None
        if motion is not None and motion.frame_changed:
            self.tracker.forget_ground()
        self._compensate_rotation(motion, verdict)
        ground = (self.projector.project_boxes(detections.boxes, detections.labels)
                  if self.projector and len(detections) else None)
        ground, frame = self._in_ground_frame(ground, motion)
        return StageOutput(verdict, tracks=self.tracker.update(detections, stamp, ground), ground_frame_id=frame,
                           detections_ground=ground)

    def _compensate_rotation(self, motion: FrameMotion | None, verdict: StampVerdict) -> None:
        """Move the tracks' image boxes by the camera's rotation since the previous frame (known from odometry)."""
        pose = motion.pose if motion is not None else None
        previous, self.previous_vehicle_pose = self.previous_vehicle_pose, pose
        if pose is not None and previous is not None and self.intrinsics is not None and verdict is StampVerdict.OK:
            self.tracker.warp_boxes(rotation_homography(self.intrinsics, self.pose, pose.yaw - previous.yaw))

    def _in_ground_frame(
        self, ground: GroundMeasurements | None, motion: FrameMotion | None
    ) -> tuple[GroundMeasurements | None, str]:
        """This frame's measurements in its ground frame, and that frame's id; no measurements while the ground
        state coasts in the odom frame without a pose."""
        if self.projector is None:
            return None, ""
        if motion is None or motion.ground_frame_id == self.vehicle_frame:
            return ground, self.vehicle_frame
        if motion.pose is None:
            return None, motion.ground_frame_id
        return (None if ground is None else ground_to_odom(ground, motion.pose)), motion.ground_frame_id


class PredictionStage:
    """Per-track histories + batched trajectory prediction + stamp checks."""

    @classmethod
    def from_parameters(cls, p: dict[str, Any], models: "ModelCache") -> "PredictionStage":
        """The stage of the predictor parameters; its network comes from `models` (loaded there once)."""
        def load() -> "TrajectoryPredictor":
            import torch

            from perception.prediction.runtime import TrajectoryPredictor

            torch.set_num_threads(1)  # small batched model; more threads only contend with the detector
            return TrajectoryPredictor(p["model"] or None, p["horizon_s"], p["time_step_s"])

        network = {key: p[key] for key in ("model", "horizon_s", "time_step_s")}
        return cls(models.get("predictor", network, load), p["history_s"], p["reset_after_backward_jump_s"])

    def __init__(self, predictor: "TrajectoryPredictor", history_s: float, reset_after_backward_jump_s: float = 2.0):
        self.predictor = predictor
        self.histories = TrackHistories(history_s)
        self.stamps = StampGuard(reset_after_backward_jump_s)
        self.ground_frame_id = ""

    def warm_up(self) -> None:
        """One forward pass, so that the first real message does not pay for initialisation."""
        stamps = np.linspace(0.0, self.predictor.min_history_s + 0.5, 20)
        self.predictor.predict({0: (stamps, np.column_stack([stamps, np.zeros_like(stamps)]))})

    def process(self, tracks: list[Track], stamp: float, ground_frame_id: str = "") -> StageOutput:
        """Paths for the tracks; histories restart when the tracks' ground frame changes (odometry started or
        stopped: positions of the two frames do not mix)."""
        verdict = self.stamps.check(stamp)
        if verdict in SKIPPED:
            return StageOutput(verdict)
        if verdict is StampVerdict.TIME_JUMPED_BACK or ground_frame_id != self.ground_frame_id:
            self.histories.reset()
            self.ground_frame_id = ground_frame_id
        histories = self.histories.update(stamp, tracks)
        labels = {track.track_id: track.label for track in tracks}
        grounded = [track for track in tracks if track.ground is not None]
        covariances = {track.track_id: track.ground.position_covariance for track in grounded}
        velocities = {track.track_id: track.ground.velocity for track in grounded}
        paths = self.predictor.predict(histories, labels, covariances, velocities) if histories else {}
        return StageOutput(verdict, tracks=tracks, paths=paths)
