"""Publish a bag (ROS 2 sqlite3 or MCAP, or a ROS 1 .bag as ROS 2 messages) at its original timing:
`perception replay`."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from perception.bags import BagMessage, bag_topics, read_messages
from perception.ros.message_types import message_class
from perception.runtime.bag_cameras import CameraSelectionError

log = logging.getLogger("perception.replay")
ACKNOWLEDGEMENT_TIMEOUT_S = 10.0  # after the last message, for reliable subscribers to receive everything


@dataclass
class ReplayStats:
    published: int = 0
    loops: int = 0
    # Publish time minus the scheduled time, seconds, per message.
    timing_errors: list[float] = field(default_factory=list)


class BagPlayer:
    """Publishes the messages of a bag with the spacing of their log times, divided by `rate`; `remap` maps bag
    topics to the topics to publish them on (others keep their names)."""

    def __init__(self, node: Node, bag: Path, *, rate: float = 1.0, topics: list[str] | None = None,
                 publish_clock: bool = False, restamp: bool = False, qos_depth: int = 10,
                 remap: dict[str, str] | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.node, self.bag, self.rate = node, Path(bag), rate
        available = bag_topics(self.bag)
        missing = [t for t in topics or [] if t not in available]
        if missing:
            raise CameraSelectionError(f"{bag}: no topics {missing}; the bag has {sorted(available)}")
        self.topics = topics or sorted(available)
        self.message_types = {t: message_class(available[t]) for t in self.topics}
        self.restamp = restamp
        # Reliable publishers match both reliable and best-effort subscribers.
        qos = QoSProfile(depth=qos_depth, reliability=ReliabilityPolicy.RELIABLE)
        remap = remap or {}
        self.publishers = {t: node.create_publisher(self.message_types[t], remap.get(t, t), qos) for t in self.topics}
        self.clock_publisher = None
        if publish_clock:
            from rosgraph_msgs.msg import Clock

            self.clock_publisher = node.create_publisher(Clock, "/clock", 10)
        self.stats = ReplayStats()

    def wait_for_subscribers(self, topics: list[str], timeout_s: float, count: int = 1,
                             counts: dict[str, int] | None = None) -> bool:
        """Wait until each topic has `count` matched subscribers, or its own number in `counts` (discovery can take
        seconds)."""
        counts = counts or {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.publishers[t].get_subscription_count() >= counts.get(t, count) for t in topics):
                return True
            time.sleep(0.05)
        return False

    def wait_for_acknowledgements(self, timeout_s: float) -> bool:
        """Wait until reliable subscribers have every message: a process that exits right after the last publish
        takes unacknowledged messages with it."""
        return all(publisher.wait_for_all_acked(Duration(seconds=timeout_s)) for publisher in self.publishers.values())

    def _publish_clock(self, timestamp_ns: int) -> None:
        from rosgraph_msgs.msg import Clock

        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = divmod(timestamp_ns, 10**9)
        self.clock_publisher.publish(clock)

    def _restamped(self, message: BagMessage) -> object:
        """The message with header.stamp set to now (for live latency measurement); raw if it has no header."""
        decoded = deserialize_message(message.raw, self.message_types[message.topic])
        if not hasattr(decoded, "header"):
            return message.raw
        decoded.header.stamp = self.node.get_clock().now().to_msg()
        return decoded

    def play_once(self) -> None:
        start_wall = None
        first_ns = None
        for message in read_messages(self.bag, self.topics):
            if start_wall is None:
                start_wall, first_ns = time.monotonic(), message.timestamp_ns
            scheduled = start_wall + (message.timestamp_ns - first_ns) / 1e9 / self.rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if self.clock_publisher:
                self._publish_clock(message.timestamp_ns)
            self.publishers[message.topic].publish(self._restamped(message) if self.restamp else message.raw)
            self.stats.timing_errors.append(time.monotonic() - scheduled)
            self.stats.published += 1
        self.stats.loops += 1

    def play(self, loop: bool = False) -> ReplayStats:
        while True:
            self.play_once()
            log.info("replayed %s: %d messages", self.bag, self.stats.published)
            if not loop:
                return self.stats


def replay(bag: Path, *, rate: float, loop: bool, topics: list[str] | None, clock: bool, restamp: bool = False,
           wait_for_subscribers_s: float = 0.0, subscribers: int = 1, topic_subscribers: dict[str, int] | None = None,
           remap: dict[str, str] | None = None) -> ReplayStats:
    """`perception replay`: play a bag in a node of its own."""
    rclpy.init()
    node = rclpy.create_node("bag_player", namespace="/perception")
    try:
        player = BagPlayer(node, bag, rate=rate, topics=topics, publish_clock=clock, restamp=restamp, remap=remap)
        if wait_for_subscribers_s > 0 and not player.wait_for_subscribers(
                player.topics, wait_for_subscribers_s, subscribers, topic_subscribers):
            log.warning("no subscriber on some topics after %.1f s; playing anyway", wait_for_subscribers_s)
        stats = player.play(loop=loop)
        if not player.wait_for_acknowledgements(ACKNOWLEDGEMENT_TIMEOUT_S):
            log.warning("a reliable subscriber did not acknowledge every message within %.0f s",
                        ACKNOWLEDGEMENT_TIMEOUT_S)
        return stats
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
