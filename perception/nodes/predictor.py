"""Node `predictor`: TrackedObjects in, PredictedObjects of its camera out (the fusion node merges the cameras' into
the planner's topic).

Subscribes  tracks             perception/TrackedObjects
Publishes   predicted_objects  perception/PredictedObjects (/perception/<camera>/predicted_objects), header as the
                               tracks' (their stamp, frame_id the ground frame of the positions), camera_frame_id the
                               tracks' (also each object's)
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
Paths per object (msg/PredictedPath.msg): tracks with enough history get one per mode of the model, most probable
first, their confidences summing to 1 (model "rnn", or "constant_velocity" for a class whose validation chose
constant velocity), shorter ones one constant-velocity fallback path ("constant_velocity_fallback", confidence 1.0);
every path's covariances include the track's position covariance. Positions beyond the model's trained horizon (only
when horizon_s asks for more) are an extrapolation, marked by the path's model_steps. A model that cannot be loaded
leaves the node up with status ERROR, giving every track a constant-velocity fallback path (model_steps 0).
The work is perception.pipeline.prediction.CameraPrediction; parameters: docs/parameters.md.
"""
from __future__ import annotations

import time

from rclpy.node import Node

from perception.msg import PredictedObjects, TrackedObjects
from perception.pipeline.prediction import CameraPrediction
from perception.pipeline.stages import SKIPPED
from perception.message_decoding import ground_frame_id, image_header, tracks_from_msg
from perception.ros.conversions import predictions_to_msg, stamp_seconds
from perception.ros.diagnostics import NodeDiagnostics
from perception.ros.latest import NewestMessageWorker
from perception.ros.node_main import run_node
from perception.ros.parameters import declare_parameters
from perception.ros.qos import qos_profile


class PredictorNode(Node):
    def __init__(self) -> None:
        super().__init__("predictor")
        p = self.params = declare_parameters(self, "predictor")
        self.diagnostics = NodeDiagnostics(self)
        self.prediction = CameraPrediction(p, self.diagnostics.health)
        self.prediction.load()  # one that cannot load leaves the node up (ERROR, why), with constant-velocity paths
        self.publisher = self.create_publisher(PredictedObjects, "predicted_objects", 10)
        # Always the newest tracks: when prediction falls behind, older messages are skipped and counted.
        self.worker = NewestMessageWorker("predictor", self.diagnostics, self.process)
        self.create_subscription(TrackedObjects, "tracks", self.worker.submit,
                                 qos_profile(p["qos_reliability"], p["qos_depth"]))

    def process(self, message: TrackedObjects) -> None:
        stamp = stamp_seconds(message.header)
        start = time.perf_counter()
        try:
            tracks = tracks_from_msg(message)
        except ValueError as error:  # unknown labels or NaN kinematics from a broken publisher
            self.diagnostics.reject("bad_tracks", str(error))
            return
        ground_frame = ground_frame_id(message)
        output = self.prediction.predict(tracks, stamp, ground_frame)
        if output.verdict in SKIPPED:
            return
        self.publisher.publish(predictions_to_msg(output.tracks, output.paths, image_header(message), ground_frame))
        self.diagnostics.processed(start, stamp)

    def close(self) -> None:
        self.worker.close()


def main(args: list[str] | None = None) -> int:
    return run_node(PredictorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
