"""launch/perception.launch.py builds the same nodes as `perception up` from the same graph file.

`launch` and `launch_ros` are not installable from PyPI, so this test gives the launch file minimal
stand-ins for the few classes it uses and checks the Node actions it creates.
"""
import importlib.util
import sys
import types

from perception.graph import load_graph
from perception.resources import config_path, share_dir


class Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(Recorded):
    def perform(self, context):
        return context[self.args[0]]


def stub_modules(monkeypatch) -> None:
    modules = {
        "launch": {"LaunchDescription": Recorded},
        "launch.actions": {"DeclareLaunchArgument": Recorded, "OpaqueFunction": Recorded,
                           "SetEnvironmentVariable": Recorded},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch_ros.actions": {"Node": Recorded},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)


def test_launch_file_builds_the_graph_of_the_config(monkeypatch):
    stub_modules(monkeypatch)
    spec = importlib.util.spec_from_file_location("perception_launch", share_dir() / "launch" / "perception.launch.py")
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    description = launch_file.generate_launch_description()
    declare, opaque = description.args[0]
    assert declare.args[0] == "config" and declare.kwargs["default_value"] == str(config_path("perception.yaml"))
    actions = opaque.kwargs["function"]({"config": str(config_path("perception.yaml"))})
    nodes = [a.kwargs for a in actions if "executable" in a.kwargs]
    graph = load_graph(config_path("perception.yaml"))
    assert [(n["namespace"], n["name"], n["executable"]) for n in nodes] == \
        [(s.namespace, s.name, s.executable) for s in graph.nodes]
    for node, node_spec in zip(nodes, graph.nodes):
        assert node["package"] == "perception" and node["parameters"] == [node_spec.parameters]
        assert node["remappings"] == node_spec.remappings and node["respawn"] == node_spec.respawn
