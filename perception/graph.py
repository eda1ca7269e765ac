"""The node graph described in config/perception.yaml, shared by `perception up` and the launch file.

A graph file has these sections:
  network:     local (default) or vehicle: how the nodes discover peers and which transports they use
               (see network_environment); `network:=` of the launch file and `perception up --network` override it
  environment: further variables for the nodes, replacing the network's (relative .xml paths resolve against
               the graph file's folder)
  cameras:     name -> topics of that camera; each camera gets the namespace /perception/<name>
  nodes:       name -> executable, per_camera, respawn, enabled (default true), parameters, remappings
Variables already set in the environment of `perception up` or `ros2 launch` win over the graph's.
Strings in parameters and remappings may use {camera} and any key of the camera entry
({pose[pitch]} for nested values); a string that is a single placeholder takes the value's type. Nodes that are not
per camera (namespace /perception) may use {cameras}: the list of camera names ("{cameras}" alone: a string array).
"""
from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from perception.resources import dds_profile_environment

NAMESPACE_ROOT = "/perception"
NETWORKS = ("local", "vehicle")


@dataclass
class NodeSpec:
    """One process of the graph."""

    name: str
    executable: str
    namespace: str
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    respawn: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.namespace.rstrip('/')}/{self.name}"


@dataclass
class Graph:
    nodes: list[NodeSpec]
    environment: dict[str, str]
    cameras: dict[str, dict[str, Any]]
    network: str = "local"


def network_environment(network: str, ros_distro: str | None = None) -> dict[str, str]:
    """Discovery and Fast DDS transport variables of a network setting.

    local:   this computer only (desk, demo, tests): discovery on loopback (ROS_AUTOMATIC_DISCOVERY_RANGE from
             Iron on, ROS_LOCALHOST_ONLY on Humble) and the local profile (shared memory for data, UDP on
             127.0.0.1 only for discovery).
    vehicle: ROS 2's own discovery (nothing set: peers on other computers, e.g. the planner, find the nodes) and
             the profile with UDP plus shared memory (large images still go through shared memory within the computer).
    """
    if network not in NETWORKS:
        raise ValueError(f"network {network!r}: expected one of {', '.join(NETWORKS)}")
    environment = dds_profile_environment(network)
    if network == "local":
        environment["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        if ros_distro == "humble":  # Humble has no discovery range; Jazzy warns about ROS_LOCALHOST_ONLY
            environment["ROS_LOCALHOST_ONLY"] = "1"
    return environment


def _substitute(value: Any, context: dict[str, Any]) -> Any:
    """Fill placeholders; a string that is one placeholder alone keeps the value's type (e.g. a float)."""
    if isinstance(value, str):
        try:
            whole = re.fullmatch(r"\{([^{}]+)\}", value)
            if whole:
                return string.Formatter().get_field(whole.group(1), (), context)[0]
            return value.format(**context)
        except (KeyError, IndexError) as error:
            raise ValueError(f"unknown placeholder {error} in {value!r}") from None
    if isinstance(value, list):
        return [_substitute(item, context) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, context) for key, item in value.items()}
    return value


def _node_spec(name: str, entry: dict[str, Any], namespace: str, context: dict[str, Any]) -> NodeSpec:
    unknown = set(entry) - {"executable", "per_camera", "respawn", "enabled", "parameters", "remappings"}
    if unknown:
        raise ValueError(f"node {name!r}: unknown keys {sorted(unknown)}")
    remappings = _substitute(entry.get("remappings") or {}, context)
    return NodeSpec(
        name=name,
        executable=entry.get("executable", name),
        namespace=namespace,
        parameters=_substitute(entry.get("parameters") or {}, context),
        remappings=[(source, target) for source, target in remappings.items()],
        respawn=bool(entry.get("respawn", False)),
    )


def load_graph(path: str | Path, camera_overrides: dict[str, dict[str, Any]] | None = None,
               network: str | None = None, cameras: dict[str, dict[str, Any]] | None = None) -> Graph:
    """Read a graph file and expand per-camera nodes into one NodeSpec per camera.

    camera_overrides: camera name -> entries replacing those of the file (e.g. the topics of a bag).
    network: "local" or "vehicle" instead of the file's `network`.
    cameras: replaces the file's cameras section (e.g. the cameras found in a bag).
    """
    path = Path(path)
    document = yaml.safe_load(path.read_text()) or {}
    network = network or document.get("network") or "local"
    try:
        environment = network_environment(network, os.environ.get("ROS_DISTRO"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    cameras = (document.get("cameras") or {}) if cameras is None else cameras
    for camera, entries in (camera_overrides or {}).items():
        if camera not in cameras:
            raise ValueError(f"{path}: no camera {camera!r} (cameras: {', '.join(cameras) or 'none'})")
        cameras[camera] = {**cameras[camera], **entries}
    nodes_section = document.get("nodes") or {}
    if not nodes_section:
        raise ValueError(f"{path}: the graph has no nodes")
    for key, value in (document.get("environment") or {}).items():
        value = str(value)
        if value.endswith(".xml") and not Path(value).is_absolute():
            value = str((path.parent / value).resolve())
        environment[key] = value
    nodes = []
    for name, entry in nodes_section.items():
        entry = entry or {}
        if not entry.get("enabled", True):
            continue
        if entry.get("per_camera", False):
            if not cameras:
                raise ValueError(f"{path}: node {name!r} is per_camera but no cameras are configured")
            for camera, topics in cameras.items():
                context = {"camera": camera, **(topics or {})}
                nodes.append(_node_spec(name, entry, f"{NAMESPACE_ROOT}/{camera}", context))
        else:
            nodes.append(_node_spec(name, entry, NAMESPACE_ROOT, {"cameras": list(cameras)}))
    return Graph(nodes=nodes, environment=environment, cameras=cameras, network=network)
