"""Network settings of the graph: `network: local` (desk, demo, tests) keeps discovery on this computer and uses
the local Fast DDS profile (shared memory for data, UDP on loopback only for discovery); `network: vehicle` leaves discovery to ROS 2 and uses UDP plus shared memory,
so that a planner that knows nothing of our profile (on another computer, in a container) receives the outputs.

The cross-process test runs in a network namespace of its own whose only interface is loopback (`unshare -rn`):
ROS 2's default discovery (multicast) behaves there as on a vehicle, and no packet can leave this machine.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from perception.graph import network_environment
from perception.resources import DDS_PROFILE_VARIABLES, config_path, data_path
from real_launch import LaunchedGraph, expected_nodes, launch_tools_environment, process_environment

DISCOVERY_VARIABLES = ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY")
PLANNER_STUB = Path(__file__).with_name("planner_stub.py")
PERCEPTION = Path(sys.prefix) / "bin" / "perception"
LOOPBACK_ONLY = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"


def transports(profile: str) -> tuple[set[str], str]:
    """Transport types a Fast DDS profile file declares, and its useBuiltinTransports value."""
    root = ElementTree.parse(profile).getroot()
    local = {element: element.tag.rsplit("}", 1)[-1] for element in root.iter()}
    types = {element.text for element, name in local.items() if name == "type"}
    builtin = next(element.text for element, name in local.items() if name == "useBuiltinTransports")
    return types, builtin


def shared_memory_segments(pid: int) -> list[int]:
    """Sizes in bytes of the Fast DDS shared-memory segments (not the port files) a process has mapped."""
    sizes = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[5].startswith("/dev/shm/fastrtps_") and "_port" not in fields[5]:
            start, end = (int(address, 16) for address in fields[0].split("-"))
            sizes.append(end - start)
    return sizes


def loopback_only_udp(profile: str) -> bool:
    """Whether every UDPv4 transport of the profile is restricted to 127.0.0.1 (interfaceWhiteList)."""
    root = ElementTree.parse(profile).getroot()
    descriptors = [d for d in root.iter() if d.tag.endswith("transport_descriptor")]
    udp = [d for d in descriptors if any(e.tag.endswith("type") and e.text == "UDPv4" for e in d)]
    return bool(udp) and all(
        [e.text for e in d.iter() if e.tag.endswith("address")] == ["127.0.0.1"] for d in udp)


def test_local_network_keeps_discovery_and_data_on_this_computer():
    environment = network_environment("local")
    assert environment["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and "ROS_LOCALHOST_ONLY" not in environment
    assert network_environment("local", "humble")["ROS_LOCALHOST_ONLY"] == "1"  # Humble has no discovery range
    for variable in DDS_PROFILE_VARIABLES:
        assert environment[variable] == str(config_path("fastdds_shm.xml"))
    assert transports(environment["FASTRTPS_DEFAULT_PROFILES_FILE"]) == ({"SHM", "UDPv4"}, "false")
    assert loopback_only_udp(environment["FASTRTPS_DEFAULT_PROFILES_FILE"])


@pytest.mark.parametrize("ros_distro", [None, "humble", "jazzy"])
def test_vehicle_network_leaves_discovery_to_ros_and_adds_udp(ros_distro):
    environment = network_environment("vehicle", ros_distro)
    assert not set(DISCOVERY_VARIABLES) & set(environment)
    for variable in DDS_PROFILE_VARIABLES:
        assert environment[variable] == str(config_path("fastdds_vehicle.xml"))
    assert transports(environment["FASTRTPS_DEFAULT_PROFILES_FILE"]) == ({"SHM", "UDPv4"}, "false")


def test_unknown_network_is_rejected():
    with pytest.raises(ValueError, match="network 'lan': expected one of local, vehicle"):
        network_environment("lan")


@pytest.fixture
def loopback_namespace():
    """A command prefix that runs a command in a user + network namespace with only the loopback interface."""
    holder = subprocess.Popen(["unshare", "-rn", "bash", "-c", f"{LOOPBACK_ONLY} && echo ready && exec sleep 3600"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first_line = holder.stdout.readline().strip()
    if first_line != "ready":
        holder.kill()
        pytest.skip(f"no loopback-only network namespace here (unshare -rn): {first_line or holder.wait()}")
    yield ("nsenter", "--preserve-credentials", "-U", "-n", "-t", str(holder.pid))
    holder.kill()
    holder.wait()


def test_a_planner_without_our_profile_receives_the_outputs_of_the_vehicle_setting(loopback_namespace, tmp_path):
    """`ros2 launch perception perception.launch.py network:=vehicle` with ROS 2's default discovery; two planners
    with plain Fast DDS (one with its default transports, one with UDP only, as from another computer) receive
    predicted objects of the sample bag, replayed by a third plain process. The node processes carry the vehicle
    profile and no discovery variable, and have the profile's 32 MiB shared-memory segment mapped (for images from
    this computer)."""
    plain = {key: value for key, value in os.environ.items()
             if key not in (*DISCOVERY_VARIABLES, *DDS_PROFILE_VARIABLES, "AMENT_PREFIX_PATH", "PYTHONPATH")}
    planners = {"default transports": plain, "UDP only": {**plain, "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}}
    expected = expected_nodes()
    launch_environment = {**plain, **launch_tools_environment(), "AMENT_PREFIX_PATH": sys.prefix}
    with LaunchedGraph(["network:=vehicle"], launch_environment, command_prefix=loopback_namespace) as launched:
        stubs = {name: subprocess.Popen([*loopback_namespace, sys.executable, str(PLANNER_STUB), "300", *expected],
                                        env=environment, cwd=tmp_path, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                 for name, environment in planners.items()}
        for name, stub in stubs.items():
            assert stub.stdout.readline() == "nodes up\n", f"{name}: {stub.stdout.read()}\n{launched.output[-4000:]}"
        launched.record_node_processes(len(expected))
        for pid in launched.node_processes:
            environment = process_environment(pid)
            assert environment["FASTRTPS_DEFAULT_PROFILES_FILE"] == str(config_path("fastdds_vehicle.xml"))
            assert not set(DISCOVERY_VARIABLES) & set(environment)
            assert max(shared_memory_segments(pid), default=0) >= 32 * 2**20  # the profile's shared memory is in use
        replay = subprocess.Popen([*loopback_namespace, str(PERCEPTION), "replay", str(data_path(
            "sample_highway_960x540.mcap")), "--wait-for-subscribers", "120"], env=plain,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for name, stub in stubs.items():
                output = stub.communicate(timeout=330)[0]
                # positions in base_link (the sample bag has no odometry), objects of the front camera
                assert stub.returncode == 0 and re.search(r"received base_link \d+ camera_front_optical_frame\n",
                                                          output), \
                    f"{name}: {output}\nlaunch:\n{launched.output[-4000:]}"
        finally:
            for process in (replay, *stubs.values()):
                process.terminate()
                process.wait(timeout=30)
        assert launched.stop() == 0, launched.output[-4000:]
        assert launched.node_processes_left() == []
