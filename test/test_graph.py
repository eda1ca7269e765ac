"""The graph description: per-camera expansion, placeholders, validation, and the runner's command lines."""
from pathlib import Path

import pytest
import yaml

from perception.graph import load_graph
from perception.resources import DDS_PROFILE_VARIABLES, config_path
from perception.runtime.runner import graph_environment, node_command


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_installed_graph_has_a_detector_per_camera():
    graph = load_graph(config_path("perception.yaml"))
    detectors = [n for n in graph.nodes if n.executable == "detector"]
    assert len(detectors) == len(graph.cameras) >= 1
    assert len([n for n in graph.nodes if n.executable == "signs"]) == len(graph.cameras)  # on by default
    assert graph.network == "local" and graph.environment["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    for variable in DDS_PROFILE_VARIABLES:  # Fast DDS 2.x and 3 read different variables
        assert Path(graph.environment[variable]) == config_path("fastdds_shm.xml")


def test_per_camera_nodes_get_namespaces_and_substituted_remappings(tmp_path):
    graph = load_graph(write(tmp_path, {
        "cameras": {"front": {"image": "/cam/front/img"}, "rear": {"image": "/cam/rear/img"}},
        "nodes": {
            "detector": {"per_camera": True, "parameters": {"frame": "{camera}_optical"},
                         "remappings": {"image": "{image}"}},
            "fusion": {"executable": "tracker", "respawn": True},
            "signs": {"per_camera": True, "enabled": False},
        },
    }))
    names = [(n.full_name, n.executable) for n in graph.nodes]
    assert names == [("/perception/front/detector", "detector"), ("/perception/rear/detector", "detector"),
                     ("/perception/fusion", "tracker")]
    rear = graph.nodes[1]
    assert rear.remappings == [("image", "/cam/rear/img")] and rear.parameters == {"frame": "rear_optical"}
    assert graph.nodes[2].respawn and not rear.respawn  # and the disabled signs node is not in the graph


def test_nodes_that_are_not_per_camera_get_the_camera_names(tmp_path):
    graph = load_graph(write(tmp_path, {
        "cameras": {"front": {"image": "/f"}, "rear": {"image": "/r"}},
        "nodes": {"fusion": {"parameters": {"cameras": "{cameras}", "text": "fusing {cameras}"}}},
    }))
    assert graph.nodes[0].parameters == {"cameras": ["front", "rear"], "text": "fusing ['front', 'rear']"}
    assert graph.nodes[0].full_name == "/perception/fusion"


def test_the_installed_graph_fuses_every_camera_onto_the_planner_topic():
    graph = load_graph(config_path("perception.yaml"))
    (fusion,) = [n for n in graph.nodes if n.executable == "fusion"]
    assert fusion.full_name == "/perception/fusion" and fusion.parameters["cameras"] == list(graph.cameras)
    predictors = [n for n in graph.nodes if n.executable == "predictor"]
    assert predictors and all(dict(n.remappings).get("predicted_objects") is None for n in predictors)


@pytest.mark.parametrize("document, message", [
    ({"nodes": {}}, "no nodes"),
    ({"nodes": {"detector": {"per_camera": True}}}, "no cameras"),
    ({"cameras": {"a": {}}, "nodes": {"detector": {"per_camera": True, "remappings": {"image": "{nope}"}}}},
     "unknown placeholder"),
    ({"nodes": {"detector": {"paramters": {}}}}, "unknown keys"),
])
def test_invalid_graphs_are_rejected_with_a_reason(tmp_path, document, message):
    with pytest.raises(ValueError, match=message):
        load_graph(write(tmp_path, document))


def test_node_command_carries_name_namespace_params_and_remappings(tmp_path):
    graph = load_graph(write(tmp_path, {"cameras": {"front": {"image": "/x"}},
                                        "nodes": {"detector": {"per_camera": True, "remappings": {"image": "{image}"}}}}))
    command = node_command(graph.nodes[0], tmp_path / "p.yaml")
    assert command[1:3] == ["-m", "perception.nodes.detector"]
    joined = " ".join(command)
    assert "__node:=detector" in joined and "__ns:=/perception/front" in joined and "image:=/x" in joined


def test_environment_defaults_do_not_override_the_caller(tmp_path):
    graph = load_graph(write(tmp_path, {"environment": {"A": "1", "B": "1"}, "nodes": {"x": {}}}))
    environment = graph_environment(graph, {"A": "2", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"})
    assert environment["A"] == "2" and environment["B"] == "1"
    assert environment["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"  # the caller's, not the local network's


def test_network_comes_from_the_file_or_the_caller(tmp_path):
    path = write(tmp_path, {"network": "vehicle", "environment": {"FASTRTPS_DEFAULT_PROFILES_FILE": "mine.xml"},
                            "nodes": {"x": {}}})
    vehicle = load_graph(path)
    assert vehicle.network == "vehicle" and "ROS_AUTOMATIC_DISCOVERY_RANGE" not in vehicle.environment
    assert vehicle.environment["FASTRTPS_DEFAULT_PROFILES_FILE"] == str(tmp_path / "mine.xml")  # the file's own
    assert vehicle.environment["FASTDDS_DEFAULT_PROFILES_FILE"] == str(config_path("fastdds_vehicle.xml"))
    local = load_graph(path, network="local")  # launch's network:= and `perception up --network`
    assert local.network == "local" and local.environment["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    with pytest.raises(ValueError, match="network 'lan'"):
        load_graph(write(tmp_path, {"network": "lan", "nodes": {"x": {}}}))
