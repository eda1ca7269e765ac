"""The tracker's work for one camera, without ROS: its inputs checked and counted, objects and signs tracked.

Owns what the tracker node and offline evaluation both need: intrinsics from CameraInfo or the fallback parameters
(camera_info_file, fov_deg), the vehicle pose from odometry, stamp checks, and the status and counters that
/diagnostics shows (perception.pipeline.health). The node and `run_offline` only convert messages and call it.
"""
from __future__ import annotations

from typing import Any

from perception.camera_calibration import (
    NO_METRIC_POSITIONS,
    CalibrationError,
    CameraCalibration,
    fallback_intrinsics,
)
from perception.pipeline.health import OK, WARN, Health, accept_stamp
from perception.pipeline.stages import StageOutput, TrackingStage
from perception.tracking.ego_motion import EgoMotion, OdometryVerdict, PlanarPose
from perception.types import Detections

REJECTED_ODOMETRY = (OdometryVerdict.DUPLICATE, OdometryVerdict.TOO_OLD)


class CameraTracking:
    """Objects (and, with track_signs, the sign node's signs) of one camera tracked on the ground plane.

    `parameters`: the tracker's, from the parameter table (perception.pipeline.parameters.TRACKER); for a
    fov_deg guess image_width / image_height must be set (offline evaluation takes them from the bag)."""

    def __init__(self, parameters: dict[str, Any], health: Health | None = None) -> None:
        self.parameters = parameters
        self.health = health or Health()
        self.objects = TrackingStage.from_parameters(parameters)
        self.signs = TrackingStage.from_parameters(parameters, signs=True) if parameters["track_signs"] else None
        self.health.set_values(ground_frame_id="")
        self._use_fallback_intrinsics()

    @property
    def stages(self) -> list[TrackingStage]:
        return [self.objects] + ([self.signs] if self.signs is not None else [])

    @property
    def ego_motion(self) -> EgoMotion | None:
        return self.objects.ego_motion

    def _use_fallback_intrinsics(self) -> None:
        """Intrinsics from camera_info_file / fov_deg until a valid CameraInfo arrives; the status says which."""
        try:
            intrinsics, image_size, metric_positions = fallback_intrinsics(self.parameters)
        except CalibrationError as error:
            self.health.log(WARN, f"no fallback intrinsics: {error}")
            intrinsics, image_size, metric_positions = None, None, f"{NO_METRIC_POSITIONS} ({error})"
        self.health.set_values(metric_positions=metric_positions)
        if intrinsics is None:
            self.health.set_status(WARN, "waiting for camera_info: image-space tracking, no metric positions")
            return
        for stage in self.stages:
            stage.set_intrinsics(intrinsics, image_size)
        self.health.set_status(OK, "tracking on the ground plane (intrinsics " + metric_positions + ")")

    def add_camera_info(self, calibration: CameraCalibration, source: str) -> None:
        """A CameraInfo (from topic `source`): its intrinsics from now on; an invalid one is rejected and counted
        (bad_camera_info), and the previous intrinsics stay."""
        try:
            intrinsics = calibration.intrinsics
        except CalibrationError as error:
            self.health.reject("bad_camera_info", str(error))
            return
        size = (calibration.width, calibration.height)
        if self.signs is not None:
            self.signs.set_intrinsics(intrinsics, size)
        if self.objects.set_intrinsics(intrinsics, size):
            self.health.log(OK, f"ground-plane projection from {source} (fx={intrinsics[0, 0]:.1f})")
            self.health.set_status(OK, "tracking on the ground plane")
            self.health.set_values(metric_positions=f"yes: from {source}", ground_frame_id="")

    def add_odometry(self, stamp: float, frame: str, pose: PlanarPose) -> None:
        """The vehicle pose in the odom frame at `stamp`; duplicates and poses older than the buffer are counted."""
        for stage in self.stages[1:]:
            stage.ego_motion.add_odometry(stamp, frame, pose)
        verdict = self.objects.ego_motion.add_odometry(stamp, frame, pose)
        if verdict in REJECTED_ODOMETRY:
            self.health.reject(verdict.value, f"odometry stamp {stamp:.3f} ({verdict.name.lower()}); skipped")
        self.health.set_values(**self.objects.ego_motion.counters)

    def track(self, detections: Detections, stamp: float) -> StageOutput:
        """Track one frame's detections; an output whose verdict is in SKIPPED carries no tracks (counted)."""
        last = self.objects.stamps.last
        output = self.objects.process(detections, stamp)
        if not accept_stamp(self.health, output.verdict, stamp, last, "tracker reset"):
            return output
        self.health.count(f"frames_ground_frame.{output.ground_frame_id or 'none'}")
        self.health.set_values(live_tracks=len(output.tracks))
        self._report_ground_frame(output.ground_frame_id)
        return output

    def track_signs(self, signs: Detections, stamp: float) -> StageOutput:
        """Track the sign node's signs apart from the objects (own tracker and stamps: sign frames are a subset of
        the camera's, published later); `signs.source_class_ids` carries their sign classes."""
        self.health.count("sign_messages_received")
        last = self.signs.stamps.last
        output = self.signs.process(signs, stamp)
        if accept_stamp(self.health, output.verdict, stamp, last, "sign tracker reset", "signs_"):
            self.health.count("sign_messages_processed")
        return output

    def _report_ground_frame(self, frame: str) -> None:
        """Say in the status which frame the ground output is in, and why."""
        ego_motion = self.objects.ego_motion
        if ego_motion is not None:
            self.health.set_values(**ego_motion.counters)
        if not frame or frame == self.health.values.get("ground_frame_id"):
            return
        self.health.set_values(ground_frame_id=frame)
        if ego_motion is None:
            self.health.set_status(OK, f"tracking on the ground plane in {frame} (odometry_source: none)")
        elif frame == ego_motion.vehicle_frame:
            self.health.set_status(WARN, f"tracking on the ground plane in {frame}: no odometry, positions and "
                                         "velocities are relative to the moving vehicle")
        else:
            self.health.set_status(OK, f"tracking on the ground plane in {frame} (odometry): velocities over "
                                       "the ground")

