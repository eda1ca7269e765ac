"""`perception demo`: the whole graph as real processes over DDS on a bag, every output recorded to MCAP.

The bag is replayed at its own rate with header stamps set at publish time, so the recorded
receive time minus the header stamp is the live latency from image to each output.
"""
from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from perception.bags import McapFileWriter, bag_topics, perception_typestore, read_messages
from perception.graph import Graph
from perception.ros.background_node import BackgroundNode
from perception.runtime.runner import GraphRunner

log = logging.getLogger("perception.demo")

OUTPUT_TOPICS = ("detections", "tracks", "markers")
PLANNER_TOPIC = "/perception/predicted_objects"
STATIC_TF_TOPIC = "/tf_static"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"


def recorded_topics(graph: Graph, bag: Path) -> list[str]:
    """The bag's topics, each camera's detections, tracks and visualizer markers, the planner topic and /diagnostics;
    a camera's signs where it has a signs node, and its sign_tracks where its tracker also tracks them (the recorder
    start waits for a publisher of each output, so none without one)."""
    namespaces = sorted({node.namespace for node in graph.nodes if node.namespace != "/perception"})
    signs = {node.namespace for node in graph.nodes if node.executable == "signs"}
    sign_tracks = signs & {node.namespace for node in graph.nodes
                           if node.executable == "tracker" and node.parameters.get("track_signs", True)}
    outputs = [f"{namespace}/{topic}" for namespace in namespaces for topic in OUTPUT_TOPICS]
    outputs += [f"{namespace}/signs" for namespace in sorted(signs)]
    outputs += [f"{namespace}/sign_tracks" for namespace in sorted(sign_tracks)]
    return sorted(bag_topics(bag)) + outputs + [PLANNER_TOPIC, "/diagnostics"]


def bag_subscribers(graph: Graph, bag: Path) -> dict[str, int]:
    """Per bag topic, the graph's nodes that subscribe to it (remapped to it: e.g. the detector and the sign node to a
    camera's images). The recorder subscribes too, once the replay publishes it."""
    targets = [target for node in graph.nodes for _, target in node.remappings]
    return {topic: targets.count(topic) for topic in bag_topics(bag)}


def static_tf_message(graph: Graph, typestore) -> bytes:
    """CDR of one tf2_msgs/TFMessage holding every visualizer's vehicle -> camera transform."""
    from rclpy.serialization import serialize_message

    from perception.pipeline.parameters import node_parameters
    from perception.pipeline.stages import camera_pose_from_parameters
    from perception.ros.conversions import camera_transform

    transforms = []
    for node in graph.nodes:
        if node.executable == "visualizer":
            p = node_parameters(graph, "visualizer", node.namespace)
            transform = camera_transform(camera_pose_from_parameters(p), p["vehicle_frame"], p["camera_frame"])
            raw = serialize_message(transform)
            transforms.append(typestore.deserialize_cdr(raw, "geometry_msgs/msg/TransformStamped"))
    return typestore.serialize_cdr(typestore.types[TF_MESSAGE](transforms=transforms), TF_MESSAGE)


def add_static_tf(mcap: Path, graph: Graph) -> None:
    """Write the cameras' static transforms as /tf_static at the start of the recording (rewriting the file), so that
    Foxglove's 3D view places the markers. The visualizer publishes the same transforms live only where tf2_msgs is
    installed (ROS 2 from apt or JetPack; the PyPI wheels have none), so the demo writes them from the graph file."""
    typestore = perception_typestore()
    messages = list(read_messages(mcap))
    start = min((message.timestamp_ns for message in messages), default=0)
    partial = mcap.with_name(mcap.stem + ".tf.mcap")
    partial.unlink(missing_ok=True)
    with McapFileWriter(partial, typestore) as writer:
        writer.add_topic(STATIC_TF_TOPIC, TF_MESSAGE)
        writer.write(STATIC_TF_TOPIC, start, static_tf_message(graph, typestore))
        for message in messages:
            writer.add_topic(message.topic, message.msgtype)
            writer.write(message.topic, message.timestamp_ns, message.raw)
    partial.replace(mcap)


def _perception(*args: str) -> list[str]:
    return [sys.executable, "-m", "perception", *args]


def run_demo(graph: Graph, bag: Path, out_dir: Path, rate: float = 1.0, ready_timeout_s: float = 120.0) -> Path:
    """Run the graph on `bag`, recording to out_dir/demo.mcap; returns that path."""
    out_dir, bag = out_dir.resolve(), bag.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    mcap = out_dir / "demo.mcap"
    mcap.unlink(missing_ok=True)
    shutil.rmtree(out_dir / "logs", ignore_errors=True)
    topics = recorded_topics(graph, bag)
    with GraphRunner(graph, log_dir=out_dir / "logs") as runner:
        waited = runner.wait_until_up(ready_timeout_s)
        print(f"demo: {len(runner.nodes)} nodes up after {waited:.1f} s; node logs in {out_dir / 'logs'}", flush=True)
        outputs = [topic for topic in topics if topic not in bag_topics(bag)]
        probe = BackgroundNode("demo_probe")
        try:
            before = {topic: probe.node.count_subscribers(topic) for topic in outputs}
            # cwd=out_dir: see GraphRunner._spawn on why not the caller's directory.
            recorder = subprocess.Popen(_perception("record", str(mcap), "--topics", *topics), cwd=out_dir)
            # The recorder subscribes to each output once it sees its publisher; start the bag only after that.
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline and any(
                    probe.node.count_subscribers(topic) <= before[topic] for topic in outputs):
                runner.check()
                time.sleep(0.1)
        finally:
            probe.close()
        # The replay waits for every graph node on each bag topic and the recorder (a node matched late misses frames).
        counts = [f"{topic}={count + 1}" for topic, count in bag_subscribers(graph, bag).items()]
        player = subprocess.Popen(_perception("replay", str(bag), "--rate", str(rate), "--restamp",
                                              "--wait-for-subscribers", "30", "--topic-subscribers", *counts),
                                  cwd=out_dir)
        try:
            while player.poll() is None:
                runner.check()
                time.sleep(0.2)
            time.sleep(2.0)  # let the last frames through the graph
            runner.check()
        finally:
            if player.poll() is None:
                player.terminate()
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=30)
    if player.returncode != 0 or recorder.returncode != 0:
        raise RuntimeError(f"replay exited with {player.returncode}, record with {recorder.returncode}")
    add_static_tf(mcap, graph)
    return mcap
