"""Finding the cameras of a bag (no ROS): image topics by message type, each paired with its CameraInfo by namespace.

`/ns/image_raw`, `/ns/image_raw/compressed`, `/ns/image/compressed`, `/ns/image_rect_color`, ... all belong to
the camera namespace `/ns`, whose calibration is `/ns/camera_info`; where that topic is missing, the nearest
enclosing namespace's `camera_info` is used (one calibration topic shared by several cameras), else none.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perception.graph import Graph, load_graph

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
ODOMETRY_TYPE = "nav_msgs/msg/Odometry"
DEPTH_ENCODINGS = ("16UC1", "32FC1")  # REP 118 depth images (a depth camera's, or aligned to a colour camera)
# image_transport's names for encoded streams: /ns/image_raw/compressed is the image /ns/image_raw, compressed
TRANSPORT_SUFFIXES = ("compressed", "compressedDepth", "theora", "ffmpeg", "h264", "zstd")
# topic tokens that name a stream, not a camera, skipped when a camera is named after its namespace
GENERIC_TOKENS = {"image", "image_raw", "image_color", "image_rect", "image_rect_color", "image_mono", "camera",
                  "cameras", "sensing", "sensors", "compressed"}


class CameraSelectionError(ValueError):
    """The bag's topics do not allow the requested choice of camera or topics; the message lists what it has."""


@dataclass(frozen=True)
class BagCamera:
    name: str  # a valid namespace token, e.g. cam_left
    image_topic: str
    image_type: str  # sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage
    info_topic: str | None  # None: the bag has no calibration for this camera

    @property
    def transport(self) -> str:
        """The detector's image_transport parameter for this camera."""
        return "compressed" if self.image_type.endswith("CompressedImage") else "raw"


def camera_namespace(image_topic: str) -> str:
    """`/a/b/image_raw/compressed` -> `/a/b`; `/image_raw` -> `` (the root)."""
    tokens = image_topic.strip("/").split("/")
    if len(tokens) > 1 and tokens[-1] in TRANSPORT_SUFFIXES:
        tokens = tokens[:-1]
    return "".join(f"/{token}" for token in tokens[:-1])


def _info_topic(namespace: str, info_topics: set[str]) -> str | None:
    while True:
        if f"{namespace}/camera_info" in info_topics:
            return f"{namespace}/camera_info"
        if not namespace:
            return None
        namespace = namespace.rsplit("/", 1)[0]


def _names(namespaces: list[str]) -> list[str]:
    """Short distinct names: the last specific token of each namespace, more tokens where two would clash."""
    tokens = [[t for t in ns.strip("/").split("/") if t and t not in GENERIC_TOKENS] or ["camera"] for ns in namespaces]
    for depth in range(1, max(len(t) for t in tokens) + 2):
        names = ["_".join(t[-depth:]) for t in tokens]
        if len(set(names)) == len(names):
            return names
    return [f"camera{index}" for index in range(len(namespaces))]


def left_out_images(bag: Path, infos: list) -> dict[str, str]:
    """Image topics of a bag (its TopicInfos) that are no camera to detect on, with why: no messages, or depth images
    (image_transport's compressedDepth, or an Image whose first readable message has a REP 118 depth encoding)."""
    left_out = {}
    for info in (i for i in infos if i.msgtype in IMAGE_TYPES):
        if info.count == 0:
            left_out[info.topic] = "no messages"
        elif info.topic.endswith("/compressedDepth"):
            left_out[info.topic] = "depth image, compressedDepth"
        elif info.msgtype == "sensor_msgs/msg/Image":
            encoding = _first_encoding(bag, info.topic)
            if encoding in DEPTH_ENCODINGS:
                left_out[info.topic] = f"depth image, {encoding}"
    return left_out


def _first_encoding(bag: Path, topic: str) -> str | None:
    """The encoding of the first Image of `topic` that deserializes (a corrupt one is the run's to count); None if
    none does."""
    from perception.bags import perception_typestore, read_messages

    typestore = perception_typestore()
    for record in read_messages(bag, [topic]):
        try:
            return typestore.deserialize_cdr(record.raw, record.msgtype).encoding
        except Exception:  # noqa: BLE001 -- rosbags' SerdeError and struct errors: not a readable message
            continue
    return None


def find_cameras(topics: dict[str, str]) -> list[BagCamera]:
    """The cameras among a bag's topics (topic -> message type), sorted by image topic."""
    images = sorted(topic for topic, msgtype in topics.items() if msgtype in IMAGE_TYPES)
    if not images:
        return []
    info_topics = {topic for topic, msgtype in topics.items() if msgtype == CAMERA_INFO_TYPE}
    namespaces = [camera_namespace(topic) for topic in images]
    return [BagCamera(name, topic, topics[topic], _info_topic(namespace, info_topics))
            for name, topic, namespace in zip(_names(namespaces), images, namespaces)]


def select_cameras(cameras: list[BagCamera], bag: object, camera_topic: str | None = None) -> list[BagCamera]:
    """All cameras, or the one whose image topic is `camera_topic`; CameraSelectionError when there is none."""
    if not cameras:
        raise CameraSelectionError(f"{bag}: no image topics (sensor_msgs/Image or CompressedImage) in the bag")
    if camera_topic is None:
        return cameras
    chosen = [camera for camera in cameras if camera.image_topic == camera_topic]
    if not chosen:
        raise CameraSelectionError(f"{bag}: no image topic {camera_topic}; its image topics: "
                                   + ", ".join(camera.image_topic for camera in cameras))
    return chosen


def format_topic_list(infos: list, cameras: list[BagCamera], left_out: dict[str, str]) -> str:
    """`--list` output: every topic with type, count and rate, then the cameras found and their calibration, and the
    image topics left out (left_out_images) with why."""
    width = max([len(info.topic) for info in infos] + [5])
    lines = [f"{'topic':<{width}}  {'type':<40} {'messages':>8} {'rate Hz':>8}"]
    lines += [f"{info.topic:<{width}}  {info.msgtype:<40} {info.count:>8} {info.rate_hz:>8.2f}" for info in infos]
    lines.append(f"cameras: {len(cameras)}")
    for camera in cameras:
        info = camera.info_topic or "no CameraInfo (image-space tracking unless --camera-info or --fov)"
        lines.append(f"  {camera.name}: {camera.image_topic} ({camera.transport}) + {info}")
    lines += [f"  not a camera: {topic} ({why})" for topic, why in left_out.items()]
    return "\n".join(lines)


def graph_for_cameras(config: Path, template: str, cameras: list[BagCamera],
                      tracker_parameters: dict[str, Any] | None = None) -> tuple[Graph, dict[str, BagCamera]]:
    """The graph of `config` with the bag's cameras as its cameras, and graph camera name -> bag camera.

    A camera whose image topic the graph file names keeps that entry (its pose and frame); otherwise a single
    camera takes the place of the file's camera `template`, and each of several cameras gets an entry of its own,
    named after its namespace, with the template's pose. Each detector subscribes with its camera's transport;
    every tracker gets `tracker_parameters` (e.g. fallback intrinsics).
    """
    file_cameras = load_graph(config).cameras
    if template not in file_cameras:
        raise CameraSelectionError(f"{config}: no camera {template!r} (cameras: {', '.join(file_cameras) or 'none'})")
    by_image_topic = {entry.get("image"): name for name, entry in file_cameras.items()}
    chosen: dict[str, BagCamera] = {}
    entries: dict[str, dict[str, Any]] = {}
    for camera in cameras:
        name = by_image_topic.get(camera.image_topic) or (template if len(cameras) == 1 else camera.name)
        base = file_cameras.get(name, file_cameras[template])
        chosen[name] = camera
        entries[name] = {**base, "image": camera.image_topic,
                         "camera_info": camera.info_topic or base.get("camera_info") or f"/{name}/camera_info"}
    graph = load_graph(config, cameras=entries)
    for node in graph.nodes:
        camera = chosen.get(node.namespace.rsplit("/", 1)[-1])
        if camera is not None and node.executable == "detector":
            node.parameters["image_transport"] = camera.transport
        if camera is not None and node.executable == "tracker":
            node.parameters.update(tracker_parameters or {})
    return graph, chosen


def ground_truth_camera(cameras: Iterable[str]) -> str:
    """The camera a bag's one ground-truth file belongs to: the first of its cameras (graph names, in the order of
    their image topics, as find_cameras and graph_for_cameras give them), the only one of a one-camera run."""
    return next(iter(cameras))


def use_odometry_topic(graph: Graph, topics: dict[str, str], asked: str | None, bag: object) -> str:
    """Point every tracker of `graph` at the bag's odometry: the `asked` topic (CameraSelectionError where the bag has
    no Odometry there), else the graph's own where the bag has it, else the bag's only Odometry topic. What it did,
    for the console ("" where nothing changed and nothing is to be said)."""
    odometry = sorted(topic for topic, msgtype in topics.items() if msgtype == ODOMETRY_TYPE)
    trackers = [node for node in graph.nodes if node.executable == "tracker"]
    own = {dict(node.remappings).get("odometry", f"{node.namespace}/odometry") for node in trackers}
    if asked is not None and asked not in odometry:
        raise CameraSelectionError(f"{bag}: no nav_msgs/Odometry topic {asked}; its Odometry topics: "
                                   + (", ".join(odometry) or "none"))
    if asked is None and (own & set(odometry) or not odometry):
        return ""
    if asked is None and len(odometry) > 1:
        return (f"odometry: the graph's {', '.join(sorted(own))} is not in the bag, which has several Odometry topics "
                f"({', '.join(odometry)}): pick one with --odom-topic")
    chosen = asked or odometry[0]
    for node in trackers:
        node.remappings = [(source, target) for source, target in node.remappings if source != "odometry"]
        node.remappings.append(("odometry", chosen))
    return f"odometry: {chosen}" + ("" if asked else " (the bag's only nav_msgs/Odometry topic)")
