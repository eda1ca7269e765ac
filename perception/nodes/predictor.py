"""Node `predictor`: TrackedObjects in, PredictedObjects (the planner's topic) out.

Subscribes  tracks             perception/TrackedObjects
Publishes   predicted_objects  perception/PredictedObjects, in the tracks' ground frame with their stamp
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
One path per object (confidence 1.0, msg/PredictedPath.msg): tracks with enough history get the model's path
(model "rnn", or "constant_velocity" for a class whose validation chose constant velocity), shorter ones the
constant-velocity fallback ("constant_velocity_fallback"). Positions beyond the model's trained horizon (only
when horizon_s asks for more) are an extrapolation, marked by the path's model_steps.
"""
from __future__ import annotations

import time

from rclpy.node import Node

from perception.msg import PredictedObjects, TrackedObjects
from perception.ros.conversions import predictions_to_msg, stamp_seconds, tracks_from_msg
from perception.ros.diagnostics import ERROR, OK, NodeDiagnostics
from perception.ros.latest import NewestMessageWorker
from perception.ros.node_main import run_node
from perception.ros.parameters import ParameterSpec, declare_parameters
from perception.ros.qos import RELIABILITY, qos_profile
from perception.pipeline.stages import PredictionStage

PARAMETERS = [
    ParameterSpec("model", "", "predictor checkpoint (.pt); empty = bundled model"),
    ParameterSpec("horizon_s", 0.0, "how far ahead to predict, seconds; 0 = the model's trained horizon, longer is "
                  "extrapolated (PredictedPath.model_steps)", min=0.0, max=30.0),
    ParameterSpec("time_step_s", 0.1, "time between predicted positions, seconds", min=0.01, max=5.0),
    ParameterSpec("history_s", 3.0, "seconds of track history kept per track", min=0.1, max=60.0),
    ParameterSpec("reset_after_backward_jump_s", 2.0, "stamps this far back clear all histories", min=0.0, max=3600.0),
    ParameterSpec("qos_reliability", "reliable", "reliability of the tracks subscription", choices=tuple(RELIABILITY)),
    ParameterSpec("qos_depth", 10, "queue depth of the tracks subscription", min=1, max=1000),
]


class PredictorNode(Node):
    def __init__(self) -> None:
        super().__init__("predictor")
        p = self.params = declare_parameters(self, PARAMETERS)
        self.diagnostics = NodeDiagnostics(self)
        self.stage: PredictionStage | None = None
        try:
            self.stage = PredictionStage.from_parameters(p)
            self.stage.warm_up()
            forward = self.stage.predictor.forward
            self.diagnostics.set_status(OK, f"running, network on {forward.runtime}"
                                        + (f" ({forward.reason})" if forward.reason else ""))
        except Exception as error:  # a corrupt checkpoint raises UnpicklingError, EOFError, ...: stay up, report
            reason = f"cannot load predictor model {p['model'] or '(bundled)'}: {type(error).__name__}: {error}"
            self.get_logger().error(f"predictor cannot start: {reason}")
            self.diagnostics.set_status(ERROR, f"no predictor: {reason}")
            self.stage = None
        self.publisher = self.create_publisher(PredictedObjects, "predicted_objects", 10)
        # Always the newest tracks: when prediction falls behind, older messages are skipped and counted.
        self.worker = NewestMessageWorker("predictor", self.diagnostics, self.process,
                                          setup=lambda: self.stage is not None)
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
        last = self.stage.stamps.last
        output = self.stage.process(tracks, stamp, message.ground_frame_id)
        if not self.diagnostics.accept_stamp(output.verdict, stamp, last, "histories cleared"):
            return
        self.publisher.publish(predictions_to_msg(output.tracks, output.paths, message.header,
                                                  message.ground_frame_id))
        self.diagnostics.processed(start, stamp)

    def close(self) -> None:
        self.worker.close()


def main(args: list[str] | None = None) -> int:
    return run_node(PredictorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
