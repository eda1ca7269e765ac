"""Record ROS 2 topics to one MCAP file: `perception record OUT.mcap --topics ...`."""
from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from perception.bags import McapFileWriter, perception_typestore
from perception.ros.message_types import message_class

log = logging.getLogger("perception.record")


class TopicRecorder:
    """Subscribes to topics as raw CDR and writes them with their receive time.

    Each subscription is created once the topic's type is known from a publisher, with the
    publishers' reliability (reliable only when every publisher is reliable, as rosbag2 does).
    """

    def __init__(self, node: Node, writer: McapFileWriter, topics: list[str], depth: int = 100) -> None:
        self.node, self.writer, self.depth = node, writer, depth
        self.pending = list(topics)
        self.subscriptions = {}
        self.counts = {topic: 0 for topic in topics}
        self.timer = node.create_timer(0.1, self.discover)

    def _reliability(self, topic: str) -> ReliabilityPolicy:
        infos = self.node.get_publishers_info_by_topic(topic)
        if infos and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos):
            return ReliabilityPolicy.RELIABLE
        return ReliabilityPolicy.BEST_EFFORT

    def discover(self) -> None:
        known = dict(self.node.get_topic_names_and_types())
        for topic in list(self.pending):
            types = known.get(topic)
            if not types or not self.node.get_publishers_info_by_topic(topic):
                continue
            msgtype = types[0]
            self.writer.add_topic(topic, msgtype)
            qos = QoSProfile(depth=self.depth, reliability=self._reliability(topic))
            self.subscriptions[topic] = self.node.create_subscription(
                message_class(msgtype), topic, lambda raw, t=topic: self._on_message(t, raw), qos, raw=True)
            self.pending.remove(topic)
            log.info("recording %s [%s]", topic, msgtype)

    def _on_message(self, topic: str, raw: bytes) -> None:
        self.writer.write(topic, self.node.get_clock().now().nanoseconds, raw)
        self.counts[topic] += 1

    def drain(self, executor: SingleThreadedExecutor, idle_s: float = 0.2) -> None:
        """Write what has already arrived: take messages until none has come for idle_s."""
        self.timer.cancel()
        while True:
            written = sum(self.counts.values())
            executor.spin_once(timeout_sec=idle_s)
            if sum(self.counts.values()) == written:
                return


def record(out: Path, topics: list[str], duration_s: float | None = None) -> dict[str, int]:
    """Record until Ctrl-C/SIGTERM or `duration_s`; returns messages written per topic. Messages that arrived
    before the stop are written too."""
    # Ctrl-C as KeyboardInterrupt (also when started in the background, where SIGINT is inherited as ignored),
    # not rclpy's handler: that one shuts the context down before the drain.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("recorder", namespace="/perception")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        with McapFileWriter(out, perception_typestore()) as writer:
            recorder = TopicRecorder(node, writer, topics)
            deadline = None if duration_s is None else time.monotonic() + duration_s
            try:
                while rclpy.ok() and (deadline is None or time.monotonic() < deadline):
                    executor.spin_once(timeout_sec=0.1)
            except KeyboardInterrupt:
                pass
            recorder.drain(executor)
            if recorder.pending:
                log.warning("never saw a publisher on: %s", ", ".join(recorder.pending))
        return recorder.counts
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
