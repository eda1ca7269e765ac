"""Waiting on what other processes do, instead of sleeping: each wait returns as soon as its condition holds and
gives up only after a generous timeout, so a busy or slow machine makes a test slower, never red."""
from __future__ import annotations

import time


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
    deadline = time.monotonic() + timeout_s
    while not all(text in graph.log(node) for text in texts):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
