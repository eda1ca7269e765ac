"""The fusion node's messages around its stage: each camera's TrackedObjects and PredictedObjects in, the vehicle's
PredictedObjects (the planner's /perception/predicted_objects) out. The node publishes what this returns; offline
evaluation records it (perception.runtime.offline), so both fuse the same messages the same way."""
from __future__ import annotations

from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from perception.message_decoding import ground_frame_id, image_size, paths_from_msg, tracks_from_msg
from perception.msg import PredictedObjects, TrackedObjects
from perception.pipeline.fusion import CameraTracks
from perception.pipeline.fusion_stage import FusedPrediction, FusionStage
from perception.ros.conversions import predictions_to_msg, stamp_seconds


class FusionMessages:
    """A FusionStage fed messages; every method returns the fused lists that went out, as PredictedObjects: header =
    the image stamp of the cycle (its newest camera output's), frame_id the ground frame; camera_frame_id empty."""

    def __init__(self, stage: FusionStage) -> None:
        self.stage = stage

    def tracks(self, camera: str, message: TrackedObjects) -> list[PredictedObjects]:
        try:
            tracks = tracks_from_msg(message)
        except ValueError as error:
            self.stage.health.reject("bad_tracks", f"{camera}: {error}")
            return []
        stamp = message.header.stamp
        return self._messages(self.stage.add_tracks(
            camera, CameraTracks(stamp_seconds(message.header), tracks, ground_frame_id(message), image_size(message)),
            message.camera_frame_id, stamp.sec * 10**9 + stamp.nanosec))

    def predictions(self, camera: str, message: PredictedObjects) -> list[PredictedObjects]:
        self.stage.health.count("messages_received")
        try:
            paths = paths_from_msg(message)
        except ValueError as error:
            self.stage.health.reject("bad_predictions", f"{camera}: {error}")
            return []
        return self._messages(self.stage.add_predictions(camera, stamp_seconds(message.header), paths))

    def poll(self) -> list[PredictedObjects]:
        return self._messages(self.stage.poll())

    def flush(self) -> list[PredictedObjects]:
        return self._messages(self.stage.flush())

    def _messages(self, cycles: list[FusedPrediction]) -> list[PredictedObjects]:
        messages = []
        for cycle in cycles:
            sec, nanosec = divmod(cycle.stamp_ns, 10**9)
            header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id="")  # no one camera's frame
            messages.append(predictions_to_msg(cycle.tracks, cycle.paths, header, cycle.fused.ground_frame_id,
                                               cycle.camera_frames))
        return messages
