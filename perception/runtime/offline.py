"""Offline evaluation run: one camera of a bag through the camera pipeline, without DDS, deterministic.

Each camera frame, CameraInfo and odometry message goes to perception.pipeline.camera.CameraPipeline (the stages
the nodes run, with the nodes' parameters from the graph file); its outputs are written to an MCAP with the live
graph's topic names, and its counters and status as the camera's /diagnostics at the end. An output's log time is
the image stamp plus the processing time up to that output, so the report's latency figures are the CPU cost of the
pipeline.
"""
from __future__ import annotations

import logging
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo
from tqdm import tqdm

from perception.bags import McapFileWriter, perception_typestore, read_messages, topic_infos
from perception.graph import Graph
from perception.imaging import decode_image_message
from perception.pipeline.camera import CameraParameters, CameraPipeline
from perception.pipeline.health import ERROR, WARN
from perception.pipeline.models import ModelCache
from perception.ros.conversions import (
    calibration_from_camera_info,
    detections_to_msg,
    odometry_from_msg,
    predictions_to_msg,
    signs_to_msg,
    stamp_seconds,
    static_transforms_from_msg,
    tracks_to_msg,
)
from perception.ros.message_types import message_class

log = logging.getLogger("perception.offline")
STATIC_TF_TOPIC = "/tf_static"


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


def camera_parameters(graph: Graph, camera: str, bag: Path, camera_topic: str) -> CameraParameters:
    """The camera's node parameters; a fov_deg guess without an image size takes that of the bag's first image."""
    parameters = CameraParameters.from_graph(graph, camera)
    tracker = parameters.tracker
    if tracker["fov_deg"] and not (tracker["image_width"] and tracker["image_height"]):
        tracker["image_width"], tracker["image_height"] = first_image_size(bag, camera_topic)
    return parameters


def _log(level: int, text: str) -> None:
    log.log(logging.ERROR if level == ERROR else logging.WARNING if level == WARN else logging.INFO, text)


def run_offline(graph: Graph, camera: str, bag: Path, out: Path, camera_topic: str, info_topic: str | None,
                models: ModelCache | None = None, detector_options: dict | None = None, progress: bool = True) -> Path:
    """Process every frame of `camera_topic` in `bag`; returns the MCAP written to `out`. Odometry on the
    tracker's odometry topic, where the bag has it, gives the tracker the vehicle pose (odom frame); /tf_static,
    where the bag has it, the camera's mounting pose (vehicle_frame -> the images' frame_id).
    Without `info_topic` (or a valid CameraInfo on it) the tracker's camera_info_file / fov_deg parameters give the
    intrinsics; without those, everything stays in image space and /diagnostics says so. Signs are recognized and
    tracked where the graph runs a sign node for the camera.
    `models`: loaded models to use (a fleet worker's, kept across its bags);
    `detector_options`: the detector's backend options (threads); `progress`: a progress bar on the console."""
    namespace = f"/perception/{camera}"
    infos = topic_infos(bag)  # from the bag's index: no message is read
    counts = {info.topic: info.count for info in infos}
    available = {info.topic: info.msgtype for info in infos}
    for topic in filter(None, (camera_topic, info_topic)):
        if topic not in available:
            raise ValueError(f"{bag}: no topic {topic}; the bag has {sorted(available)}")
    pipeline = CameraPipeline(camera_parameters(graph, camera, bag, camera_topic), log=_log,
                              models=models or ModelCache(), detector_options=detector_options or {})
    pipeline.load()
    vehicle_frame = pipeline.parameters.tracker["vehicle_frame"]
    odometry_topic = output_topic(graph, "tracker", namespace, "odometry")
    inputs = [camera_topic] + ([info_topic] if info_topic else [])
    if available.get(STATIC_TF_TOPIC) == "tf2_msgs/msg/TFMessage":  # the camera's mounting pose, as the tracker's
        inputs.append(STATIC_TF_TOPIC)
    if pipeline.tracking.ego_motion is not None and available.get(odometry_topic) == "nav_msgs/msg/Odometry":
        inputs.append(odometry_topic)
    outputs = {"detections": (output_topic(graph, "detector", namespace, "detections"), "DetectedObjects"),
               "tracks": (output_topic(graph, "tracker", namespace, "tracks"), "TrackedObjects"),
               "placed_detections": (output_topic(graph, "tracker", namespace, "placed_detections"),
                                     "DetectedObjects"),
               "predicted_objects": (output_topic(graph, "predictor", namespace, "predicted_objects"),
                                     "PredictedObjects")}
    if pipeline.signs is not None:
        outputs["signs"] = (output_topic(graph, "signs", namespace, "signs"), "DetectedObjects")
        if pipeline.tracks_signs:
            outputs["sign_tracks"] = (output_topic(graph, "tracker", namespace, "sign_tracks"), "TrackedObjects")
    topics = {key: topic for key, (topic, _) in outputs.items()}
    image_type = message_class(available[camera_topic])
    out.unlink(missing_ok=True)
    typestore = perception_typestore()
    with McapFileWriter(out, typestore) as writer:
        for topic in inputs:
            writer.add_topic(topic, available[topic])
        for topic, msgtype in outputs.values():
            writer.add_topic(topic, f"perception/msg/{msgtype}")
        writer.add_topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")
        messages = read_messages(bag, inputs)
        last_ns = 0
        if progress:
            messages = tqdm(messages, total=sum(counts[topic] for topic in inputs), desc="offline eval", unit="msg")
        for record in messages:
            writer.write(record.topic, record.timestamp_ns, record.raw)
            last_ns = record.timestamp_ns
            if record.topic == odometry_topic:
                try:
                    pipeline.tracking.add_odometry(*odometry_from_msg(deserialize_message(record.raw, Odometry),
                                                                      vehicle_frame))
                except ValueError as error:
                    pipeline.health.reject("bad_odometry", str(error))
                continue
            if record.topic == STATIC_TF_TOPIC:  # read with rosbags: the PyPI ROS wheels have no tf2_msgs
                try:
                    pipeline.tracking.add_static_transforms(static_transforms_from_msg(
                        typestore.deserialize_cdr(record.raw, record.msgtype)))
                except ValueError as error:
                    pipeline.health.reject("bad_static_transform", str(error))
                continue
            if record.topic == info_topic:
                pipeline.tracking.add_camera_info(
                    calibration_from_camera_info(deserialize_message(record.raw, CameraInfo)), info_topic)
                continue
            message = deserialize_message(record.raw, image_type)
            stamp = stamp_seconds(message.header)
            stamp_ns = round(stamp * 1e9)
            result = pipeline.process(message, stamp)
            if result.detections is not None:
                writer.write(topics["detections"], stamp_ns + result.detected_ns,
                             serialize_message(detections_to_msg(result.detections, message.header,
                                                                   image_size=result.image_size)))
            if result.tracks is not None and result.tracks.tracks is not None:
                writer.write(topics["tracks"], stamp_ns + result.tracked_ns, serialize_message(
                    tracks_to_msg(result.tracks.tracks, message.header, result.tracks.ground_frame_id,
                                  image_size=pipeline.tracking.camera_size)))
                writer.write(topics["placed_detections"], stamp_ns + result.tracked_ns, serialize_message(
                    detections_to_msg(result.detections, message.header, result.tracks.detections_ground,
                                      result.tracks.ground_frame_id, result.image_size)))
            if result.processed:
                writer.write(topics["predicted_objects"], stamp_ns + result.predicted_ns, serialize_message(
                    predictions_to_msg(result.predictions.tracks, result.predictions.paths, message.header,
                                       result.tracks.ground_frame_id)))
            sign_ns = stamp_ns + result.predicted_ns + result.signs_ns  # the sign work follows the frame's
            if result.signs is not None:
                writer.write(topics["signs"], sign_ns, serialize_message(signs_to_msg(result.signs, message.header,
                                                                                   result.image_size)))
            if result.sign_tracks is not None and result.sign_tracks.tracks is not None:
                writer.write(topics["sign_tracks"], sign_ns, serialize_message(tracks_to_msg(
                    result.sign_tracks.tracks, message.header, result.sign_tracks.ground_frame_id, signs=True)))
        status = DiagnosticStatus(name=f"{namespace}/offline", message="offline run", values=[
            KeyValue(key=k, value=v) for k, v in sorted(pipeline.health.snapshot().items())])
        writer.write("/diagnostics", last_ns, serialize_message(DiagnosticArray(status=[status])))
    return out
