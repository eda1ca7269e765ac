"""`perception up`: stops its nodes and exits 0 on SIGINT or SIGTERM; exits 1 naming a node that dies."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from perception.resources import DDS_PROFILE_VARIABLES, config_path
from real_launch import children, process_environment


def start_up(tmp_path: Path, nodes: dict, *options: str, environment: dict | None = None) -> subprocess.Popen:
    graph = tmp_path / "graph.yaml"
    graph.write_text(yaml.safe_dump({"cameras": {"front": {"camera_info": "/test/up/camera_info"}}, "nodes": nodes}))
    return subprocess.Popen([sys.executable, "-m", "perception", "up", "--config", str(graph), *options],
                            cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C for a `perception up` still running (a failed assertion), SIGKILL if that does not end it."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_until(process: subprocess.Popen, text: str, timeout_s: float) -> str:
    output, deadline = "", time.monotonic() + timeout_s
    while time.monotonic() < deadline and text not in output:
        line = process.stdout.readline()
        if not line:
            break
        output += line
    return output


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_stops_all_nodes_on_a_signal(tmp_path, stop_signal):
    process = start_up(tmp_path, {"tracker": {"per_camera": True, "remappings": {"camera_info": "{camera_info}"}}})
    try:
        output = read_until(process, "nodes running", 120)
        assert "1 nodes running (/perception/front/tracker)" in output, output
        # Its own node processes, not every tracker on the machine (other test runs may have theirs).
        nodes = children(process.pid)
        assert len(nodes) == 1, nodes
        process.send_signal(stop_signal)
        assert process.wait(timeout=60) == 0
    finally:
        stop(process)
    assert not any(running(pid) for pid in nodes), f"node processes left running: {nodes}"


def test_up_exits_non_zero_naming_the_node_that_died(tmp_path):
    process = start_up(tmp_path, {"broken": {"executable": "no_such_node"}})
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "node /perception/broken exited with code 1" in output


def test_up_network_vehicle_starts_nodes_with_the_vehicle_profile(tmp_path):
    """--network vehicle: the UDP + shared-memory profile; discovery stays what the environment says (loopback
    here, from conftest: the vehicle setting itself sets no discovery range)."""
    environment = {key: value for key, value in os.environ.items() if key not in DDS_PROFILE_VARIABLES}
    tracker = {"tracker": {"per_camera": True, "remappings": {"camera_info": "{camera_info}"}}}
    process = start_up(tmp_path, tracker, "--network", "vehicle", environment=environment)
    try:
        assert "1 nodes running" in read_until(process, "nodes running", 120)
        (node_pid,) = children(process.pid)
        node_environment = process_environment(node_pid)
        for variable in DDS_PROFILE_VARIABLES:
            assert node_environment[variable] == str(config_path("fastdds_vehicle.xml"))
        assert node_environment["ROS_AUTOMATIC_DISCOVERY_RANGE"] == os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
