"""Node `tracker`: DetectedObjects (+ CameraInfo) in, TrackedObjects with ground-plane motion out.

Subscribes  detections   perception/DetectedObjects
            camera_info  sensor_msgs/CameraInfo (intrinsics for the ground-plane projection)
            odometry     nav_msgs/Odometry (odometry_source: topic): the vehicle's pose in the odom frame
            signs        perception/DetectedObjects from the sign node (track_signs: true)
Publishes   tracks       perception/TrackedObjects, header = the source image's stamp and frame_id
            sign_tracks  perception/TrackedObjects of the signs (sign_class_id / sign_name voted over each track's
                         detections), tracked apart from the objects, same header rule
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
The camera pose on the vehicle comes from parameters (camera_x/y/z in metres, camera_roll/pitch/yaw in
radians, vehicle frame REP 103); without CameraInfo, tracks carry image boxes only. With the vehicle pose at the
image stamp (odometry, or the odom -> vehicle_frame transform with odometry_source: tf where tf2_ros is installed)
ground positions and velocities are in the odom frame (over the ground); without it in vehicle_frame (relative to
the moving vehicle). ground_frame_id of every message and /diagnostics say which (see perception.tracking.ego_motion).
Sign positions come from the plate's pixel size (perception.tracking.metric_position); signs are associated by box
overlap, then by ground position and type (TrackingStage.from_parameters with signs=True).
"""
from __future__ import annotations

import time

from nav_msgs.msg import Odometry
import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo

from perception.camera_calibration import NO_METRIC_POSITIONS, CalibrationError, fallback_intrinsics
from perception.msg import DetectedObjects, TrackedObjects
from perception.ros.conversions import (
    CameraInfoError, detections_from_msg, intrinsics_from_camera_info, odometry_from_msg, pose_from_transform,
    stamp_seconds, tracks_to_msg,
)
from perception.ros.diagnostics import OK, WARN, NodeDiagnostics
from perception.ros.node_main import run_node
from perception.ros.parameters import (
    CAMERA_POSE_PARAMETERS, FALLBACK_INTRINSICS_PARAMETERS, ParameterSpec, declare_parameters,
)
from perception.ros.qos import RELIABILITY, qos_profile
from perception.pipeline.stages import SKIPPED, TrackingStage
from perception.stamps import header_stamp_ns
from perception.tracking.ego_motion import OdometryVerdict
from perception.tracking.tracker import TrackerConfig

PARAMETERS = CAMERA_POSE_PARAMETERS + FALLBACK_INTRINSICS_PARAMETERS + [
    ParameterSpec("high_score", TrackerConfig.high_score, "first-stage detection score", min=0.0, max=1.0),
    ParameterSpec("low_score", TrackerConfig.low_score, "lowest score used (second stage)", min=0.0, max=1.0),
    ParameterSpec("max_coast_time", TrackerConfig.max_coast_time,
                  "seconds a track survives without detections (keeps ids through detector restarts)",
                  min=0.0, max=60.0),
    ParameterSpec("report_coasting", True,
                  "also publish confirmed tracks without a detection in this frame (frames_since_update > 0)"),
    ParameterSpec("reset_after_backward_jump_s", 2.0, "stamps this far back reset the tracker (a bag restarting)",
                  min=0.0, max=3600.0),
    ParameterSpec("qos_reliability", "reliable", "reliability of the detections subscription",
                  choices=tuple(RELIABILITY)),
    ParameterSpec("qos_depth", 10, "queue depth of the detections subscription", min=1, max=1000),
    ParameterSpec("odometry_source", "topic",
                  "vehicle pose for the odom frame: the odometry topic, the odom -> vehicle_frame transform (tf, "
                  "needs tf2_ros) or none (ground positions in vehicle_frame)", choices=("topic", "tf", "none")),
    ParameterSpec("odom_frame", "", "expected frame of the odometry poses; empty: the first odometry's frame "
                  "(tf: 'odom')"),
    ParameterSpec("odometry_tolerance_s", 0.1, "farthest odometry stamp from an image stamp still used "
                  "(interpolated or extrapolated)", min=0.0, max=10.0),
    ParameterSpec("odometry_timeout_s", 1.0, "seconds without a pose after which ground tracking falls back to "
                  "vehicle_frame (until then the ground state coasts in the odom frame)", min=0.0, max=60.0),
    ParameterSpec("odometry_qos_reliability", "reliable", "reliability of the odometry subscription",
                  choices=tuple(RELIABILITY)),
    ParameterSpec("track_signs", True, "also track the sign node's signs (input signs) and publish sign_tracks"),
]
REJECTED_ODOMETRY = (OdometryVerdict.DUPLICATE, OdometryVerdict.TOO_OLD)


class TrackerNode(Node):
    def __init__(self) -> None:
        super().__init__("tracker")
        p = self.params = declare_parameters(self, PARAMETERS)
        self.diagnostics = NodeDiagnostics(self)
        self.stage = TrackingStage.from_parameters(p)
        self.stages = [self.stage]
        self.tracks_publisher = self.create_publisher(TrackedObjects, "tracks", 10)
        self.create_subscription(DetectedObjects, "detections", self.on_detections,
                                 qos_profile(p["qos_reliability"], p["qos_depth"]))
        if p["track_signs"]:
            self.sign_stage = TrackingStage.from_parameters(p, signs=True)
            self.stages.append(self.sign_stage)
            self.sign_tracks_publisher = self.create_publisher(TrackedObjects, "sign_tracks", 10)
            self.create_subscription(DetectedObjects, "signs", self.on_signs, qos_profile("reliable", 10))
        self.create_subscription(CameraInfo, "camera_info", self.on_camera_info, qos_profile("best_effort", 1))
        self.tf_buffer = None
        if p["odometry_source"] == "topic":
            self.create_subscription(Odometry, "odometry", self.on_odometry,
                                     qos_profile(p["odometry_qos_reliability"], 100))
        elif p["odometry_source"] == "tf":
            self.tf_buffer = self.start_tf_listener()
        self.diagnostics.extra["ground_frame_id"] = ""
        self.use_fallback_intrinsics()

    def use_fallback_intrinsics(self) -> None:
        """Intrinsics from camera_info_file / fov_deg until a valid CameraInfo arrives; /diagnostics says which."""
        try:
            intrinsics, image_size, metric_positions = fallback_intrinsics(self.params)
        except CalibrationError as error:
            self.get_logger().error(f"no fallback intrinsics: {error}")
            intrinsics, image_size, metric_positions = None, None, NO_METRIC_POSITIONS
        self.diagnostics.extra["metric_positions"] = metric_positions
        if intrinsics is None:
            self.diagnostics.set_status(WARN, "waiting for camera_info: image-space tracking, no metric positions")
        else:
            for stage in self.stages:
                stage.set_intrinsics(intrinsics, image_size)
            self.diagnostics.set_status(OK, "tracking on the ground plane (intrinsics " + metric_positions + ")")

    def start_tf_listener(self):
        """A tf2 buffer filled by a listener, or None where tf2_ros is not installed (no PyPI wheel: said so)."""
        try:
            import tf2_ros
        except ImportError:
            self.get_logger().error("odometry_source is tf but tf2_ros is not installed: no ego-motion")
            self.diagnostics.extra["odometry"] = "tf2_ros not installed"
            return None
        buffer = tf2_ros.Buffer()
        self.tf_listener = tf2_ros.TransformListener(buffer, self)
        return buffer

    def on_odometry(self, message: Odometry) -> None:
        try:
            stamp, frame, pose = odometry_from_msg(message, self.params["vehicle_frame"])
            self.add_pose(stamp, frame, pose)
        except ValueError as error:
            self.diagnostics.reject("bad_odometry", str(error))

    def add_pose(self, stamp: float, frame: str, pose) -> None:
        for sign_stage in self.stages[1:]:
            sign_stage.ego_motion.add_odometry(stamp, frame, pose)
        verdict = self.stage.ego_motion.add_odometry(stamp, frame, pose)
        if verdict in REJECTED_ODOMETRY:
            self.diagnostics.reject(verdict.value, f"odometry stamp {stamp:.3f} ({verdict.name.lower()}); skipped")
        self.diagnostics.extra.update({k: str(v) for k, v in self.stage.ego_motion.counters.items()})

    def pose_from_tf(self, stamp_ns: int) -> None:
        """Look the vehicle pose at the image stamp up in tf2 and store it; failed lookups are counted."""
        import tf2_ros

        try:
            transform = self.tf_buffer.lookup_transform(self.params["odom_frame"] or "odom",
                                                        self.params["vehicle_frame"], Time(nanoseconds=stamp_ns))
            self.add_pose(*pose_from_transform(transform))
        except tf2_ros.TransformException as error:
            self.diagnostics.count("tf_lookup_failed")
            self.diagnostics.last_rejection["tf_lookup"] = str(error)
        except ValueError as error:
            self.diagnostics.reject("bad_transform", str(error))

    def on_camera_info(self, message: CameraInfo) -> None:
        try:
            intrinsics = intrinsics_from_camera_info(message)
        except CameraInfoError as error:
            self.diagnostics.reject("bad_camera_info", str(error))
            return
        for sign_stage in self.stages[1:]:
            sign_stage.set_intrinsics(intrinsics, (message.width, message.height))
        if self.stage.set_intrinsics(intrinsics, (message.width, message.height)):
            self.get_logger().info(f"ground-plane projection from camera_info (fx={intrinsics[0, 0]:.1f})")
            self.diagnostics.set_status(OK, "tracking on the ground plane")
            self.diagnostics.extra["metric_positions"] = "yes: from camera_info"
            self.diagnostics.extra["ground_frame_id"] = ""  # the next frame says which ground frame

    def on_detections(self, message: DetectedObjects) -> None:
        self.diagnostics.count("messages_received")
        stamp = stamp_seconds(message.header)
        start = time.perf_counter()
        try:
            detections = detections_from_msg(message)
        except ValueError as error:  # e.g. NaN boxes from a broken publisher: they would poison the filters
            self.diagnostics.reject("bad_detections", str(error))
            return
        last = self.stage.stamps.last
        if self.tf_buffer is not None:
            self.pose_from_tf(header_stamp_ns(message.header))
        output = self.stage.process(detections, stamp)
        if not self.diagnostics.accept_stamp(output.verdict, stamp, last, "tracker reset"):
            return
        self.tracks_publisher.publish(tracks_to_msg(output.tracks, message.header, output.ground_frame_id))
        self.diagnostics.extra["live_tracks"] = str(len(output.tracks))
        self.report_ground_frame(output.ground_frame_id)
        self.diagnostics.processed(start, stamp)

    def on_signs(self, message: DetectedObjects) -> None:
        """Track the sign node's signs apart from the objects (own tracker and stamps: sign frames are a subset of the
        camera's, published later)."""
        self.diagnostics.count("sign_messages_received")
        try:
            signs = detections_from_msg(message)
        except ValueError as error:
            self.diagnostics.reject("bad_signs", str(error))
            return
        signs.source_class_ids = np.array([obj.sign_class_id for obj in message.objects], np.int64)
        stamp, last = stamp_seconds(message.header), self.sign_stage.stamps.last
        if self.tf_buffer is not None:
            self.pose_from_tf(header_stamp_ns(message.header))
        output = self.sign_stage.process(signs, stamp)
        if output.verdict in SKIPPED:
            self.diagnostics.reject(f"signs_{output.verdict.value}", f"sign stamp {stamp:.3f} after {last:.3f}; skipped")
            return
        self.sign_tracks_publisher.publish(
            tracks_to_msg(output.tracks, message.header, output.ground_frame_id, signs=True))
        self.diagnostics.count("sign_messages_processed")

    def report_ground_frame(self, frame: str) -> None:
        """Say on /diagnostics which frame the ground output is in, and why."""
        ego_motion = self.stage.ego_motion
        if ego_motion is not None:
            self.diagnostics.extra.update({k: str(v) for k, v in ego_motion.counters.items()})
        if frame == self.diagnostics.extra["ground_frame_id"] or not frame:
            return
        self.diagnostics.extra["ground_frame_id"] = frame
        if ego_motion is None:
            self.diagnostics.set_status(OK, f"tracking on the ground plane in {frame} (odometry_source: none)")
        elif frame == ego_motion.vehicle_frame:
            self.diagnostics.set_status(WARN, f"tracking on the ground plane in {frame}: no odometry, positions and "
                                              "velocities are relative to the moving vehicle")
        else:
            self.diagnostics.set_status(OK, f"tracking on the ground plane in {frame} (odometry): velocities over "
                                            "the ground")


def main(args: list[str] | None = None) -> int:
    return run_node(TrackerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
