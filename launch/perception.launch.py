"""Launch the perception graph described in config/perception.yaml (the graph `perception up` runs).

    ros2 launch perception perception.launch.py [config:=/path/to/graph.yaml] [network:=local|vehicle]
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from perception.graph import NETWORKS, load_graph
from perception.resources import config_path


def graph_actions(context, *args, **kwargs):
    graph = load_graph(LaunchConfiguration("config").perform(context),
                       network=LaunchConfiguration("network").perform(context) or None)
    actions = [SetEnvironmentVariable(key, value) for key, value in graph.environment.items()
               if key not in os.environ]
    for spec in graph.nodes:
        actions.append(Node(
            package="perception", executable=spec.executable, name=spec.name, namespace=spec.namespace,
            parameters=[spec.parameters], remappings=spec.remappings, respawn=spec.respawn, output="screen",
        ))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("config", default_value=str(config_path("perception.yaml")),
                              description="graph file (nodes, parameters, remappings, cameras)"),
        DeclareLaunchArgument("network", default_value="",
                              description=f"{' or '.join(NETWORKS)}: local = loopback discovery and shared "
                                          "memory only; vehicle = ROS 2 discovery, UDP + shared memory "
                                          "(default: the graph file's `network`)"),
        OpaqueFunction(function=graph_actions),
    ])
