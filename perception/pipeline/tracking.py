"""The tracker's work for one camera, without ROS: its inputs checked and counted, objects and signs tracked.

Owns what the tracker node and offline evaluation both need: the camera model from CameraInfo or the fallback
parameters (camera_info_file, fov_deg), checked against the images' size where the caller knows it; the camera's
mounting pose from /tf_static (vehicle_frame -> the images' frame) where it has one, else from the camera_*
parameters; the vehicle pose from odometry, stamp checks, and the status and counters that /diagnostics shows
(perception.pipeline.health). The node and `run_offline` only convert messages and call it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from perception.camera_calibration import (
    NO_METRIC_POSITIONS,
    CalibrationError,
    CameraCalibration,
    CameraModel,
    fallback_intrinsics,
)
from perception.pipeline.health import OK, WARN, Health, accept_stamp
from perception.pipeline.stages import StageOutput, TrackingStage, camera_pose_from_parameters
from perception.tracking.ego_motion import EgoMotion, OdometryVerdict, PlanarPose
from perception.tracking.ground_plane import (
    CameraPose,
    StaticTransform,
    StaticTransforms,
    camera_pose_from_transform,
)
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
        self.health.set_values(ground_frame_id="", camera_pose="parameters")
        # the camera model in use (None: none) with the image (width, height) it is for and where it comes from
        self.camera: CameraModel | None = None
        self.camera_size: tuple[int, int] | None = None
        self.camera_origin = ""
        self.image_size: tuple[int, int] | None = None  # of the newest frame, where the caller knows it
        self.size_mismatch = False
        self.parameter_pose = camera_pose_from_parameters(parameters)
        self.static_transforms = StaticTransforms()
        self.camera_frame: str | None = None  # the images' frame_id whose pose was last looked up, and when
        self.looked_up_version = -1
        self.pose_from_parameters = "parameters"  # what camera_pose says without a static transform
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
            camera, image_size, metric_positions = fallback_intrinsics(self.parameters)
        except CalibrationError as error:
            self.health.log(WARN, f"no fallback intrinsics: {error}")
            camera, image_size, metric_positions = None, None, f"{NO_METRIC_POSITIONS} ({error})"
        self.health.set_values(metric_positions=metric_positions)
        if camera is None:
            self.health.set_status(WARN, "waiting for camera_info: image-space tracking, no metric positions")
            return
        self.camera, self.camera_size, self.camera_origin = camera, image_size, metric_positions.removeprefix("yes: ")
        for stage in self.stages:
            stage.set_intrinsics(camera, image_size)
        self.health.set_values(camera_model=camera.describe())
        self.health.set_status(OK, "tracking on the ground plane (intrinsics " + metric_positions + ")")

    def add_camera_info(self, calibration: CameraCalibration, source: str) -> None:
        """A CameraInfo (from topic `source`): its camera model from now on, unless its size differs from the
        images' (then no metric positions: counted, WARN); an invalid one is rejected and counted
        (bad_camera_info), and the previous intrinsics stay."""
        try:
            camera = calibration.camera_model
        except CalibrationError as error:
            self.health.reject("bad_camera_info", str(error))
            return
        self.camera, self.camera_size, self.camera_origin = camera, (calibration.width, calibration.height), \
            f"from {source}"
        self._apply_camera()

    def _apply_camera(self) -> None:
        """Give the stages the camera model, or none while its image size contradicts the images'."""
        if self.camera is None:
            return
        if self.image_size is not None and self.camera_size != self.image_size:
            if not self.size_mismatch:
                self.size_mismatch = True
                for stage in self.stages:
                    stage.set_intrinsics(None)
                (width, height), (image_width, image_height) = self.camera_size, self.image_size
                text = (f"intrinsics {self.camera_origin} are for {width}x{height} images, the images are "
                        f"{image_width}x{image_height}")
                self.health.log(WARN, f"{text}: no metric positions until they match")
                self.health.set_status(WARN, f"image-space tracking only: {text}")
                self.health.set_values(metric_positions=f"no: {text}", ground_frame_id="")
            return
        if self.signs is not None:
            self.signs.set_intrinsics(self.camera, self.camera_size)
        if self.objects.set_intrinsics(self.camera, self.camera_size) or self.size_mismatch:
            self.size_mismatch = False
            self.health.log(OK, f"ground-plane projection {self.camera_origin} (fx={self.camera.matrix[0, 0]:.1f}, "
                                f"{self.camera.describe()})")
            self.health.set_status(OK, "tracking on the ground plane")
            self.health.set_values(metric_positions=f"yes: {self.camera_origin}", ground_frame_id="",
                                   camera_model=self.camera.describe())

    def add_static_transforms(self, transforms: list[StaticTransform]) -> None:
        """Static transforms (/tf_static): the camera's mounting pose comes from them where they connect
        vehicle_frame with the images' frame (looked up with the next frame)."""
        self.static_transforms.add(transforms)

    def no_static_transforms(self, reason: str) -> None:
        """The caller cannot read /tf_static (why): the camera_* parameters give the pose, and camera_pose says so."""
        self.pose_from_parameters = f"parameters ({reason})"
        self.health.set_values(camera_pose=self.pose_from_parameters)

    def _update_camera_pose(self, frame_id: str) -> None:
        """The mounting pose of the camera whose images are in `frame_id`: vehicle_frame -> frame_id from the static
        transforms where they have it, else the camera_* parameters; /diagnostics `camera_pose` says which."""
        if not frame_id or (frame_id == self.camera_frame
                            and self.looked_up_version == self.static_transforms.version):
            return
        self.camera_frame, self.looked_up_version = frame_id, self.static_transforms.version
        vehicle_frame = self.parameters["vehicle_frame"]
        found = self.static_transforms.lookup(vehicle_frame, frame_id)
        pose, source = self.parameter_pose, self.pose_from_parameters
        if found is None and self.static_transforms.parents:
            source = f"parameters (/tf_static has no {vehicle_frame} -> {frame_id})"
        elif found is not None:
            matrix, chain = found
            path = " -> ".join(chain)
            try:
                pose = camera_pose_from_transform(matrix)
            except ValueError as error:
                pose, source = self.parameter_pose, f"parameters (/tf_static {path} not used: {error})"
                self.health.log(WARN, f"camera pose from the parameters: /tf_static {path} not used: {error}")
            else:
                if _same_pose(pose, self.parameter_pose):
                    pose, source = self.parameter_pose, f"tf_static ({path}; the same as the camera_* parameters)"
                else:
                    source = f"tf_static ({path}: {_describe(pose)}; the camera_* parameters differ)"
        if any([stage.set_pose(pose) for stage in self.stages]) or source != self.health.values.get("camera_pose"):
            self.health.log(OK if source.startswith("tf_static") else WARN, f"camera pose: {source}")
        self.health.set_values(camera_pose=source)

    def add_odometry(self, stamp: float, frame: str, pose: PlanarPose) -> None:
        """The vehicle pose in the odom frame at `stamp`; duplicates and poses older than the buffer are counted."""
        for stage in self.stages[1:]:
            stage.ego_motion.add_odometry(stamp, frame, pose)
        verdict = self.objects.ego_motion.add_odometry(stamp, frame, pose)
        if verdict in REJECTED_ODOMETRY:
            self.health.reject(verdict.value, f"odometry stamp {stamp:.3f} ({verdict.name.lower()}); skipped")
        self.health.set_values(**self.objects.ego_motion.counters)

    def track(self, detections: Detections, stamp: float, image_size: tuple[int, int] | None = None,
              frame_id: str = "") -> StageOutput:
        """Track one frame's detections; an output whose verdict is in SKIPPED carries no tracks (counted).
        image_size: the frame's (width, height) where the caller knows it (checked against the intrinsics');
        frame_id: the image's frame (the camera pose is looked up for it in the static transforms)."""
        self._update_camera_pose(frame_id)
        self._update_image_size(image_size)
        last = self.objects.stamps.last
        output = self.objects.process(detections, stamp)
        if not accept_stamp(self.health, output.verdict, stamp, last, "tracker reset"):
            return output
        if self.size_mismatch:  # frames tracked without metric positions (not rejected ones: counted there)
            self.health.count("frames_camera_info_size_mismatch")
        self.health.count(f"frames_ground_frame.{output.ground_frame_id or 'none'}")
        self.health.set_values(live_tracks=len(output.tracks))
        self._report_ground_frame(output.ground_frame_id)
        return output

    def _update_image_size(self, image_size: tuple[int, int] | None) -> None:
        """The images' (width, height) where the caller knows it: a change checks the intrinsics against it."""
        if image_size is not None and image_size != self.image_size:
            self.image_size = image_size
            self._apply_camera()

    def track_signs(self, signs: Detections, stamp: float, frame_id: str = "",
                    image_size: tuple[int, int] | None = None) -> StageOutput:
        """Track the sign node's signs apart from the objects (own tracker and stamps: sign frames are a subset of
        the camera's, published later); `signs.source_class_ids` carries their sign classes; image_size as in
        track (frames are counted there)."""
        self._update_camera_pose(frame_id)
        self._update_image_size(image_size)
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


def _same_pose(a: CameraPose, b: CameraPose) -> bool:
    """Equal up to float noise (a transform's quaternion round trip)."""
    return bool(np.allclose(a.position, b.position, atol=1e-6)
                and np.allclose(a.vehicle_from_optical, b.vehicle_from_optical, atol=1e-6))


def _describe(pose: CameraPose) -> str:
    return (f"x={pose.x:.3f} y={pose.y:.3f} z={pose.z:.3f} m, roll={pose.roll:.4f} pitch={pose.pitch:.4f} "
            f"yaw={pose.yaw:.4f} rad")
