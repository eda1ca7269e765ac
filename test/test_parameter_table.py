"""The one parameter table (perception.pipeline.parameters): what every node declares, what the deployed graph sets,
what evaluation runs, and the generated reference in docs/parameters.md all come from it."""
from pathlib import Path

import pytest

from perception.graph import load_graph
from perception.pipeline.parameters import TABLES, defaults, markdown_reference, node_parameters, resolve
from perception.resources import config_path

REPO = Path(__file__).resolve().parent.parent


def test_the_deployed_graph_sets_only_parameters_the_nodes_declare_with_values_they_accept():
    graph = load_graph(config_path("perception.yaml"))
    assert {node.executable for node in graph.nodes} == set(TABLES)  # signs included: on by default
    for node in graph.nodes:
        _, problems = resolve(node.executable, node.parameters)
        assert problems == [], node.full_name


def test_evaluation_runs_the_deployed_values_over_the_table_defaults():
    graph = load_graph(config_path("perception.yaml"))
    tracker = node_parameters(graph, "tracker", "/perception/front")
    assert tracker["high_score"] == 0.25  # config/perception.yaml, not the table's (ByteTrack's) 0.6
    assert tracker["report_coasting"] is True and tracker["reset_after_backward_jump_s"] == 2.0  # table defaults
    detector = node_parameters(graph, "detector", "/perception/front")
    assert detector["conf_threshold"] == 0.1 and detector["fallback"] is True


def test_a_value_the_node_would_refuse_stops_an_evaluation_with_the_reason(tmp_path: Path):
    (tmp_path / "graph.yaml").write_text(
        "cameras: {front: {image: /image}}\n"
        "nodes: {tracker: {per_camera: true, parameters: {high_score: 1, odometry_source: gps, typo_score: 0.5}}}\n")
    graph = load_graph(tmp_path / "graph.yaml")
    with pytest.raises(ValueError) as raised:
        node_parameters(graph, "tracker", "/perception/front")
    message = str(raised.value)
    assert "high_score=1: expected a floating-point number" in message
    assert "odometry_source='gps' is not one of topic, tf, none" in message
    assert "unknown parameter 'typo_score'" in message


def test_the_fusion_takes_the_graph_cameras_as_a_list_of_names(tmp_path: Path):
    (tmp_path / "graph.yaml").write_text("cameras: {left: {}, right: {}}\n"
                                         "nodes: {fusion: {parameters: {cameras: '{cameras}'}}}\n")
    assert node_parameters(load_graph(tmp_path / "graph.yaml"), "fusion", "/perception")["cameras"] == ["left", "right"]
    _, problems = resolve("fusion", {"cameras": ["left", 2]})
    assert problems == ["fusion: cameras=['left', 2]: expected a list of strings; using the default []"]


def test_docs_parameter_reference_is_generated_from_the_table():
    reference = REPO / "docs" / "parameters.md"
    assert reference.read_text() == markdown_reference(), (
        "docs/parameters.md is stale: python -m perception.pipeline.parameters > docs/parameters.md")


@pytest.fixture(scope="module")
def nodes_with_defaults(tmp_path_factory, ros_module):
    """One process of every node executable, started with no parameters: each declares its defaults."""
    from conftest import RunningGraph

    folder = tmp_path_factory.mktemp("defaults")
    document = {"cameras": {"front": {"image": "/defaults/image/compressed"}},
                "nodes": {name: {"per_camera": True} for name in TABLES}}
    with RunningGraph(folder, document) as running:
        yield running


@pytest.mark.parametrize("executable", sorted(TABLES))
def test_each_node_declares_the_table_defaults(nodes_with_defaults, ros_module, executable):
    from conftest import get_parameters

    expected = defaults(executable)
    declared = get_parameters(ros_module, f"/perception/front/{executable}", sorted(expected))
    assert declared == expected
