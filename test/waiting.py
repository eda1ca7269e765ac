"""Waiting on what other processes do, instead of sleeping: each wait returns as soon as its condition holds and
gives up only after a generous timeout, so a busy or slow machine makes a test slower, never red."""
from __future__ import annotations

import time


def wait_until(condition, timeout_s: float, interval_s: float = 0.02) -> bool:
    """Whether condition() holds within timeout_s, checked every interval_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True


def publish_until(probe, publisher, message, condition, timeout_s: float = 60) -> bool:
    """Publish `message` every 0.5 s until condition() holds (best-effort topics may drop one; a node may still be
    loading its model); False after timeout_s. `probe` is a RosTestNode."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publisher.publish(message)
        if probe.wait_for(condition, 0.5):
            return True
    return condition()


def log_contains(graph, node: str, *texts: str, timeout_s: float = 30) -> bool:
    """Whether the node's log (a RunningGraph's) holds every text, waiting for the node process to write it."""
    return wait_until(lambda: all(text in graph.log(node) for text in texts), timeout_s, interval_s=0.1)
