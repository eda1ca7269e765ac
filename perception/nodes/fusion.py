"""Node `fusion` (one per graph, namespace /perception): every camera's tracks and predictions in, the vehicle's one
object list on the planner's topic out.

Subscribes  <camera>/tracks             perception/TrackedObjects of each camera in `cameras`
            <camera>/predicted_objects  perception/PredictedObjects of each camera (its predictor's paths)
Publishes   predicted_objects  perception/PredictedObjects (/perception/predicted_objects, the planner's topic): one
                               list per paired camera output (a cycle), every camera's newest tracks merged; header =
                               the cycle's image stamp and the ground frame of all positions; camera_frame_id empty;
                               each object: the fused id, position/velocity/position_covariance fused over its cameras,
                               class probabilities, existence, and the paths of its representative camera's track
                               (whose image frame is the object's camera_frame_id)
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
The work (pairing each camera's tracks with its predictions by stamp and track id, unpaired messages counted; the
fusion) is perception.pipeline.fusion_stage.FusionStage; docs/fusion.md; parameters: docs/parameters.md.
"""
from __future__ import annotations

import time
from functools import partial

from rclpy.node import Node
from std_msgs.msg import Header

from perception.message_decoding import ground_frame_id, image_size, paths_from_msg, tracks_from_msg
from perception.msg import PredictedObjects, TrackedObjects
from perception.pipeline.fusion import CameraTracks, FusionConfig
from perception.pipeline.fusion_stage import FusedPrediction, FusionStage
from perception.pipeline.health import WARN
from perception.ros.conversions import predictions_to_msg, stamp_seconds
from perception.ros.diagnostics import NodeDiagnostics
from perception.ros.node_main import run_node
from perception.ros.parameters import declare_parameters
from perception.ros.qos import qos_profile


class FusionNode(Node):
    def __init__(self) -> None:
        super().__init__("fusion")
        p = self.params = declare_parameters(self, "fusion")
        self.diagnostics = NodeDiagnostics(self)
        config = FusionConfig(p["gate_probability"], p["keep_probability"], p["max_age_s"])
        self.stage = FusionStage(config, self.diagnostics.health)
        self.publisher = self.create_publisher(PredictedObjects, "predicted_objects", 10)
        qos = qos_profile(p["qos_reliability"], p["qos_depth"])
        for camera in p["cameras"]:
            self.create_subscription(TrackedObjects, f"{camera}/tracks", partial(self.on_tracks, camera), qos)
            self.create_subscription(PredictedObjects, f"{camera}/predicted_objects",
                                     partial(self.on_predictions, camera), qos)
        self.diagnostics.health.set_values(cameras_configured=",".join(p["cameras"]))
        if not p["cameras"]:
            self.diagnostics.health.log(WARN, "no cameras configured (parameter cameras): nothing to fuse")

    def on_tracks(self, camera: str, message: TrackedObjects) -> None:
        try:
            tracks = tracks_from_msg(message)
        except ValueError as error:
            self.diagnostics.reject("bad_tracks", f"{camera}: {error}")
            return
        start = time.perf_counter()
        stamp = stamp_seconds(message.header)
        cycle = self.stage.add_tracks(camera, CameraTracks(stamp, tracks, ground_frame_id(message),
                                                           image_size(message)), message.camera_frame_id)
        self.publish(cycle, message.header, start)

    def on_predictions(self, camera: str, message: PredictedObjects) -> None:
        self.diagnostics.count("messages_received")
        start = time.perf_counter()
        try:
            paths = paths_from_msg(message)
        except ValueError as error:
            self.diagnostics.reject("bad_predictions", f"{camera}: {error}")
            return
        self.publish(self.stage.add_predictions(camera, stamp_seconds(message.header), paths), message.header, start)

    def publish(self, cycle: FusedPrediction | None, header: Header, start: float) -> None:
        """The cycle's list (if the pair made one) with the stamp of the message that completed the pair."""
        if cycle is None:
            return
        header = Header(stamp=header.stamp, frame_id="")  # the cycle's image stamp; no one camera
        self.publisher.publish(predictions_to_msg(cycle.tracks, cycle.paths, header, cycle.fused.ground_frame_id,
                                                  cycle.camera_frames))
        self.diagnostics.processed(start, cycle.fused.stamp)


def main(args: list[str] | None = None) -> int:
    return run_node(FusionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
