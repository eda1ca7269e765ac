"""Node `visualizer`: RViz markers for predicted objects and tracked traffic signs, and the camera's static TF.

Subscribes  predicted_objects  perception/PredictedObjects
            sign_tracks        perception/TrackedObjects (the tracker's signs)
Publishes   markers            visualization_msgs/MarkerArray: ground boxes coloured by class, id/class/speed
                               text, predicted paths as line strips fading with time; sign plates coloured by
                               category with id and type (namespaces signs, sign_labels); DELETE for vanished ones
            /tf_static         vehicle_frame -> camera_frame from the configured camera pose (needs tf2_msgs,
                               which every ROS 2 install has)
"""
from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from visualization_msgs.msg import MarkerArray

from perception.msg import PredictedObjects, TrackedObjects
from perception.pipeline.health import OK, WARN
from perception.pipeline.stages import camera_pose_from_parameters
from perception.ros.conversions import camera_transform
from perception.ros.diagnostics import NodeDiagnostics
from perception.ros.markers import MarkerBuilder, SignMarkerBuilder
from perception.ros.node_main import run_node
from perception.ros.parameters import declare_parameters


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
        self.publish_static_tf()

    def publish_static_tf(self) -> None:
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError:
            self.get_logger().warning("tf2_msgs is not installed: the camera TF is not published")
            self.diagnostics.set_status(WARN, "no tf2_msgs: camera TF not published")
            return
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
        self.tf_publisher = self.create_publisher(TFMessage, "/tf_static", qos)
        self.camera_tf.header.stamp = self.get_clock().now().to_msg()
        self.tf_publisher.publish(TFMessage(transforms=[self.camera_tf]))
        self.diagnostics.set_status(OK, "running")

    def on_predictions(self, message: PredictedObjects) -> None:
        self.diagnostics.count("messages_received")
        self.markers_publisher.publish(self.builder.build(message))
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
