"""Per-node health on /diagnostics: state, counters, rejected inputs by reason, processing times."""
from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Float64

from perception.stamps import StampVerdict

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
REJECTION_LOG_PERIOD_S = 5.0  # at most one log line per rejection reason in this time


class NodeDiagnostics:
    """Counts what a node received, processed, skipped and rejected, and publishes it once a second.

    Every rejection is logged (throttled per reason) and counted by reason: nothing is dropped silently; the
    newest rejection's detail per reason is also in the status (last_rejection.<reason>).
    Processing times also go to ~/processing_time_ms, image-stamp-to-output latency to ~/pipeline_latency_ms.
    """

    def __init__(self, node: Node, hardware_id: str = "", period_s: float = 1.0) -> None:
        self.node = node
        self.hardware_id = hardware_id
        self.counters: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.level, self.message = OK, "starting"
        self.processing_ms: deque[float] = deque(maxlen=200)
        self.latency_ms: deque[float] = deque(maxlen=200)
        self.extra: dict[str, str] = {}
        self.last_rejection: dict[str, str] = {}  # reason -> detail of the newest rejection (logs are throttled)
        self._last_logged: dict[str, float] = {}  # rejection reason -> time.monotonic() of its last log line
        self._lock = threading.Lock()
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._processing_publisher = node.create_publisher(Float64, "~/processing_time_ms", 10)
        self._latency_publisher = node.create_publisher(Float64, "~/pipeline_latency_ms", 10)
        node.create_timer(period_s, self.publish)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def reject(self, reason: str, detail: str) -> None:
        """Count an input that was not processed, and log why."""
        # Throttled per reason by hand: rclpy's throttle_duration_sec is per call site, so one reason's
        # burst would hide the first occurrence of every other reason.
        now = time.monotonic()
        with self._lock:
            self.rejections[reason] += 1
            self.last_rejection[reason] = detail
            total = self.rejections[reason]
            last = self._last_logged.get(reason)
            log = last is None or now - last >= REJECTION_LOG_PERIOD_S
            if log:
                self._last_logged[reason] = now
        if log:
            self.node.get_logger().error(f"rejected input ({reason}, {total} so far): {detail}")

    def set_status(self, level: int, message: str) -> None:
        with self._lock:
            self.level, self.message = level, message

    def record_timing(self, processing_ms: float, latency_ms: float | None = None) -> None:
        with self._lock:
            self.processing_ms.append(processing_ms)
            if latency_ms is not None:
                self.latency_ms.append(latency_ms)
        self._processing_publisher.publish(Float64(data=float(processing_ms)))
        if latency_ms is not None:
            self._latency_publisher.publish(Float64(data=float(latency_ms)))

    def accept_stamp(self, verdict: StampVerdict, stamp: float, last: float | None, reset_what: str) -> bool:
        """False for a duplicate or out-of-order stamp (rejected, counted); a backward jump is logged and counted."""
        if verdict in (StampVerdict.DUPLICATE, StampVerdict.OUT_OF_ORDER):
            self.reject(verdict.value, f"stamp {stamp:.3f} after {last:.3f}; skipped")
            return False
        if verdict is StampVerdict.TIME_JUMPED_BACK:
            self.node.get_logger().warning(f"time jumped back to {stamp:.3f}: {reset_what}")
            self.count("resets_time_jumped_back")
        return True

    def processed(self, start: float, stamp: float, counter: str = "messages_processed") -> None:
        """Count a processed input: processing time since perf_counter() `start`, latency from its `stamp`."""
        self.count(counter)
        latency_ms = (self.node.get_clock().now().nanoseconds * 1e-9 - stamp) * 1e3
        self.record_timing((time.perf_counter() - start) * 1e3, latency_ms)

    def status(self) -> DiagnosticStatus:
        with self._lock:
            values = {name: str(count) for name, count in sorted(self.counters.items())}
            values.update({f"rejected.{reason}": str(n) for reason, n in sorted(self.rejections.items())})
            values.update({f"last_rejection.{reason}": d for reason, d in sorted(self.last_rejection.items())})
            for name, samples in (("processing_time_ms", self.processing_ms), ("pipeline_latency_ms", self.latency_ms)):
                if samples:
                    values[f"{name}.median"] = f"{np.median(samples):.2f}"
                    values[f"{name}.p95"] = f"{np.percentile(samples, 95):.2f}"
            values.update(self.extra)
            return DiagnosticStatus(
                level=self.level, name=self.node.get_fully_qualified_name(), message=self.message,
                hardware_id=self.hardware_id, values=[KeyValue(key=k, value=v) for k, v in values.items()],
            )

    def publish(self) -> None:
        array = DiagnosticArray(status=[self.status()])
        array.header.stamp = self.node.get_clock().now().to_msg()
        self._publisher.publish(array)
