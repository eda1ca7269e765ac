"""Node `tracker`: DetectedObjects (+ CameraInfo) in, TrackedObjects with ground-plane motion out.

Subscribes  detections   perception/DetectedObjects
            camera_info  sensor_msgs/CameraInfo (intrinsics for the ground-plane projection)
Publishes   tracks       perception/TrackedObjects, header = the source image's stamp and frame_id
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
The camera pose on the vehicle comes from parameters (camera_x/y/z in metres, camera_roll/pitch/yaw in
radians, vehicle frame REP 103); without CameraInfo, tracks carry image boxes only.
"""
from __future__ import annotations

import time

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo

from perception.msg import DetectedObjects, TrackedObjects
from perception.ros.conversions import (
    CameraInfoError, detections_from_msg, intrinsics_from_camera_info, stamp_seconds, tracks_to_msg,
)
from perception.ros.diagnostics import OK, WARN, NodeDiagnostics
from perception.ros.node_main import run_node
from perception.ros.parameters import CAMERA_POSE_PARAMETERS, ParameterSpec, declare_parameters
from perception.ros.qos import RELIABILITY, qos_profile
from perception.stages import TrackingStage
from perception.tracking.tracker import TrackerConfig

PARAMETERS = CAMERA_POSE_PARAMETERS + [
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
]


class TrackerNode(Node):
    def __init__(self) -> None:
        super().__init__("tracker")
        p = self.params = declare_parameters(self, PARAMETERS)
        self.diagnostics = NodeDiagnostics(self)
        self.stage = TrackingStage.from_parameters(p)
        self.tracks_publisher = self.create_publisher(TrackedObjects, "tracks", 10)
        self.create_subscription(DetectedObjects, "detections", self.on_detections,
                                 qos_profile(p["qos_reliability"], p["qos_depth"]))
        self.create_subscription(CameraInfo, "camera_info", self.on_camera_info, qos_profile("best_effort", 1))
        self.diagnostics.set_status(WARN, "waiting for camera_info (tracking image boxes only)")

    def on_camera_info(self, message: CameraInfo) -> None:
        try:
            intrinsics = intrinsics_from_camera_info(message)
        except CameraInfoError as error:
            self.diagnostics.reject("bad_camera_info", str(error))
            return
        if self.stage.set_intrinsics(intrinsics):
            self.get_logger().info(f"ground-plane projection from camera_info (fx={intrinsics[0, 0]:.1f})")
            self.diagnostics.set_status(OK, "tracking on the ground plane")

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
        output = self.stage.process(detections, stamp)
        if not self.diagnostics.accept_stamp(output.verdict, stamp, last, "tracker reset"):
            return
        frame = self.params["vehicle_frame"] if self.stage.projector else ""
        self.tracks_publisher.publish(tracks_to_msg(output.tracks, message.header, frame))
        self.diagnostics.extra["live_tracks"] = str(len(output.tracks))
        self.diagnostics.processed(start, stamp)


def main(args: list[str] | None = None) -> int:
    return run_node(TrackerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
