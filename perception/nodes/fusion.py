"""Node `fusion` (one per graph, namespace /perception): every camera's tracks and predictions in, the vehicle's one
object list on the planner's topic out.

Subscribes  <camera>/tracks             perception/TrackedObjects of each camera in `cameras`
            <camera>/predicted_objects  perception/PredictedObjects of each camera (its predictor's paths)
Publishes   predicted_objects  perception/PredictedObjects (/perception/predicted_objects, the planner's topic): one
                               list per cycle (the outputs of cameras triggered together, stamps within
                               sync_window_s, gathered until every camera expected has delivered or sync_timeout_s
                               passed), every camera's newest tracks merged; header = the cycle's image stamp and the
                               ground frame of all positions; camera_frame_id empty; each object: the fused id,
                               position/velocity/position_covariance fused over its cameras, class probabilities,
                               existence, and the paths of its representative camera's track (whose image frame is
                               the object's camera_frame_id)
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
The work (pairing each camera's tracks with its predictions by stamp and track id, unpaired messages counted; the
cycles; the fusion) is perception.pipeline.fusion_stage.FusionStage, fed messages by
perception.ros.fusion_messages.FusionMessages (as offline evaluation feeds it); docs/fusion.md; parameters:
docs/parameters.md.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Any

from rclpy.node import Node

from perception.msg import PredictedObjects, TrackedObjects
from perception.pipeline.fusion_stage import FusionStage, fusion_config
from perception.pipeline.health import WARN
from perception.ros.conversions import stamp_seconds
from perception.ros.diagnostics import NodeDiagnostics
from perception.ros.fusion_messages import FusionMessages
from perception.ros.node_main import run_node
from perception.ros.parameters import declare_parameters
from perception.ros.qos import qos_profile

POLLS_PER_TIMEOUT = 4  # the timer that sends out timed-out cycles runs this often per sync_timeout_s


class FusionNode(Node):
    def __init__(self, **options: Any) -> None:
        """`options`: rclpy Node options (e.g. parameter_overrides)."""
        super().__init__("fusion", **options)
        p = self.params = declare_parameters(self, "fusion")
        self.diagnostics = NodeDiagnostics(self)
        self.fusion = FusionMessages(FusionStage(fusion_config(p), self.diagnostics.health, p["cameras"]))
        self.publisher = self.create_publisher(PredictedObjects, "predicted_objects", 10)
        qos = qos_profile(p["qos_reliability"], p["qos_depth"])
        for camera in p["cameras"]:
            self.create_subscription(TrackedObjects, f"{camera}/tracks", partial(self.on_tracks, camera), qos)
            self.create_subscription(PredictedObjects, f"{camera}/predicted_objects",
                                     partial(self.on_predictions, camera), qos)
        if p["sync_timeout_s"] > 0:  # 0: every cycle goes out as it comes, nothing to poll
            self.create_timer(p["sync_timeout_s"] / POLLS_PER_TIMEOUT, self.on_timer)
        self.diagnostics.health.set_values(cameras_configured=",".join(p["cameras"]))
        if not p["cameras"]:
            self.diagnostics.health.log(WARN, "no cameras configured (parameter cameras): nothing to fuse")

    def on_tracks(self, camera: str, message: TrackedObjects) -> None:
        start = time.perf_counter()
        self.publish(self.fusion.tracks(camera, message), start)

    def on_predictions(self, camera: str, message: PredictedObjects) -> None:
        start = time.perf_counter()
        self.publish(self.fusion.predictions(camera, message), start)

    def on_timer(self) -> None:
        start = time.perf_counter()
        self.publish(self.fusion.poll(), start)

    def publish(self, lists: list[PredictedObjects], start: float) -> None:
        """The lists of the cycles that went out, each counted with its image stamp's latency."""
        for message in lists:
            self.publisher.publish(message)
            self.diagnostics.processed(start, stamp_seconds(message.header))


def main(args: list[str] | None = None) -> int:
    return run_node(FusionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
