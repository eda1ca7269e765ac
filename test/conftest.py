"""Shared test set-up.

Tests import the *installed* package (what `make setup` or colcon put in site-packages, with the
generated perception.msg), never the source tree: run them with `make test` (pytest from test/).
ROS tests talk over real DDS on loopback, in a domain of their own.
"""
import os
import random
import sys
from pathlib import Path

import pytest

# Before anything imports rclpy: loopback discovery, a domain no other run uses, shared-memory transport.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(100, 200)))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("YOLO_CONFIG_DIR", "/tmp/perception-test-ultralytics")

import perception  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

if Path(perception.__file__).resolve().is_relative_to(REPO_ROOT / "perception"):
    sys.exit("tests must import the installed perception package, not the source tree: run `make test`")

from perception.resources import config_path  # noqa: E402

os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(config_path("fastdds_shm.xml")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repo (real public data); tests needing it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


class RosTestNode:
    """A node of the test process, spun by a background executor thread."""

    def __init__(self) -> None:
        import threading

        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(f"test_probe_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down while spinning
                return

    def collect(self, message_type: type, topic: str, qos=10) -> list:
        """Subscribe and return the list that received messages are appended to."""
        received: list = []
        self.node.create_subscription(message_type, topic, received.append, qos)
        return received

    def wait_for(self, predicate, timeout_s: float) -> bool:
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(timeout=2)


@pytest.fixture
def ros():
    probe = RosTestNode()
    yield probe
    probe.close()
