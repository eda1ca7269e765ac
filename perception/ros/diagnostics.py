"""Per-node health on /diagnostics: state, counters, rejected inputs by reason, processing times."""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Float64

from perception.pipeline.health import ERROR, WARN, Health

REJECTION_LOG_PERIOD_S = 5.0  # at most one log line per rejection reason in this time


class NodeDiagnostics:
    """Publishes a node's Health (perception.pipeline.health: state, counters, rejected inputs by reason) once a
    second on /diagnostics, with its processing times.

    Every rejection is logged (throttled per reason) and counted by reason: nothing is dropped silently; the
    newest rejection's detail per reason is also in the status (last_rejection.<reason>). The stage's log messages
    go to the node's logger. Processing times also go to ~/processing_time_ms, image-stamp-to-output latency to
    ~/pipeline_latency_ms.
    """

    def __init__(self, node: Node, health: Health | None = None, hardware_id: str = "", period_s: float = 1.0) -> None:
        self.node = node
        self.hardware_id = hardware_id
        self.health = health or Health()
        self.health.log = self.log
        self.health.on_reject = self._log_rejection
        self.processing_ms: deque[float] = deque(maxlen=200)
        self.latency_ms: deque[float] = deque(maxlen=200)
        self._last_logged: dict[str, float] = {}  # rejection reason -> time.monotonic() of its last log line
        self._lock = threading.Lock()
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._processing_publisher = node.create_publisher(Float64, "~/processing_time_ms", 10)
        self._latency_publisher = node.create_publisher(Float64, "~/pipeline_latency_ms", 10)
        node.create_timer(period_s, self.publish)

    def log(self, level: int, text: str) -> None:
        logger = self.node.get_logger()  # one call site per severity: rclpy refuses to change it at a call site
        if level == ERROR:
            logger.error(text)
        elif level == WARN:
            logger.warning(text)
        else:
            logger.info(text)

    def count(self, name: str, amount: int = 1) -> None:
        self.health.count(name, amount)

    def reject(self, reason: str, detail: str) -> None:
        """Count an input that was not processed, and log why."""
        self.health.reject(reason, detail)

    def _log_rejection(self, reason: str, detail: str, total: int) -> None:
        # Throttled per reason by hand: rclpy's throttle_duration_sec is per call site, so one reason's
        # burst would hide the first occurrence of every other reason.
        now = time.monotonic()
        with self._lock:
            last = self._last_logged.get(reason)
            if last is not None and now - last < REJECTION_LOG_PERIOD_S:
                return
            self._last_logged[reason] = now
        self.node.get_logger().error(f"rejected input ({reason}, {total} so far): {detail}")

    def set_status(self, level: int, message: str) -> None:
        self.health.set_status(level, message)

    def record_timing(self, processing_ms: float, latency_ms: float | None = None) -> None:
        with self._lock:
            self.processing_ms.append(processing_ms)
            if latency_ms is not None:
                self.latency_ms.append(latency_ms)
        self._processing_publisher.publish(Float64(data=float(processing_ms)))
        if latency_ms is not None:
            self._latency_publisher.publish(Float64(data=float(latency_ms)))

    def processed(self, start: float, stamp: float, counter: str = "messages_processed") -> None:
        """Count a processed input: processing time since perf_counter() `start`, latency from its `stamp`."""
        self.count(counter)
        latency_ms = (self.node.get_clock().now().nanoseconds * 1e-9 - stamp) * 1e3
        self.record_timing((time.perf_counter() - start) * 1e3, latency_ms)

    def status(self) -> DiagnosticStatus:
        values = self.health.snapshot()
        with self._lock:
            for name, samples in (("processing_time_ms", self.processing_ms), ("pipeline_latency_ms", self.latency_ms)):
                if samples:
                    values[f"{name}.median"] = f"{np.median(samples):.2f}"
                    values[f"{name}.p95"] = f"{np.percentile(samples, 95):.2f}"
        return DiagnosticStatus(
            level=bytes([self.health.level]), name=self.node.get_fully_qualified_name(), message=self.health.message,
            hardware_id=self.hardware_id, values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )

    def publish(self) -> None:
        array = DiagnosticArray(status=[self.status()])
        array.header.stamp = self.node.get_clock().now().to_msg()
        self._publisher.publish(array)
