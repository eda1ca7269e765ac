"""Sustained load: real 1280x720 frames at 30 Hz through detector + tracker + predictor for N minutes.

Run: .venv/bin/python benchmarks/load.py --minutes 10 [--rate 30] [--raw] [--precision auto|fp32|int8]
         [--report-every 60]
The graph is the installed config/perception.yaml (without the visualizer), started with GraphRunner, its camera
topics remapped to this benchmark's publishers. Frames are the shared Udacity highway clip, looped, published as
CompressedImage JPEG (or raw bgr8 Image with --raw), with a pinhole CameraInfo, each stamped when published.
Prints per interval: frames published, received/processed/skipped/rejected by the detector (/diagnostics),
pipeline latency percentiles (image stamp to tracks and to predicted objects, measured here on arrival) and
each node's resident memory (VmRSS of /proc/<pid>/status), then memory at start and end.
Uses the installed package (`make install`), like the tests.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import yaml

from perception.resources import config_path, use_local_dds_profile
from perception.ros.background_node import BackgroundNode

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "udacity_highway_1280x720.mp4"
IMAGE_TOPIC, INFO_TOPIC = "/load/front/image", "/load/front/camera_info"
TRACKS_TOPIC, PREDICTED_TOPIC = "/perception/front/tracks", "/perception/front/predicted_objects"
NODES = ("detector", "tracker", "predictor")


def graph_file(folder: Path, raw: bool, precision: str) -> Path:
    """The installed graph with this benchmark's camera topics and the detector's `precision`, no visualizer."""
    document = yaml.safe_load(config_path("perception.yaml").read_text())
    document["nodes"] = {name: document["nodes"][name] for name in NODES}
    document["cameras"] = {"front": document["cameras"]["front"]}
    document["cameras"]["front"].update(image=IMAGE_TOPIC if raw else IMAGE_TOPIC + "/compressed",
                                        camera_info=INFO_TOPIC)
    if raw:
        document["nodes"]["detector"]["parameters"]["image_transport"] = "raw"
    document["nodes"]["detector"]["parameters"]["precision"] = precision
    path = folder / "graph.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


def load_frames(raw: bool) -> list:
    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    if not frames:
        raise SystemExit(f"no frames in {CLIP}")
    if raw:
        return [np.ascontiguousarray(f).tobytes() for f in frames]
    return [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames]


class Probe(BackgroundNode):
    """The benchmark's own node: publishes frames, records arrivals of outputs and the newest diagnostics."""

    def __init__(self, raw: bool) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image

        from perception.camera_calibration import pinhole_intrinsics
        from perception.msg import PredictedObjects, TrackedObjects

        super().__init__("load_benchmark")
        self.raw = raw
        self.image_type = Image if raw else CompressedImage
        topic = IMAGE_TOPIC if raw else IMAGE_TOPIC + "/compressed"
        self.image_publisher = self.node.create_publisher(self.image_type, topic, 10)
        self.info_publisher = self.node.create_publisher(CameraInfo, INFO_TOPIC, 10)
        self.info = CameraInfo(width=1280, height=720, distortion_model="plumb_bob")
        self.info.k = pinhole_intrinsics(1280, 720, 60.0).ravel().tolist()
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)  # topic -> ms, this interval
        self.status: dict[str, dict[str, str]] = {}
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        for message_type, name in ((TrackedObjects, TRACKS_TOPIC), (PredictedObjects, PREDICTED_TOPIC)):
            self.node.create_subscription(message_type, name, lambda m, n=name: self._arrived(n, m), qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._diagnostics, 100)

    def _arrived(self, topic: str, message) -> None:
        now = self.node.get_clock().now().nanoseconds
        stamp = message.header.stamp.sec * 10**9 + message.header.stamp.nanosec
        with self.lock:
            self.latencies[topic].append((now - stamp) / 1e6)

    def _diagnostics(self, array) -> None:
        with self.lock:
            for status in array.status:
                self.status[status.name.rsplit("/", 1)[-1]] = {kv.key: kv.value for kv in status.values}

    def publish(self, data: bytes) -> None:
        stamp = self.node.get_clock().now().to_msg()
        if self.raw:
            message = self.image_type(height=720, width=1280, encoding="bgr8", step=1280 * 3)
        else:
            message = self.image_type(format="jpeg")
        message.data = data
        message.header.stamp, message.header.frame_id = stamp, "camera_front_optical_frame"
        self.image_publisher.publish(message)
        self.info.header = message.header
        self.info_publisher.publish(self.info)

    def take_latencies(self) -> dict[str, list[float]]:
        with self.lock:
            taken, self.latencies = self.latencies, defaultdict(list)
        return taken

    def counters(self, node: str) -> dict[str, int]:
        with self.lock:
            values = self.status.get(node, {})
            return {k: int(v) for k, v in values.items() if k.startswith(("frames_", "messages_", "rejected."))}


def percentiles(values: list[float]) -> str:
    if not values:
        return "       -/      -/      -"
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"{p50:7.1f}/{p95:7.1f}/{p99:7.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second")
    parser.add_argument("--raw", action="store_true", help="publish raw bgr8 Image instead of JPEG CompressedImage")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "int8"),
                        help="detector precision (on a CPU: auto = OpenVINO INT8, fp32 = ONNX Runtime float)")
    parser.add_argument("--report-every", type=float, default=60.0, help="seconds per table row")
    args = parser.parse_args()

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    use_local_dds_profile(os.environ)
    from perception.graph import load_graph
    from perception.runtime.runner import GraphRunner

    frames = load_frames(args.raw)
    with tempfile.TemporaryDirectory(prefix="perception-load-") as folder:
        graph = load_graph(graph_file(Path(folder), args.raw, args.precision))
        with GraphRunner(graph, log_dir=Path(folder) / "logs") as runner:
            waited = runner.wait_until_up(90)
            pids = {n.spec.name: n.process.pid for n in runner.nodes}
            probe = Probe(args.raw)
            try:
                return run(args, runner, probe, frames, pids, waited)
            finally:
                probe.close()


def run(args, runner, probe: Probe, frames: list, pids: dict[str, int], waited: float) -> int:
    deadline = time.monotonic() + 30
    while probe.image_publisher.get_subscription_count() == 0 or probe.node.count_subscribers(TRACKS_TOPIC) < 2:
        if time.monotonic() > deadline:
            raise SystemExit("the graph never subscribed to the benchmark's topics")
        time.sleep(0.05)
    # The detector loads its model after it subscribes: wait for its first output before measuring.
    deadline = time.monotonic() + 120
    while not probe.counters("detector").get("frames_processed"):
        if time.monotonic() > deadline:
            raise SystemExit("the detector processed nothing within 120 s")
        probe.publish(frames[0])
        time.sleep(0.2)
    probe.take_latencies()
    start_rss = {name: rss_mb(pid) for name, pid in pids.items()}
    start_counts = probe.counters("detector")
    kind = "raw bgr8 Image" if args.raw else "JPEG CompressedImage"
    print(f"graph up in {waited:.1f} s; {args.minutes:g} min of 1280x720 {kind} at {args.rate:g} Hz "
          f"({len(frames)} frames of {CLIP.name}, looped)", flush=True)
    header = (f"{'t (s)':>6} {'published':>9} {'received':>8} {'processed':>9} {'skipped':>7} {'rejected':>8} "
              f"{'tracks ms p50/p95/p99':>24} {'predicted ms p50/p95/p99':>24} "
              + " ".join(f"{name + ' MB':>12}" for name in pids))
    print(header + "\n" + "-" * len(header), flush=True)

    total_s = args.minutes * 60
    begin = time.monotonic()
    next_report = begin + min(args.report_every, total_s)
    published = interval_published = 0
    previous = dict(start_counts)
    while True:
        now = time.monotonic()
        if now >= next_report:
            runner.check()  # NodeDied if a node is gone
            counts = probe.counters("detector")
            delta = {k: counts.get(k, 0) - previous.get(k, 0) for k in set(counts) | set(previous)}
            latencies = probe.take_latencies()
            rejected = sum(v for k, v in delta.items() if k.startswith("rejected."))
            print(f"{now - begin:6.0f} {interval_published:9d} {delta.get('frames_received', 0):8d} "
                  f"{delta.get('frames_processed', 0):9d} {delta.get('frames_skipped', 0):7d} {rejected:8d} "
                  f"{percentiles(latencies[TRACKS_TOPIC]):>24} {percentiles(latencies[PREDICTED_TOPIC]):>24} "
                  + " ".join(f"{rss_mb(pid):12.0f}" for pid in pids.values()), flush=True)
            previous, interval_published = counts, 0
            if now - begin >= total_s - 1e-6:
                break
            next_report = min(next_report + args.report_every, begin + total_s)
        probe.publish(frames[published % len(frames)])
        published += 1
        interval_published += 1
        time.sleep(max(0.0, begin + published / args.rate - time.monotonic()))

    end_rss = {name: rss_mb(pid) for name, pid in pids.items()}
    counts = probe.counters("detector")
    print("\nresident memory (MB)   " + "  ".join(f"{name}: {start_rss[name]:.0f} -> {end_rss[name]:.0f}"
                                               for name in pids))
    totals = {k: counts.get(k, 0) - start_counts.get(k, 0) for k in ("frames_received", "frames_processed",
                                                                      "frames_skipped")}
    print(f"frames: published {published}, detector received {totals['frames_received']}, processed "
          f"{totals['frames_processed']}, skipped {totals['frames_skipped']} (newest-frame policy); "
          f"tracker {probe.counters('tracker')}, predictor {probe.counters('predictor')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
