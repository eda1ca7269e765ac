"""Offline evaluation run: a bag's cameras through their camera pipelines and the fusion, without DDS, deterministic.

Each camera frame, CameraInfo and odometry message goes, in the bag's order (as the live graph receives them), to its
camera's perception.pipeline.camera.CameraPipeline (the stages the nodes run, with the nodes' parameters from the
graph file); each camera's tracks and predictions messages go to the fusion node's message handling
(perception.ros.fusion_messages.FusionMessages), whose lists are the planner's topic. Everything is written to one
MCAP with the live graph's topic names, and each camera's and the fusion's counters and status as their
/diagnostics at the end. An output's log time is the image stamp plus its camera's processing time up to that
output, so the report's latency figures are the CPU cost of the pipeline (the cameras as if in parallel, as the
graph's processes run); a fused list's is that of the camera output that let its cycle go out. The fusion's clock
(sync_timeout_s) is that time too: a cycle that waits for a camera goes out with the next camera output after its
timeout (there is no timer), or at the end of the bag.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo
from tqdm import tqdm

from perception.bags import McapFileWriter, perception_typestore, read_messages, topic_infos
from perception.evaluation.ground_truth import IMAGES_LEFT_OUT, CameraOutputs
from perception.graph import Graph
from perception.imaging import decode_image_message
from perception.pipeline.camera import CameraParameters, CameraPipeline, FrameResult
from perception.pipeline.fusion_stage import FusionStage, fusion_config
from perception.pipeline.health import ERROR, WARN, Health
from perception.pipeline.models import ModelCache
from perception.pipeline.parameters import node_parameters
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
from perception.ros.fusion_messages import FusionMessages
from perception.ros.message_types import message_class

log = logging.getLogger("perception.offline")
STATIC_TF_TOPIC = "/tf_static"
FUSION_NAMESPACE = "/perception"

CameraTopics = tuple[str, "str | None"]  # a camera's image topic and CameraInfo topic (None: no calibration topic)


def output_topic(graph: Graph, executable: str, namespace: str, topic: str) -> str:
    node = next(n for n in graph.nodes if n.executable == executable and n.namespace == namespace)
    return dict(node.remappings).get(topic, f"{namespace}/{topic}")


def has_node(graph: Graph, executable: str, namespace: str) -> bool:
    return any(n.executable == executable and n.namespace == namespace for n in graph.nodes)


def first_image_size(bag: Path, topic: str) -> tuple[int, int]:
    """(width, height) of the first image on `topic` of `bag` that decodes; (0, 0) when none does."""
    for record in read_messages(bag, [topic]):
        try:
            image = decode_image_message(deserialize_message(record.raw, message_class(record.msgtype)))
        except Exception:  # noqa: BLE001 -- a corrupt or undecodable frame: the run counts it, the next one may do
            continue
        height, width = image.shape[:2]
        return width, height
    return 0, 0


def camera_parameters(graph: Graph, camera: str, bag: Path, camera_topic: str) -> CameraParameters:
    """The camera's node parameters; a fov_deg guess without an image size takes that of the bag's first image."""
    parameters = CameraParameters.from_graph(graph, camera)
    tracker = parameters.tracker
    if tracker["fov_deg"] and not (tracker["image_width"] and tracker["image_height"]):
        tracker["image_width"], tracker["image_height"] = first_image_size(bag, camera_topic)
    return parameters


def _log(level: int, text: str) -> None:
    log.log(logging.ERROR if level == ERROR else logging.WARNING if level == WARN else logging.INFO, text)


def _diagnostics(name: str, health: Health) -> DiagnosticStatus:
    return DiagnosticStatus(name=name, message="offline run", values=[
        KeyValue(key=k, value=v) for k, v in sorted(health.snapshot().items())])


class _Camera:
    """One camera of the run: its pipeline, the topics it reads and the topics it writes (the graph's)."""

    def __init__(self, graph: Graph, name: str, bag: Path, topics: CameraTopics, available: dict[str, str],
                 models: ModelCache, detector_options: dict) -> None:
        self.name, (self.image_topic, self.info_topic) = name, topics
        self.namespace = camera_namespace(name)
        for topic in filter(None, topics):
            if topic not in available:
                raise ValueError(f"{bag}: no topic {topic}; the bag has {sorted(available)}")
        self.pipeline = CameraPipeline(camera_parameters(graph, name, bag, self.image_topic), log=_log,
                                       models=models, detector_options=detector_options)
        self.pipeline.load()
        self.image_type = message_class(available[self.image_topic])
        self.images_read, self.images_left_out = 0, []  # the corrupt ones by number (ground truth frames by number)
        self.odometry_topic = output_topic(graph, "tracker", self.namespace, "odometry")
        self.inputs = [self.image_topic] + ([self.info_topic] if self.info_topic else [])
        if available.get(STATIC_TF_TOPIC) == "tf2_msgs/msg/TFMessage":  # the camera's mounting pose, as the tracker's
            self.inputs.append(STATIC_TF_TOPIC)
        if (self.pipeline.tracking.ego_motion is not None
                and available.get(self.odometry_topic) == "nav_msgs/msg/Odometry"):
            self.inputs.append(self.odometry_topic)
        nodes = (("detections", "detector", "DetectedObjects"), ("tracks", "tracker", "TrackedObjects"),
                 ("placed_detections", "tracker", "DetectedObjects"),
                 ("predicted_objects", "predictor", "PredictedObjects"))
        self.outputs = {key: (output_topic(graph, executable, self.namespace, key), msgtype)
                        for key, executable, msgtype in nodes}
        if self.pipeline.signs is not None:
            self.outputs["signs"] = (output_topic(graph, "signs", self.namespace, "signs"), "DetectedObjects")
            if self.pipeline.tracks_signs:
                self.outputs["sign_tracks"] = (output_topic(graph, "tracker", self.namespace, "sign_tracks"),
                                               "TrackedObjects")

    def take(self, record, typestore) -> bool:
        """A non-image input: odometry, static transforms or CameraInfo, as the tracker node takes it; False for a
        corrupt message (counted)."""
        tracking, health = self.pipeline.tracking, self.pipeline.health
        if record.topic == self.odometry_topic:
            odometry = self._deserialized(record.topic, lambda: deserialize_message(record.raw, Odometry))
            if odometry is None:
                return False
            try:
                tracking.add_odometry(*odometry_from_msg(odometry, self.pipeline.parameters.tracker["vehicle_frame"]))
            except ValueError as error:
                health.reject("bad_odometry", str(error))
        elif record.topic == STATIC_TF_TOPIC:  # read with rosbags: the PyPI ROS wheels have no tf2_msgs
            transforms = self._deserialized(record.topic, lambda: typestore.deserialize_cdr(record.raw, record.msgtype))
            if transforms is None:
                return False
            try:
                tracking.add_static_transforms(static_transforms_from_msg(transforms))
            except ValueError as error:
                health.reject("bad_static_transform", str(error))
        elif record.topic == self.info_topic:
            info = self._deserialized(record.topic, lambda: deserialize_message(record.raw, CameraInfo))
            if info is None:
                return False
            tracking.add_camera_info(calibration_from_camera_info(info), self.info_topic)
        return True

    def _deserialized(self, topic: str, decode: Callable[[], Any]) -> Any:
        """What `decode` makes of a recorded message of `topic`, or None for bytes that are no valid CDR of its type
        (a corrupt recording): counted as rejected.bad_message, as a node never receives one."""
        try:
            return decode()
        except Exception as error:  # rclpy raises its RMWError (not public), rosbags its own errors, with the reason
            self.pipeline.health.reject("bad_message", f"{topic}: {error}")
            return None

    def frame(self, raw: bytes) -> list[tuple[str, int, object]] | None:
        """One image through the pipeline: its outputs as (output key, log time ns, message), in the order the nodes
        publish them; None for a corrupt message (counted)."""
        message = self._deserialized(self.image_topic, lambda: deserialize_message(raw, self.image_type))
        self.images_read += 1
        if message is None:
            self.images_left_out.append(self.images_read - 1)
            self.pipeline.health.set_values(**{IMAGES_LEFT_OUT: ",".join(map(str, self.images_left_out))})
            return None
        stamp = stamp_seconds(message.header)
        result = self.pipeline.process(message, stamp)
        return [(key, round(stamp * 1e9) + ns, out) for key, ns, out in self._messages(message.header, result)]

    def _messages(self, header, result: FrameResult) -> list[tuple[str, int, object]]:
        tracking = self.pipeline.tracking
        outputs = []
        if result.detections is not None:
            outputs.append(("detections", result.detected_ns,
                            detections_to_msg(result.detections, header, image_size=result.image_size)))
        if result.tracks is not None and result.tracks.tracks is not None:
            ground_frame = result.tracks.ground_frame_id
            outputs.append(("tracks", result.tracked_ns, tracks_to_msg(result.tracks.tracks, header, ground_frame,
                                                                      image_size=tracking.camera_size)))
            outputs.append(("placed_detections", result.tracked_ns, detections_to_msg(
                result.detections, header, result.tracks.detections_ground, ground_frame, result.image_size)))
        if result.processed:
            outputs.append(("predicted_objects", result.predicted_ns, predictions_to_msg(
                result.predictions.tracks, result.predictions.paths, header, result.tracks.ground_frame_id)))
        sign_ns = result.predicted_ns + result.signs_ns  # the sign work follows the frame's
        if result.signs is not None:
            outputs.append(("signs", sign_ns, signs_to_msg(result.signs, header, result.image_size)))
        if result.sign_tracks is not None and result.sign_tracks.tracks is not None:
            outputs.append(("sign_tracks", sign_ns, tracks_to_msg(result.sign_tracks.tracks, header,
                                                                  result.sign_tracks.ground_frame_id, signs=True)))
        return outputs


class _Fusion:
    """The fusion node of the graph, fed the cameras' tracks and predictions messages; its clock is the run's."""

    def __init__(self, graph: Graph, cameras: list[str]) -> None:
        p = node_parameters(graph, "fusion", FUSION_NAMESPACE)
        self.cameras = [camera for camera in p["cameras"] if camera in cameras]
        self.topic = output_topic(graph, "fusion", FUSION_NAMESPACE, "predicted_objects")
        self.now_ns = 0
        self.health = Health(_log)
        self.messages = FusionMessages(FusionStage(fusion_config(p), self.health, self.cameras,
                                                   clock=lambda: self.now_ns / 1e9))

    def take(self, camera: str, outputs: list[tuple[str, int, object]]) -> list[tuple[str, int, object]]:
        """The fused lists (topic, log time ns, message) that went out on a camera's tracks and predictions among its
        frame's `outputs`, each at the log time of the output that let it go."""
        handlers = {"tracks": self.messages.tracks, "predicted_objects": self.messages.predictions}
        lists = []
        for key, log_ns, message in outputs:
            if key in handlers and camera in self.cameras:
                self.now_ns = log_ns
                lists += [(self.topic, log_ns, fused) for fused in handlers[key](camera, message)]
        self.health.count("messages_processed", len(lists))  # as the node counts the lists it publishes
        return lists

    def flush(self) -> list[tuple[str, int, object]]:
        lists = [(self.topic, self.now_ns, fused) for fused in self.messages.flush()]
        self.health.count("messages_processed", len(lists))
        return lists


def camera_namespace(camera: str) -> str:
    """The namespace of a camera's nodes: their topics and /diagnostics status names start with it and a slash."""
    return f"/perception/{camera}"


def scored_topics(graph: Graph, camera: str) -> CameraOutputs:
    """Where a camera's scored outputs are in a recording: its detector's detections and tracker's tracks (not its
    signs, sign tracks or placed detections, which have the same message types), and its offline status."""
    namespace = camera_namespace(camera)
    return CameraOutputs(output_topic(graph, "detector", namespace, "detections"),
                         output_topic(graph, "tracker", namespace, "tracks"), f"{namespace}/offline")


def camera_topics(recording_topics: list[str], graph: Graph, camera: str, topics: CameraTopics) -> list[str]:
    """The topics of a recording that belong to one camera's view: its inputs, its nodes' outputs and /diagnostics
    (for reports and scores per camera of a recording of several; /diagnostics holds every camera's statuses: keep
    those under camera_namespace(camera))."""
    namespace = f"{camera_namespace(camera)}/"
    inputs = {*filter(None, topics), STATIC_TF_TOPIC, output_topic(graph, "tracker", namespace.rstrip("/"), "odometry")}
    return [topic for topic in recording_topics
            if topic in inputs or topic.startswith(namespace) or topic == "/diagnostics"]


def run_offline(graph: Graph, cameras: dict[str, CameraTopics], bag: Path, out: Path,
                models: ModelCache | None = None, detector_options: dict | None = None, progress: bool = True) -> Path:
    """Process every frame of each camera of `cameras` (graph camera -> its image and CameraInfo topics) in `bag`,
    and fuse them where the graph has a fusion node; returns the MCAP written to `out`. Odometry on a tracker's
    odometry topic, where the bag has it, gives the tracker the vehicle pose (odom frame); /tf_static, where the bag
    has it, the camera's mounting pose (vehicle_frame -> the images' frame_id).
    Without a CameraInfo topic (or a valid CameraInfo on it) the tracker's camera_info_file / fov_deg parameters give
    the intrinsics; without those, everything stays in image space and /diagnostics says so. Signs are recognized
    and tracked where the graph runs a sign node for the camera.
    `models`: loaded models to use (a fleet worker's, kept across its bags);
    `detector_options`: the detector's backend options (threads); `progress`: a progress bar on the console."""
    infos = topic_infos(bag)  # from the bag's index: no message is read
    counts = {info.topic: info.count for info in infos}
    available = {info.topic: info.msgtype for info in infos}
    models = models or ModelCache()
    runs = [_Camera(graph, name, bag, topics, available, models, detector_options or {})
            for name, topics in cameras.items()]
    fusion = _Fusion(graph, list(cameras)) if has_node(graph, "fusion", FUSION_NAMESPACE) else None
    inputs = list(dict.fromkeys(topic for run in runs for topic in run.inputs))
    out.unlink(missing_ok=True)
    typestore = perception_typestore()
    with McapFileWriter(out, typestore) as writer:
        for topic in inputs:
            writer.add_topic(topic, available[topic])
        for topic, msgtype in dict(output for run in runs for output in run.outputs.values()).items():
            writer.add_topic(topic, f"perception/msg/{msgtype}")
        if fusion is not None:
            writer.add_topic(fusion.topic, "perception/msg/PredictedObjects")
        writer.add_topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")
        messages = read_messages(bag, inputs)
        last_ns = 0
        if progress:
            messages = tqdm(messages, total=sum(counts[topic] for topic in inputs), desc="offline eval", unit="msg")
        for record in messages:
            last_ns = record.timestamp_ns
            produced, taken = [], False  # a corrupt input (counted) stays out of the recording
            for run in runs:
                if record.topic == run.image_topic:
                    outputs = run.frame(record.raw)
                    if outputs is not None:
                        fused = fusion.take(run.name, outputs) if fusion is not None else []
                        produced += [(run.outputs[k][0], t, m) for k, t, m in outputs] + fused
                        taken = True
                elif record.topic in run.inputs:
                    taken |= run.take(record, typestore)
            if taken:
                writer.write(record.topic, record.timestamp_ns, record.raw)
            for topic, log_ns, message in produced:
                writer.write(topic, log_ns, serialize_message(message))
        statuses = [_diagnostics(f"{run.namespace}/offline", run.pipeline.health) for run in runs]
        if fusion is not None:
            for topic, log_ns, message in fusion.flush():
                writer.write(topic, log_ns, serialize_message(message))
            statuses.append(_diagnostics(f"{FUSION_NAMESPACE}/fusion/offline", fusion.health))
        writer.write("/diagnostics", last_ns, serialize_message(DiagnosticArray(status=statuses)))
    return out
