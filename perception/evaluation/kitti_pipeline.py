"""The deployed tracker and predictor stages run on a KITTI tracking sequence, as on a vehicle (no ROS).

A sequence's inputs become what the nodes receive: the 2D detections file (KITTI layout with scores, e.g. the
PermaTrack detections) as each frame's detections at 10 Hz, the calibration as the CameraInfo of image_02 (its P2),
the rig's camera mounting pose as /tf_static (vehicle_frame -> image_02) and, optionally, the camera poses as
odometry (the vehicle's pose in the odom frame, stamped like its frame). The stages are the nodes' own
(perception.pipeline.tracking.CameraTracking, perception.pipeline.prediction.CameraPrediction) with the graph file's
parameters (perception.pipeline.camera.CameraParameters.from_graph): without poses the ground output stays in
vehicle_frame (base_link, relative to the moving vehicle), with them it is in the odom frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.camera_calibration import CameraCalibration
from perception.datasets.kitti import (
    KittiCalibration, KittiObject, labelled_image_size, read_calibration, read_objects, read_poses,
)
from perception.datasets.kitti_rig import KITTI_IMAGE_SIZE, KittiRig
from perception.evaluation.tracking_sequences import Frame, kitti_frames
from perception.pipeline.models import ModelCache
from perception.pipeline.prediction import CameraPrediction
from perception.pipeline.stages import SKIPPED
from perception.pipeline.tracking import CameraTracking
from perception.tracking.ego_motion import PlanarPose
from perception.tracking.ground_plane import StaticTransform
from perception.types import ObjectClass, PredictedPath, Track

CAMERA_FRAME = "kitti_image_02_optical_frame"  # the images' frame_id
ODOM_FRAME = "odom"
POSES_FOLDER = "poses_orbslam3"


@dataclass
class KittiSequence:
    """The inputs and truth of one KITTI tracking sequence."""

    name: str
    calibration: KittiCalibration
    rig: KittiRig
    frames: list[Frame]  # the detections, frames 0 .. the last detected or labelled one
    labels: list[KittiObject]  # label_02 rows without DontCare (none where the sequence has no labels)
    odom_from_vehicle: np.ndarray | None  # (N, 4, 4) vehicle poses per frame; None: run without odometry
    image_size: tuple[int, int]  # (width, height)


def read_sequence(name: str, calibration: Path, detections: Path, poses: Path | None = None,
                  labels: Path | None = None) -> KittiSequence:
    """One sequence from its files: without labels, the frames are those of the detections and the images the
    shared sequences' size (KITTI_IMAGE_SIZE); ValueError where the poses do not cover every frame."""
    kitti_calibration = read_calibration(calibration)
    rig = KittiRig.level(kitti_calibration)
    rows = [] if labels is None else read_objects(labels)
    labelled = [o for o in rows if o.type != "DontCare"]
    detected = read_objects(detections)
    frame_count = max((o.frame for o in rows + detected), default=-1) + 1
    odom_from_vehicle = None
    if poses is not None:
        odom_from_vehicle = rig.odom_from_vehicle(read_poses(poses))
        if len(odom_from_vehicle) < frame_count:
            raise ValueError(f"sequence {name}: {poses} has {len(odom_from_vehicle)} poses, the sequence "
                             f"{frame_count} frames")
    size = labelled_image_size(labelled) if labels is not None else KITTI_IMAGE_SIZE
    return KittiSequence(name, kitti_calibration, rig, kitti_frames(detected, frame_count), labelled,
                         odom_from_vehicle, size)


def load_sequence(kitti_dir: Path, name: str, detections: str, poses: bool) -> KittiSequence:
    """One sequence of a KITTI tracking folder (calib/, label_02/, the detections folder and, with poses,
    poses_orbslam3/); FileNotFoundError naming a missing file, ValueError where the poses do not cover every frame."""
    paths = {"calibration": kitti_dir / "calib" / f"{name}.txt", "labels": kitti_dir / "label_02" / f"{name}.txt",
             "detections": kitti_dir / detections / f"{name}.txt"}
    if poses:
        paths["poses"] = kitti_dir / POSES_FOLDER / f"{name}.txt"
    for what, path in paths.items():
        if not path.is_file():
            extra = " (--poses needs one camera pose per frame there)" if what == "poses" else ""
            raise FileNotFoundError(f"sequence {name}: no {what} file {path}{extra}")
    return read_sequence(name, paths["calibration"], paths["detections"], paths.get("poses"), paths["labels"])


@dataclass
class FrameOutput:
    """What the tracker and the predictor published for one frame."""

    number: int
    stamp: float
    tracks: list[Track]
    paths: dict[int, list[PredictedPath]]  # by track id
    ground_frame_id: str


def camera_info(sequence: KittiSequence) -> CameraCalibration:
    """image_02's CameraInfo: rectified images (no distortion), P = P2."""
    intrinsics = sequence.calibration.intrinsics
    width, height = sequence.image_size
    return CameraCalibration("kitti_image_02", width, height, intrinsics, "plumb_bob", np.zeros(5), np.eye(3),
                             sequence.calibration.P2)


def camera_transform(sequence: KittiSequence, vehicle_frame: str) -> StaticTransform:
    """image_02's mounting pose as /tf_static carries it: vehicle_frame -> the images' optical frame."""
    pose = sequence.rig.camera_pose(sequence.calibration)
    return StaticTransform(vehicle_frame, CAMERA_FRAME, np.array([pose.x, pose.y, pose.z]), pose.vehicle_from_optical)


class PipelineError(RuntimeError):
    """The stages did not run as a vehicle's would (no metric positions, the wrong ground frame): the reason."""


def load_predictor(parameters: dict[str, Any], models: ModelCache) -> CameraPrediction:
    """The predictor node's stage with its model loaded (from `models`, once per process); PipelineError with the
    reason when it cannot load."""
    prediction = CameraPrediction(parameters, models=models)
    if not prediction.load():
        raise PipelineError(prediction.health.message)
    return prediction


def run_sequence(sequence: KittiSequence, tracker: dict[str, Any], prediction: CameraPrediction | None = None,
                 covariance_scales: dict[ObjectClass, float] | None = None) -> list[FrameOutput]:
    """Every frame of the sequence through a fresh tracker stage (the tracker node's parameters) and, where given,
    the predictor stage (its histories start over when the ground frame changes, as at each new sequence).
    covariance_scales: the position covariance factors per class of the object tracker's estimator (None: its
    default, MetricPositionEstimator's). PipelineError when the output is not in the frame the run must give (odom
    with poses, else vehicle_frame)."""
    tracking = CameraTracking(tracker)
    tracking.objects.covariance_scales = covariance_scales
    vehicle_frame = tracker["vehicle_frame"]
    odometry = sequence.odom_from_vehicle is not None
    if odometry and tracking.ego_motion is None:
        raise PipelineError("the tracker has odometry_source none: it cannot take the poses as odometry")
    tracking.add_static_transforms([camera_transform(sequence, vehicle_frame)])
    tracking.add_camera_info(camera_info(sequence), "the KITTI calibration")
    expected_frame = ODOM_FRAME if odometry else vehicle_frame
    outputs = []
    for frame in sequence.frames:
        if odometry:
            pose = PlanarPose.from_matrix(sequence.odom_from_vehicle[frame.number])
            tracking.add_odometry(frame.stamp, ODOM_FRAME, pose)
        tracked = tracking.track(frame.detections, frame.stamp, sequence.image_size, CAMERA_FRAME)
        if tracked.verdict in SKIPPED or tracked.ground_frame_id != expected_frame:
            raise PipelineError(f"sequence {sequence.name} frame {frame.number}: tracks in "
                                f"{tracked.ground_frame_id or 'no ground frame'}, expected {expected_frame} "
                                f"(tracker status: {tracking.health.message})")
        paths = {}
        if prediction is not None:
            paths = prediction.predict(tracked.tracks, frame.stamp, tracked.ground_frame_id).paths or {}
        outputs.append(FrameOutput(frame.number, frame.stamp, tracked.tracks, paths, tracked.ground_frame_id))
    if not tracking.health.values.get("camera_pose", "").startswith("tf_static"):
        raise PipelineError(f"camera pose not from the KITTI rig: {tracking.health.values.get('camera_pose')}")
    return outputs
