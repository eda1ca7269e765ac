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

from perception.resources import use_local_dds_profile  # noqa: E402
from perception.ros.background_node import BackgroundNode  # noqa: E402

use_local_dds_profile(os.environ)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repo (real public data); tests needing it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


class RosTestNode(BackgroundNode):
    """A node of the test process, spun by a background executor thread."""

    def __init__(self, name: str = "test_probe") -> None:
        super().__init__(name)

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


@pytest.fixture
def ros():
    probe = RosTestNode()
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
    probe = RosTestNode()
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
