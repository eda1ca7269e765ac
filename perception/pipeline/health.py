"""What a pipeline stage reports about itself, without ROS: state, counters, rejected inputs by reason, extra values.

The nodes publish it on /diagnostics (perception.ros.diagnostics), offline evaluation writes it into the recording;
both therefore report the same keys (`frames_processed`, `rejected.<reason>`, `metric_positions`, ...).
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from perception.stamps import StampVerdict

OK, WARN, ERROR = 0, 1, 2  # the levels of diagnostic_msgs/DiagnosticStatus

Log = Callable[[int, str], None]  # (level, text): where a stage's messages go (a node's logger, Python logging)


def no_log(level: int, text: str) -> None:
    """Drop log messages (the counters and status still say everything)."""


class Health:
    """Counters, rejections and status of one stage, safe to update from several threads.

    Nothing is dropped silently: every rejected input is counted by reason, its newest detail kept
    (last_rejection.<reason>), and passed to `on_reject` (a node logs it, throttled per reason)."""

    def __init__(self, log: Log = no_log) -> None:
        self.log = log
        self.on_reject: Callable[[str, str, int], None] | None = None
        self.counters: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.last_rejection: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.level, self.message = OK, "starting"
        self._lock = threading.Lock()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def reject(self, reason: str, detail: str) -> None:
        """Count an input that was not processed, with why."""
        with self._lock:
            self.rejections[reason] += 1
            self.last_rejection[reason] = detail
            total = self.rejections[reason]
        if self.on_reject is not None:
            self.on_reject(reason, detail, total)

    def set_status(self, level: int, message: str) -> None:
        with self._lock:
            self.level, self.message = level, message

    def set_values(self, **values: object) -> None:
        with self._lock:
            self.values.update({key: str(value) for key, value in values.items()})

    def snapshot(self) -> dict[str, str]:
        """Every key and value as /diagnostics carries them."""
        with self._lock:
            values = {name: str(count) for name, count in sorted(self.counters.items())}
            values.update({f"rejected.{reason}": str(n) for reason, n in sorted(self.rejections.items())})
            values.update({f"last_rejection.{reason}": d for reason, d in sorted(self.last_rejection.items())})
            values.update(self.values)
            return values


def accept_stamp(health: Health, verdict: StampVerdict, stamp: float, last: float | None, reset_what: str,
                 prefix: str = "") -> bool:
    """False for a duplicate or out-of-order stamp (rejected as <prefix><verdict>, counted); a backward jump (a bag
    starting over) is logged and counted as <prefix>resets_time_jumped_back."""
    if verdict in (StampVerdict.DUPLICATE, StampVerdict.OUT_OF_ORDER):
        health.reject(f"{prefix}{verdict.value}", f"stamp {stamp:.3f} after {last:.3f}; skipped")
        return False
    if verdict is StampVerdict.TIME_JUMPED_BACK:
        health.log(WARN, f"time jumped back to {stamp:.3f}: {reset_what}")
        health.count(f"{prefix}resets_time_jumped_back")
    return True
