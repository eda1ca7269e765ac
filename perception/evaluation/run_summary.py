"""Summary of a recorded run (no ROS): messages, latency from image stamp to each output, tracks, drops."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.bags import perception_typestore, read_messages
from perception.evaluation.sign_report import sign_topic
from perception.message_decoding import ground_frame_id

VEHICLE_FRAMES = {"base_link", "base_footprint"}  # ground frames that move with the vehicle (REP 105)


@dataclass
class TopicSummary:
    topic: str
    msgtype: str
    count: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # receive time - header stamp
    objects: int = 0


@dataclass
class RunSummary:
    topics: dict[str, TopicSummary]
    track_ids: set[int]
    path_models: dict[str, int]
    diagnostics: dict[str, dict[str, str]]  # node -> last key/values
    ground_frames: dict[str, int] = field(default_factory=dict)  # frame of the TrackedObjects positions -> messages

    def ground_frame_note(self) -> str:
        """Which frame the recorded positions and velocities are in, and what that means."""
        frames = {frame: n for frame, n in self.ground_frames.items() if frame}
        if not frames:
            return "no ground positions (no camera intrinsics): tracks are in image space only"
        listed = ", ".join(f"{frame} ({n} messages)" for frame, n in sorted(frames.items()))
        if set(frames) <= VEHICLE_FRAMES:
            return (f"positions and velocities in {listed}: relative to the moving vehicle, the recording has no "
                    "odometry (a parked car moves at minus our speed)")
        return (f"positions and velocities in {listed}; frames other than the vehicle frame are odom frames "
                "(odometry): velocities over the ground")

    def rejections(self) -> dict[str, int]:
        """Inputs not processed, by reason, over the statuses (rejected.<reason> counters)."""
        counts: dict[str, int] = defaultdict(int)
        for values in self.diagnostics.values():
            for key, value in values.items():
                if key.startswith("rejected."):
                    counts[key.removeprefix("rejected.")] += int(value)
        return dict(sorted(counts.items()))

    def table(self) -> str:
        lines = [f"{'topic':<48} {'messages':>8} {'objects':>8} {'latency p50 ms':>15} {'p95':>8} {'max':>8}"]
        for summary in self.topics.values():
            if summary.latencies_ms:
                p50, p95, top = np.percentile(summary.latencies_ms, [50, 95, 100])
                latency = f"{p50:>15.1f} {p95:>8.1f} {top:>8.1f}"
            else:
                latency = f"{'-':>15} {'-':>8} {'-':>8}"
            lines.append(f"{summary.topic:<48} {summary.count:>8} {summary.objects:>8} {latency}")
        lines.append(f"ground frame: {self.ground_frame_note()}")
        lines.append(f"distinct track ids: {len(self.track_ids)}; predicted paths by model: "
                     + (", ".join(f"{k} {v}" for k, v in sorted(self.path_models.items())) or "none"))
        for node, values in sorted(self.diagnostics.items()):
            counters = ", ".join(f"{k}={v}" for k, v in values.items()
                                 if k.startswith(("frames_", "messages_", "rejected.")))
            lines.append(f"{node}: {counters}")
            lines += [f"  {key.removeprefix('last_rejection.')}, the last: {value}" for key, value in values.items()
                      if key.startswith("last_rejection.")]
        return "\n".join(lines)


def _object_count(message: object) -> int:
    return len(getattr(message, "objects", []) or [])


def summarize_run(path: str | Path, topics: list[str] | None = None, namespace: str | None = None) -> RunSummary:
    """The recording's topics (or those of `topics`, e.g. one camera's of a recording of several) summarized; with
    `namespace` (a camera's, /perception/<camera>), only the /diagnostics statuses of its nodes (named
    <namespace>/<node>, live and offline)."""
    typestore = perception_typestore()
    summaries: dict[str, TopicSummary] = {}
    track_ids: set[int] = set()
    path_models: dict[str, int] = defaultdict(int)
    diagnostics: dict[str, dict[str, str]] = {}
    ground_frames: dict[str, int] = defaultdict(int)
    for record in read_messages(path, topics):
        summary = summaries.setdefault(record.topic, TopicSummary(record.topic, record.msgtype))
        summary.count += 1
        if record.msgtype == "sensor_msgs/msg/CompressedImage":
            continue  # inputs: counted, not decoded
        message = typestore.deserialize_cdr(record.raw, record.msgtype)
        if record.msgtype == "diagnostic_msgs/msg/DiagnosticArray":
            for status in message.status:
                if namespace is None or status.name.startswith(f"{namespace}/"):
                    diagnostics[status.name] = {kv.key: kv.value for kv in status.values}
            continue
        header = getattr(message, "header", None)
        if header is not None and record.msgtype.startswith("perception/"):
            stamp_ns = header.stamp.sec * 10**9 + header.stamp.nanosec
            summary.latencies_ms.append((record.timestamp_ns - stamp_ns) / 1e6)
        summary.objects += _object_count(message)
        if record.msgtype == "perception/msg/TrackedObjects" and not sign_topic(record.topic):
            track_ids.update(obj.track_id for obj in message.objects)
            ground_frames[ground_frame_id(message)] += 1
        if record.msgtype == "perception/msg/PredictedObjects":
            for obj in message.objects:
                for predicted in obj.paths:
                    path_models[predicted.model] += 1
    return RunSummary(summaries, track_ids, dict(path_models), diagnostics, dict(ground_frames))
