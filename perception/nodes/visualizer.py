"""Node `visualizer`: RViz markers for predicted objects and tracked traffic signs, and the camera's static TF.

Subscribes  predicted_objects  perception/PredictedObjects
            sign_tracks        perception/TrackedObjects (the tracker's signs)
            /tf_static         tf2_msgs/TFMessage: whether the vehicle already publishes the camera's transform
Publishes   markers            visualization_msgs/MarkerArray: ground boxes coloured by class, id/class/speed
                               text, predicted paths as line strips fading with time; sign plates coloured by
                               category with id and type (namespaces signs, sign_labels); DELETE for vanished ones
            /tf_static         vehicle_frame -> camera_frame from the configured camera pose, unless the vehicle
                               publishes a transform to camera_frame itself (its URDF's, e.g. base_link -> camera_link
                               -> camera_optical_frame): published CAMERA_TF_WAIT_S after start when none came by
                               then, withdrawn (publisher destroyed, so late joiners do not get it) when one comes
                               later. Needs tf2_msgs, which every ROS 2 install has. /diagnostics `camera_tf` says
                               which.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from perception.msg import PredictedObjects, TrackedObjects
from perception.pipeline.health import OK, WARN
from perception.pipeline.stages import camera_pose_from_parameters
from perception.ros.conversions import camera_transform, static_transforms_from_msg
from perception.ros.diagnostics import NodeDiagnostics
from perception.ros.markers import MarkerBuilder, SignMarkerBuilder
from perception.ros.node_main import run_node
from perception.ros.parameters import declare_parameters
from perception.ros.qos import static_tf_qos
from perception.tracking.ground_plane import StaticTransform

# How long the visualizer listens on /tf_static before publishing its own camera transform (DDS discovery of an
# existing static publisher takes up to ~2.6 s on loopback).
CAMERA_TF_WAIT_S = 3.0


def other_camera_transform(transforms: list[StaticTransform], ours: StaticTransform) -> StaticTransform | None:
    """The first transform to our camera frame that is not ours (another parent or another pose), else None."""
    for transform in transforms:
        if transform.child != ours.child:
            continue
        if (transform.parent != ours.parent or not np.allclose(transform.translation, ours.translation, atol=1e-9)
                or not np.allclose(transform.rotation, ours.rotation, atol=1e-9)):
            return transform
    return None


class VisualizerNode(Node):
    def __init__(self) -> None:
        super().__init__("visualizer")
        p = self.params = declare_parameters(self, "visualizer")
        self.diagnostics = NodeDiagnostics(self)
        self.builder = MarkerBuilder()
        self.sign_builder = SignMarkerBuilder()
        self.markers_publisher = self.create_publisher(MarkerArray, "markers", 10)
        self.create_subscription(PredictedObjects, "predicted_objects", self.on_predictions, 10)
        self.create_subscription(TrackedObjects, "sign_tracks", self.on_sign_tracks, 10)
        self.camera_tf = camera_transform(camera_pose_from_parameters(p), p["vehicle_frame"], p["camera_frame"])
        self.own_transform = static_transforms_from_msg(SimpleNamespace(transforms=[self.camera_tf]))[0]
        self.tf_publisher = None
        self.vehicle_transform: StaticTransform | None = None
        self.start_static_tf()

    def start_static_tf(self) -> None:
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError:
            self.get_logger().warning("tf2_msgs is not installed: the camera TF is not published")
            self.diagnostics.set_status(WARN, "no tf2_msgs: camera TF not published")
            self.diagnostics.health.set_values(camera_tf="not published: tf2_msgs is not installed")
            return
        self.tf_message_type = TFMessage
        self.create_subscription(TFMessage, "/tf_static", self.on_static_transforms, static_tf_qos())
        self.diagnostics.health.set_values(camera_tf=f"waiting {CAMERA_TF_WAIT_S:g} s for the vehicle's /tf_static")
        self.diagnostics.set_status(OK, "running")
        self.tf_timer = self.create_timer(CAMERA_TF_WAIT_S, self.publish_static_tf)

    def publish_static_tf(self) -> None:
        """Our vehicle_frame -> camera_frame, unless the vehicle's came first."""
        self.destroy_timer(self.tf_timer)
        if self.vehicle_transform is not None:
            return
        self.tf_publisher = self.create_publisher(self.tf_message_type, "/tf_static", static_tf_qos())
        self.camera_tf.header.stamp = self.get_clock().now().to_msg()
        self.tf_publisher.publish(self.tf_message_type(transforms=[self.camera_tf]))
        self.diagnostics.health.set_values(
            camera_tf=f"published: {self.own_transform.parent} -> {self.own_transform.child} from the camera_* "
                      "parameters (no other transform to that frame on /tf_static)")

    def on_static_transforms(self, message) -> None:
        try:
            other = other_camera_transform(static_transforms_from_msg(message), self.own_transform)
        except ValueError as error:
            self.diagnostics.reject("bad_static_transform", str(error))
            return
        if other is None or self.vehicle_transform is not None:
            return
        self.vehicle_transform = other
        withdrawn = self.tf_publisher is not None
        if withdrawn:
            self.destroy_publisher(self.tf_publisher)
            self.tf_publisher = None
        text = (f"{'withdrawn' if withdrawn else 'not published'}: /tf_static has {other.parent} -> {other.child} "
                "from another publisher (the vehicle's)")
        self.diagnostics.health.log(WARN if withdrawn else OK, f"camera TF {text}")
        self.diagnostics.health.set_values(camera_tf=text)

    def on_predictions(self, message: PredictedObjects) -> None:
        self.diagnostics.count("messages_received")
        try:
            markers = self.builder.build(message)
        except (IndexError, ValueError) as error:  # an unknown class label or a malformed path
            self.diagnostics.reject("bad_predictions", str(error))
            return
        self.markers_publisher.publish(markers)
        self.diagnostics.count("messages_processed")

    def on_sign_tracks(self, message: TrackedObjects) -> None:
        self.diagnostics.count("sign_messages_received")
        try:
            markers = self.sign_builder.build(message)
        except (IndexError, ValueError) as error:  # a sign_class_id outside 0-42
            self.diagnostics.reject("bad_sign_tracks", str(error))
            return
        self.markers_publisher.publish(markers)


def main(args: list[str] | None = None) -> int:
    return run_node(VisualizerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
