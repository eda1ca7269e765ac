"""Node `tracker`: DetectedObjects (+ CameraInfo, odometry) in, TrackedObjects with ground-plane motion out.

Subscribes  detections   perception/DetectedObjects; their image_width/height (the images' size) is checked against
                         the CameraInfo's: one of another size gives no metric positions (counted, WARN)
            camera_info  sensor_msgs/CameraInfo (intrinsics for the ground-plane projection)
            odometry     nav_msgs/Odometry (odometry_source: topic): the vehicle's pose in the odom frame; best-effort
                         by default, which connects to reliable and best-effort publishers alike
            signs        perception/DetectedObjects from the sign node (track_signs: true)
            /tf_static   tf2_msgs/TFMessage (where tf2_msgs is installed): the camera's mounting pose, vehicle_frame ->
                         the detections' frame_id (chains composed); the camera_* parameters where it has none
Publishes   tracks       perception/TrackedObjects, header = the source image's stamp and the frame of the positions
                         (the ground frame: odom or vehicle_frame; the image's frame when none is set),
                         camera_frame_id = the image's frame, image_width/height = the camera model's image size
            placed_detections  perception/DetectedObjects: the detections as tracked, with their ground positions
                         (ground_frame_id) where the ground estimator places them; header and image size = the
                         detections'
            sign_tracks  perception/TrackedObjects of the signs (sign_class_id / sign_name voted over each track's
                         detections), tracked apart from the objects, same header rule
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
The work (intrinsics from CameraInfo or the fallback parameters, odometry, stamp checks, object and sign tracking,
the status and counters) is perception.pipeline.tracking.CameraTracking; parameters: docs/parameters.md. With the
vehicle pose at the image stamp (odometry, or the odom -> vehicle_frame transform with odometry_source: tf where
tf2_ros is installed) ground positions and velocities are in the odom frame; without it in vehicle_frame.
"""
from __future__ import annotations

import time

from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo

from perception.message_decoding import image_size
from perception.msg import DetectedObjects, TrackedObjects
from perception.pipeline.stages import SKIPPED
from perception.pipeline.tracking import CameraTracking
from perception.ros.conversions import (
    calibration_from_camera_info,
    detections_from_msg,
    detections_to_msg,
    odometry_from_msg,
    pose_from_transform,
    sign_detections_from_msg,
    stamp_seconds,
    static_transforms_from_msg,
    tracks_to_msg,
)
from perception.ros.diagnostics import NodeDiagnostics
from perception.ros.node_main import run_node
from perception.ros.parameters import declare_parameters
from perception.ros.qos import qos_profile, static_tf_qos
from perception.stamps import header_stamp_ns


class TrackerNode(Node):
    def __init__(self) -> None:
        super().__init__("tracker")
        p = self.params = declare_parameters(self, "tracker")
        self.diagnostics = NodeDiagnostics(self)
        self.tracking = CameraTracking(p, self.diagnostics.health)
        self.tracks_publisher = self.create_publisher(TrackedObjects, "tracks", 10)
        self.placed_publisher = self.create_publisher(DetectedObjects, "placed_detections", 10)
        self.create_subscription(DetectedObjects, "detections", self.on_detections,
                                 qos_profile(p["qos_reliability"], p["qos_depth"]))
        if self.tracking.signs is not None:
            self.sign_tracks_publisher = self.create_publisher(TrackedObjects, "sign_tracks", 10)
            self.create_subscription(DetectedObjects, "signs", self.on_signs, qos_profile("reliable", 10))
        self.camera_info = self.create_subscription(CameraInfo, "camera_info", self.on_camera_info,
                                                    qos_profile("best_effort", 1))
        self.subscribe_static_transforms()
        self.tf_buffer = None
        if p["odometry_source"] == "topic":
            self.create_subscription(Odometry, "odometry", self.on_odometry,
                                     qos_profile(p["odometry_qos_reliability"], 100))
        elif p["odometry_source"] == "tf":
            self.tf_buffer = self.start_tf_listener()

    def subscribe_static_transforms(self) -> None:
        """/tf_static as tf2's static listener takes it (reliable, transient local: also what was published before
        this node started); without tf2_msgs the camera_* parameters give the pose, and /diagnostics says why."""
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError:
            self.tracking.no_static_transforms("tf2_msgs not installed: /tf_static not read")
            return
        self.create_subscription(TFMessage, "/tf_static", self.on_static_transforms, static_tf_qos())

    def on_static_transforms(self, message) -> None:
        try:
            self.tracking.add_static_transforms(static_transforms_from_msg(message))
        except ValueError as error:
            self.diagnostics.reject("bad_static_transform", str(error))

    def start_tf_listener(self):
        """A tf2 buffer filled by a listener, or None where tf2_ros is not installed (no PyPI wheel: said so)."""
        try:
            import tf2_ros
        except ImportError:
            self.get_logger().error("odometry_source is tf but tf2_ros is not installed: no ego-motion")
            self.diagnostics.health.set_values(odometry="tf2_ros not installed")
            return None
        buffer = tf2_ros.Buffer()
        self.tf_listener = tf2_ros.TransformListener(buffer, self)
        return buffer

    def on_odometry(self, message: Odometry) -> None:
        try:
            self.tracking.add_odometry(*odometry_from_msg(message, self.params["vehicle_frame"]))
        except ValueError as error:
            self.diagnostics.reject("bad_odometry", str(error))

    def pose_from_tf(self, stamp_ns: int) -> None:
        """Look the vehicle pose at the image stamp up in tf2 and store it; failed lookups are counted."""
        import tf2_ros

        try:
            transform = self.tf_buffer.lookup_transform(self.params["odom_frame"] or "odom",
                                                        self.params["vehicle_frame"], Time(nanoseconds=stamp_ns))
            self.tracking.add_odometry(*pose_from_transform(transform))
        except tf2_ros.TransformException as error:
            self.diagnostics.count("tf_lookup_failed")
            self.diagnostics.health.last_rejection["tf_lookup"] = str(error)
        except ValueError as error:
            self.diagnostics.reject("bad_transform", str(error))

    def on_camera_info(self, message: CameraInfo) -> None:
        self.tracking.add_camera_info(calibration_from_camera_info(message), self.camera_info.topic_name)

    def on_detections(self, message: DetectedObjects) -> None:
        self.diagnostics.count("messages_received")
        stamp = stamp_seconds(message.header)
        start = time.perf_counter()
        try:
            detections = detections_from_msg(message)
        except ValueError as error:  # e.g. NaN boxes from a broken publisher: they would poison the filters
            self.diagnostics.reject("bad_detections", str(error))
            return
        if self.tf_buffer is not None:
            self.pose_from_tf(header_stamp_ns(message.header))
        size = image_size(message)
        output = self.tracking.track(detections, stamp, size, message.header.frame_id)
        if output.verdict in SKIPPED:
            return
        self.tracks_publisher.publish(tracks_to_msg(output.tracks, message.header, output.ground_frame_id,
                                                    image_size=self.tracking.camera_size))
        self.placed_publisher.publish(detections_to_msg(detections, message.header, output.detections_ground,
                                                        output.ground_frame_id, size))
        self.diagnostics.processed(start, stamp)

    def on_signs(self, message: DetectedObjects) -> None:
        try:
            signs = sign_detections_from_msg(message)
        except ValueError as error:
            self.diagnostics.reject("bad_signs", str(error))
            return
        if self.tf_buffer is not None:
            self.pose_from_tf(header_stamp_ns(message.header))
        output = self.tracking.track_signs(signs, stamp_seconds(message.header), message.header.frame_id,
                                           image_size(message))
        if output.verdict in SKIPPED:
            return
        self.sign_tracks_publisher.publish(
            tracks_to_msg(output.tracks, message.header, output.ground_frame_id, signs=True))


def main(args: list[str] | None = None) -> int:
    return run_node(TrackerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
