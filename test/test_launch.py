"""`ros2 launch perception perception.launch.py` with the real launch tools, on the installed package.

Each test launches the installed launch file as `ros2 launch` does, replays the sample bag, waits for predicted
objects on the planner topic, stops launch with SIGINT and checks that no node process is left. A node that
dies at start-up (launch still exits 0) fails the test: every node of the graph must appear on the ROS graph.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from perception.resources import config_path, data_path
from real_launch import PLANNER_TOPIC, LaunchedGraph, NodesNotUp, expected_nodes, launch_tools_environment

SAMPLE_BAG = "sample_highway_960x540.mcap"
PERCEPTION = Path(sys.prefix) / "bin" / "perception"


@pytest.fixture(scope="module")
def launch_environment() -> dict[str, str]:
    """The test's environment (domain, loopback, DDS profile) without the ament index or the venv on PATH."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("AMENT_PREFIX_PATH", "PYTHONPATH")}
    environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    environment.update(launch_tools_environment())
    return environment


def modified_graph(folder: Path, camera: str = "cam0", environment: dict | None = None) -> Path:
    """The installed graph with its camera renamed (new node namespaces, same bag topics)."""
    document = yaml.safe_load(config_path("perception.yaml").read_text())
    document["cameras"] = {camera: document["cameras"]["front"]}
    if environment:
        document["environment"] = environment
    path = folder / "graph.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run_sample_bag_through(launched: LaunchedGraph, ros, expected: set[str]) -> None:
    """Nodes up, the sample bag replayed, predicted objects with the bag camera's frame on the planner topic."""
    from perception.msg import PredictedObjects

    received = ros.collect(PredictedObjects, PLANNER_TOPIC)
    launched.wait_until_up(ros, expected)
    replay = subprocess.Popen([str(PERCEPTION), "replay", str(data_path(SAMPLE_BAG)), "--wait-for-subscribers", "120"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        arrived = ros.wait_for(lambda: any(message.objects for message in received), timeout_s=180)
    finally:
        replay.terminate()
        replay_output = replay.communicate(timeout=30)[0]
    assert arrived, (f"{len(received)} PredictedObjects, none with objects\nreplay: {replay_output}\n"
                     f"launch:\n{launched.output[-4000:]}")
    message = next(message for message in received if message.objects)
    # positions in the vehicle frame (the sample bag has no odometry); the fused list names no one camera, each
    # object its own: the front camera
    assert message.header.frame_id == "base_link" and message.header.stamp.sec > 0
    assert message.camera_frame_id == ""
    assert {obj.camera_frame_id for obj in message.objects} == {"camera_front_optical_frame"}


def stop_and_check_no_node_left(launched: LaunchedGraph) -> None:
    assert launched.stop() == 0, launched.output[-4000:]
    assert launched.node_processes_left() == [], launched.output[-4000:]


def test_default_launch_found_through_perception_env(launch_environment, ros):
    """`eval "$(perception env)"` then `ros2 launch perception perception.launch.py`, as the README says."""
    shell_prefix = f'eval "$({PERCEPTION} env)"'
    with LaunchedGraph([], launch_environment, shell_prefix) as launched:
        run_sample_bag_through(launched, ros, expected_nodes())
        stop_and_check_no_node_left(launched)


def test_launch_with_a_modified_graph_file(launch_environment, ros, tmp_path):
    """config:= another graph; the ament index alone finds the package, and the venv is not on PATH: the node
    executables must start the venv's Python by themselves."""
    graph = modified_graph(tmp_path)
    environment = {**launch_environment, "AMENT_PREFIX_PATH": sys.prefix}
    with LaunchedGraph([f"config:={graph}"], environment) as launched:
        run_sample_bag_through(launched, ros, expected_nodes(graph))
        assert {name for name in expected_nodes(graph) if not name.startswith("/perception/cam0/")} == {
            "/perception/fusion"}
        stop_and_check_no_node_left(launched)


def test_a_node_that_dies_at_start_up_is_noticed(launch_environment, ros, tmp_path):
    """Nodes whose Python cannot import their modules (what a wrong interpreter gives) die with
    ModuleNotFoundError while launch exits 0: the check that every node is on the graph fails."""
    shadow = tmp_path / "shadow" / "perception"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('"""An empty package hiding the installed perception from the nodes."""\n')
    graph = modified_graph(tmp_path, environment={"PYTHONPATH": str(shadow.parent)})
    environment = {**launch_environment, "AMENT_PREFIX_PATH": sys.prefix}
    with LaunchedGraph([f"config:={graph}"], environment) as launched:
        with pytest.raises(NodesNotUp) as failure:
            launched.wait_until_up(ros, expected_nodes(graph), timeout_s=120)
        assert "ModuleNotFoundError: No module named 'perception.nodes'" in str(failure.value)
        assert launched.process.wait(timeout=120) == 0, launched.output[-4000:]  # all nodes died: launch ends, "ok"
