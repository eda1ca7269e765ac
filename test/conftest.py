"""Shared test set-up.

Tests import the *installed* package (what `make setup` or colcon put in site-packages, with the
generated perception.msg), never the source tree: run them with `make test` (pytest from test/).
ROS tests talk over real DDS on loopback, in a domain of their own.

`pytest --without-ros` (`make test-py310`) runs where ROS 2 is not installed: an import of a ROS 2 package
(rclpy, *_msgs, *_interfaces, launch, perception.msg) that is not installed skips the test module or test
that makes it, and so does a test that fails on such a missing module in a subprocess it started (the
`perception` command); the summary names the module. Without the option, nothing is skipped for it.
"""
from __future__ import annotations

import fcntl
import functools
import importlib.abc
import os
import random
import re
import sys
from pathlib import Path

import pytest

DOMAIN_LOCKS = []  # open lock files: each holds a ROS_DOMAIN_ID for this test session


def reserve_domain_id() -> str:
    """A ROS_DOMAIN_ID (100-200) that no other test session on this machine holds: a randomly chosen id, locked
    (flock on a file under /tmp) until this process exits, so concurrent runs never share a domain."""
    for domain in random.Random(os.getpid()).sample(range(100, 201), 101):
        lock = open(f"/tmp/perception-test-domain-{domain}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        DOMAIN_LOCKS.append(lock)
        return str(domain)
    raise RuntimeError("every ROS_DOMAIN_ID from 100 to 200 is held by another test session")


# Before anything imports rclpy: loopback discovery, a domain no other run uses, shared-memory transport.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
if "ROS_DOMAIN_ID" not in os.environ:
    os.environ["ROS_DOMAIN_ID"] = reserve_domain_id()
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("YOLO_CONFIG_DIR", "/tmp/perception-test-ultralytics")

import perception  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

if Path(perception.__file__).resolve().is_relative_to(REPO_ROOT / "perception"):
    sys.exit("tests must import the installed perception package, not the source tree: run `make test`")

from perception.resources import use_local_dds_profile  # noqa: E402

use_local_dds_profile(os.environ)

ROS_PACKAGES = frozenset({"rclpy", "launch", "launch_ros", "launch_testing", "ros2launch", "rosidl_runtime_py"})


def is_ros_module(name: str) -> bool:
    """A module of ROS 2 itself or of our generated interfaces (perception.msg)."""
    root = name.partition(".")[0]
    return (root in ROS_PACKAGES or root.endswith(("_msgs", "_interfaces"))
            or name == "perception.msg" or name.startswith("perception.msg."))


class SkipMissingRos(importlib.abc.MetaPathFinder):
    """Last finder of `--without-ros` runs: a ROS 2 module that no other finder found skips its importer."""

    def find_spec(self, fullname: str, path=None, target=None):
        if is_ros_module(fullname):
            raise pytest.skip.Exception(f"needs ROS 2 ({fullname} is not installed)", allow_module_level=True)
        return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--without-ros", action="store_true",
                     help="skip the tests that need ROS 2 (rclpy, message packages, perception.msg) when it is absent")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--without-ros"):
        sys.meta_path.append(SkipMissingRos())


MISSING_MODULE = re.compile(r"No module named \\?'([\w.]+)")  # also inside the repr of captured output


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In `--without-ros` runs, a failure on a missing ROS 2 module (in a subprocess) is reported as a skip."""
    report = (yield).get_result()
    if report.failed and item.config.getoption("--without-ros"):
        missing = [name for name in MISSING_MODULE.findall(report.longreprtext) if is_ros_module(name)]
        if missing:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] + 1,
                               f"Skipped: needs ROS 2 ({missing[0]} is not installed, in a subprocess)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repo (real public data); tests needing it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def __getattr__(name: str) -> type:
    """`from conftest import RosTestNode`: the class is built on first use, as its base class needs rclpy."""
    if name == "RosTestNode":
        return ros_test_node_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=None)
def ros_test_node_class() -> type:
    from perception.ros.background_node import BackgroundNode

    class RosTestNode(BackgroundNode):
        """A node of the test process, spun by a background executor thread."""

        def __init__(self, name: str = "test_probe") -> None:
            super().__init__(name)

        def collect(self, message_type: type, topic: str, qos=10) -> list:
            """Subscribe and return the list that received messages are appended to. Where the topic has publishers
            already, wait (up to 10 s) until one is matched: a node that publishes once per stamp (and rejects the
            copies a test republishes) would otherwise lose its message to discovery."""
            received: list = []
            subscription = self.node.create_subscription(message_type, topic, received.append, qos)
            if self.node.count_publishers(topic) > 0:
                self.wait_for(lambda: subscription.get_publisher_count() > 0, 10)
            return received

        def wait_for(self, predicate, timeout_s: float) -> bool:
            from waiting import wait_until

            return wait_until(predicate, timeout_s)

    return RosTestNode


@pytest.fixture
def ros():
    probe = ros_test_node_class()()
    yield probe
    probe.close()


@pytest.fixture
def tiny_predictor_checkpoint(tmp_path: Path) -> Path:
    """An untrained, randomly initialised trajectory RNN (8 observed, 12 predicted steps of 0.4 s)."""
    import torch

    from perception.prediction.checkpoint import save_checkpoint
    from perception.prediction.model import PredictorConfig, TrajectoryRNN

    torch.manual_seed(0)
    config = PredictorConfig(
        obs_len=8, pred_len=12, time_step=0.4, hidden_size=16, displacement_scale=0.4,
        constant_velocity_rmse=[0.1 * (k + 1) for k in range(12)], data={"dataset": "test"},
    )
    path = tmp_path / "tiny.pt"
    save_checkpoint(TrajectoryRNN(config), path)
    return path


def write_eth_ucy_scene(root: Path, rows: list[tuple[int, int, float, float]]) -> None:
    """`root`/eth/test/tiny.txt with the rows (frame, pedestrian id, x, y) in the given order."""
    folder = root / "eth" / "test"
    folder.mkdir(parents=True)
    (folder / "tiny.txt").write_text("".join(f"{f}\t{p}\t{x}\t{y}\n" for f, p, x, y in rows))


# --- Reliability tests: module-scoped graphs, node logs, /diagnostics and parameter services ---

HIGHWAY_CLIP = "clips/udacity_highway_1280x720.mp4"


def node_log_name(full_name: str) -> str:
    """File name GraphRunner(log_dir=...) writes a node's output to."""
    return f"{full_name.strip('/').replace('/', '.')}.log"


class RunningGraph:
    """A graph YAML written to a folder and run with GraphRunner; node output goes to <folder>/logs."""

    def __init__(self, folder: Path, document: dict, respawn: bool | None = None) -> None:
        import yaml

        from perception.graph import load_graph
        from perception.runtime.runner import GraphRunner

        self.folder = folder
        (folder / "graph.yaml").write_text(yaml.safe_dump(document))
        self.runner = GraphRunner(load_graph(folder / "graph.yaml"), respawn=respawn, log_dir=folder / "logs")

    def __enter__(self) -> "RunningGraph":
        self.runner.start()
        try:
            self.runner.wait_until_up(timeout_s=90)
        except BaseException:
            self.runner.shutdown()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.runner.shutdown()

    def node(self, full_name: str):
        return next(n for n in self.runner.nodes if n.spec.full_name == full_name)

    def log(self, full_name: str) -> str:
        path = self.folder / "logs" / node_log_name(full_name)
        return path.read_text(errors="replace") if path.is_file() else ""


def latest_status(arrays: list, node: str):
    """The newest DiagnosticStatus of `node` (fully qualified name) among received DiagnosticArrays, or None."""
    for array in reversed(list(arrays)):
        for status in array.status:
            if status.name == node:
                return status
    return None


def diagnostic_values(arrays: list, node: str) -> dict[str, str]:
    status = latest_status(arrays, node)
    return {kv.key: kv.value for kv in status.values} if status else {}


def diagnostic_count(arrays: list, node: str, key: str) -> int:
    """A counter of the newest status of `node`, e.g. "frames_processed" or "rejected.bad_image"; 0 if absent."""
    return int(diagnostic_values(arrays, node).get(key, 0))


def call_service(probe: RosTestNode, service_type: type, name: str, request, timeout_s: float = 10.0):
    """Call a service of another process from the probe node; returns the response."""
    client = probe.node.create_client(service_type, name)
    try:
        assert client.wait_for_service(timeout_sec=timeout_s), f"service {name} not available"
        future = client.call_async(request)
        assert probe.wait_for(future.done, timeout_s), f"no response from {name}"
        return future.result()
    finally:
        probe.node.destroy_client(client)


def get_parameters(probe: RosTestNode, node: str, names: list[str]) -> dict:
    """Current values of a remote node's parameters (through its get_parameters service)."""
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    response = call_service(probe, GetParameters, f"{node}/get_parameters", GetParameters.Request(names=names))
    return {name: parameter_value_to_python(value) for name, value in zip(names, response.values)}


def set_parameters(probe: RosTestNode, node: str, values: dict) -> list:
    """Set a remote node's parameters one by one; returns its SetParametersResult per parameter."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    return list(call_service(probe, SetParameters, f"{node}/set_parameters", request).results)


@pytest.fixture(scope="module")
def ros_module():
    """Like `ros`, for a whole test module (shared with its module-scoped graph)."""
    probe = ros_test_node_class()()
    yield probe
    probe.close()


@pytest.fixture(scope="session")
def highway_frames() -> list:
    """All 38 frames (1280x720 BGR, 25 fps) of the shared highway dash-cam clip."""
    import cv2

    if not (SHARED_DATA / HIGHWAY_CLIP).is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA / HIGHWAY_CLIP}")
    capture = cv2.VideoCapture(str(SHARED_DATA / HIGHWAY_CLIP))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    assert len(frames) == 38, f"{len(frames)} frames in {HIGHWAY_CLIP}, expected 38"
    return frames


def frames_unaccounted(values: dict[str, str]) -> int:
    """Frames a detector received but neither processed, skipped (newest-frame policy) nor rejected: should be 0."""
    handled = sum(int(values.get(k, 0)) for k in ("frames_processed", "frames_skipped"))
    handled += sum(int(v) for k, v in values.items() if k.startswith("rejected."))
    return int(values.get("frames_received", 0)) - handled
