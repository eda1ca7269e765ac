"""Offline evaluation run: the graph's node code on every frame of a bag, without DDS, deterministic.

Each camera frame goes through the same detector, tracking and prediction stages the nodes run
(perception.pipeline.stages), with the nodes' parameters from the graph file; outputs are written to an MCAP
with the live graph's topic names. An output's log time is the image stamp plus the processing time
up to that output, so the report's latency figures are the CPU cost of the pipeline.
"""
from __future__ import annotations

import importlib
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo
from tqdm import tqdm

from perception.camera_calibration import fallback_intrinsics
from perception.graph import Graph
from perception.imaging import ImageDecodeError, decode_image_message
from perception.ros.conversions import (
    CameraInfoError, detections_to_msg, intrinsics_from_camera_info, odometry_from_msg,
    predictions_to_msg, stamp_seconds, tracks_to_msg,
)
from perception.ros.message_types import message_class
from perception.bags import McapFileWriter, bag_topics, perception_typestore, read_messages
from perception.pipeline.stages import SKIPPED, PredictionStage, TrackingStage, detector_from_parameters
from perception.tracking.ego_motion import OdometryVerdict
from perception.types import Detections

if TYPE_CHECKING:
    from perception.detection.detector import Detector


@dataclass(frozen=True)
class DetectedFrame:
    """One camera frame decoded and detected, here or by a worker of a fleet evaluation (perception.runtime.fleet)."""

    timestamp_ns: int  # the image message's log time in the bag: checks that a worker's frame is this frame
    detections: Detections | None  # None: the image could not be decoded (counted as rejected.bad_image)
    elapsed_ns: int  # decode + detect time


class DetectedFrames(Protocol):
    """Detections by frame index (the n-th message of the camera topic); each index is asked for once, in order."""

    def __getitem__(self, index: int) -> DetectedFrame: ...


def detect_frame(detector: "Detector", message: Any, timestamp_ns: int) -> DetectedFrame:
    """Decode an Image / CompressedImage message and detect on it, timed."""
    start = time.perf_counter()
    try:
        image = decode_image_message(message)
    except ImageDecodeError:
        return DetectedFrame(timestamp_ns, None, round((time.perf_counter() - start) * 1e9))
    detections = detector.detect(image)
    return DetectedFrame(timestamp_ns, detections, round((time.perf_counter() - start) * 1e9))


def node_parameters(graph: Graph, executable: str, namespace: str) -> dict[str, Any]:
    """A node's parameters as the node would see them: its declared defaults updated by the graph file."""
    declared = importlib.import_module(f"perception.nodes.{executable}").PARAMETERS
    parameters = {spec.name: spec.default for spec in declared}
    node = next((n for n in graph.nodes if n.executable == executable and n.namespace == namespace), None)
    if node is None:
        raise ValueError(f"the graph has no {executable} node in {namespace}")
    parameters.update(node.parameters)
    return parameters


def output_topic(graph: Graph, executable: str, namespace: str, topic: str) -> str:
    node = next(n for n in graph.nodes if n.executable == executable and n.namespace == namespace)
    return dict(node.remappings).get(topic, f"{namespace}/{topic}")


def first_image_size(bag: Path, topic: str) -> tuple[int, int]:
    """(width, height) of the first image on `topic` of `bag`; (0, 0) when it has none."""
    first = next(read_messages(bag, [topic]), None)
    if first is None:
        return 0, 0
    height, width = decode_image_message(deserialize_message(first.raw, message_class(first.msgtype))).shape[:2]
    return width, height


def _use_fallback_intrinsics(tracking: TrackingStage, p: dict[str, Any], bag: Path, camera_topic: str) -> str:
    """Give the tracker the intrinsics of its camera_info_file / fov_deg parameters (for fov_deg without an image
    size, that of the bag's first image); returns what /diagnostics says about metric positions."""
    if p["fov_deg"] and not (p["image_width"] and p["image_height"]):
        width, height = first_image_size(bag, camera_topic)
        p = {**p, "image_width": width, "image_height": height}
    intrinsics, image_size, metric_positions = fallback_intrinsics(p)
    if intrinsics is not None:
        tracking.set_intrinsics(intrinsics, image_size)
    return metric_positions


def run_offline(graph: Graph, camera: str, bag: Path, out: Path, camera_topic: str, info_topic: str | None,
                detected: DetectedFrames | None = None) -> Path:
    """Process every frame of `camera_topic` in `bag`; returns the MCAP written to `out`. Odometry on the
    tracker's odometry topic, where the bag has it, gives the tracker the vehicle pose (odom frame).
    Without `info_topic` (or a valid CameraInfo on it) the tracker's camera_info_file / fov_deg parameters give the
    intrinsics; without those, everything stays in image space and /diagnostics says so.
    `detected`: the frames' detections by frame index, made elsewhere (a fleet evaluation's workers; a dict
    also does); without it the frames are detected here, one after the other."""
    namespace = f"/perception/{camera}"
    available = bag_topics(bag)
    for topic in filter(None, (camera_topic, info_topic)):
        if topic not in available:
            raise ValueError(f"{bag}: no topic {topic}; the bag has {sorted(available)}")
    detector = detector_from_parameters(node_parameters(graph, "detector", namespace)) if detected is None else None
    tracker_parameters = node_parameters(graph, "tracker", namespace)
    tracking = TrackingStage.from_parameters(tracker_parameters)
    prediction = PredictionStage.from_parameters(node_parameters(graph, "predictor", namespace))
    odometry_topic = output_topic(graph, "tracker", namespace, "odometry")
    inputs = [camera_topic] + ([info_topic] if info_topic else [])
    if tracking.ego_motion is not None and available.get(odometry_topic) == "nav_msgs/msg/Odometry":
        inputs.append(odometry_topic)
    topics = {"detections": output_topic(graph, "detector", namespace, "detections"),
              "tracks": output_topic(graph, "tracker", namespace, "tracks"),
              "predicted_objects": output_topic(graph, "predictor", namespace, "predicted_objects")}
    counters: Counter[str] = Counter()
    image_type = message_class(available[camera_topic])
    metric_positions = _use_fallback_intrinsics(tracking, tracker_parameters, bag, camera_topic)
    out.unlink(missing_ok=True)
    with McapFileWriter(out, perception_typestore()) as writer:
        for topic in inputs:
            writer.add_topic(topic, available[topic])
        writer.add_topic(topics["detections"], "perception/msg/DetectedObjects")
        writer.add_topic(topics["tracks"], "perception/msg/TrackedObjects")
        writer.add_topic(topics["predicted_objects"], "perception/msg/PredictedObjects")
        writer.add_topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")
        messages = read_messages(bag, inputs)
        last_ns = 0
        if detected is None:
            frames = sum(1 for _ in read_messages(bag, [camera_topic]))
            messages = tqdm(messages, total=len(inputs) * frames, desc="offline eval", unit="msg")
        for record in messages:
            writer.write(record.topic, record.timestamp_ns, record.raw)
            last_ns = record.timestamp_ns
            if record.topic == odometry_topic:
                try:
                    verdict = tracking.ego_motion.add_odometry(*odometry_from_msg(
                        deserialize_message(record.raw, Odometry), tracker_parameters["vehicle_frame"]))
                except ValueError:
                    counters["rejected.bad_odometry"] += 1
                    continue
                if verdict in (OdometryVerdict.DUPLICATE, OdometryVerdict.TOO_OLD):
                    counters[f"rejected.{verdict.value}"] += 1
                continue
            if record.topic == info_topic:
                try:
                    info = deserialize_message(record.raw, CameraInfo)
                    tracking.set_intrinsics(intrinsics_from_camera_info(info), (info.width, info.height))
                    metric_positions = f"yes: from {info_topic}"
                except CameraInfoError:  # e.g. a zero or NaN matrix: as if there were none, and counted
                    counters["rejected.bad_camera_info"] += 1
                continue
            message = deserialize_message(record.raw, image_type)
            index = counters["frames_received"]
            counters["frames_received"] += 1
            stamp = stamp_seconds(message.header)
            stamp_ns = round(stamp * 1e9)
            if detected is None:
                result = detect_frame(detector, message, record.timestamp_ns)
            else:
                result = detected[index]
                if result.timestamp_ns != record.timestamp_ns:
                    raise ValueError(f"{bag}: frame {index} of {camera_topic} was detected at log time "
                                     f"{result.timestamp_ns}, the bag has it at {record.timestamp_ns}")
            start = time.perf_counter() - result.elapsed_ns / 1e9  # outputs' times count from the decode
            if result.detections is None:
                counters["rejected.bad_image"] += 1
                continue
            writer.write(topics["detections"], stamp_ns + result.elapsed_ns,
                         serialize_message(detections_to_msg(result.detections, message.header)))
            tracked = tracking.process(result.detections, stamp)
            if tracked.verdict in SKIPPED:
                counters[f"rejected.{tracked.verdict.value}"] += 1
                continue
            frame = tracked.ground_frame_id
            counters[f"frames_ground_frame.{frame or 'none'}"] += 1
            elapsed_ns = round((time.perf_counter() - start) * 1e9)
            writer.write(topics["tracks"], stamp_ns + elapsed_ns,
                         serialize_message(tracks_to_msg(tracked.tracks, message.header, frame)))
            predicted = prediction.process(tracked.tracks, stamp, frame)
            elapsed_ns = round((time.perf_counter() - start) * 1e9)
            writer.write(topics["predicted_objects"], stamp_ns + elapsed_ns,
                         serialize_message(predictions_to_msg(predicted.tracks, predicted.paths, message.header, frame)))
            counters["frames_processed"] += 1
        if tracking.ego_motion is not None:
            counters.update(tracking.ego_motion.counters)
        values = {**counters, "metric_positions": metric_positions}
        status = DiagnosticStatus(name=f"{namespace}/offline", message="offline run",
                                  values=[KeyValue(key=k, value=str(v)) for k, v in sorted(values.items())])
        writer.write("/diagnostics", last_ns, serialize_message(DiagnosticArray(status=[status])))
    return out
