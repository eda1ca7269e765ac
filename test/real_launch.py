"""The installed launch file run by the real ROS 2 `launch`, `launch_ros` and `ros2launch` (what `ros2 launch` runs).

The launch tools are the Jazzy sources in ../shared/ros2-launch, installed into build/launch-test/ by
`make launch-test-deps` (never into the venv). A LaunchedGraph is one `ros2 launch perception perception.launch.py`
in a subprocess of its own, with its node processes, output and SIGINT shutdown.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from perception.graph import load_graph
from perception.resources import config_path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_TEST_DIR = REPO_ROOT / "build" / "launch-test"
LAUNCH_SOURCES = REPO_ROOT.parent / "shared" / "ros2-launch" / "src"
PLANNER_TOPIC = "/perception/predicted_objects"

# `ros2 launch perception perception.launch.py ARGS` without ros2cli: the package's share file through the ament
# index, then ros2launch's own entry point. The launch tools go on sys.path, not PYTHONPATH, which stays what the
# environment and the graph file make it. Ctrl-C must reach launch even when the test runs in the background
# (a background job inherits SIGINT as ignored): the child restores the default before it starts.
TOOLS_VARIABLE = "PERCEPTION_TEST_LAUNCH_TOOLS"
LAUNCH_COMMAND = f"""
import os, sys
sys.path[:0] = os.environ["{TOOLS_VARIABLE}"].split(os.pathsep)
from ros2launch.api import get_share_file_path_from_package, launch_a_launch_file
path = get_share_file_path_from_package(package_name="perception", file_name="perception.launch.py")
sys.exit(launch_a_launch_file(launch_file_path=path, launch_file_arguments=sys.argv[1:], noninteractive=True))
"""


def launch_tools_environment() -> dict[str, str]:
    """Where the test-local launch tools are (module and library paths); builds them once if missing."""
    if not (LAUNCH_TEST_DIR / ".ready").is_file():
        if not LAUNCH_SOURCES.is_dir():
            pytest.skip(f"ROS 2 launch sources not found at {LAUNCH_SOURCES}")
        subprocess.run(["make", "--no-print-directory", "launch-test-deps"], cwd=REPO_ROOT, check=True)
    interfaces = LAUNCH_TEST_DIR / "install"
    site_packages = next((interfaces / "lib").glob("python3*/site-packages"))
    return {TOOLS_VARIABLE: f"{LAUNCH_TEST_DIR / 'site'}{os.pathsep}{site_packages}",
            "LD_LIBRARY_PATH": os.pathsep.join(filter(None, [str(interfaces / "lib"),
                                                             os.environ.get("LD_LIBRARY_PATH", "")]))}


def expected_nodes(config: Path | None = None) -> set[str]:
    return {spec.full_name for spec in load_graph(config or config_path("perception.yaml")).nodes}


def _start_time(pid: int) -> str | None:
    """Start time of a live (not zombie) process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def children(pid: int) -> set[int]:
    """Processes whose parent is `pid`."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def process_environment(pid: int) -> dict[str, str]:
    """The environment a process was started with."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


class NodesNotUp(AssertionError):
    """Launch ran, but not every node of the graph joined the ROS graph (launch itself still exits 0)."""


class LaunchedGraph:
    """`ros2 launch perception perception.launch.py` in a subprocess; use as a context manager (SIGINT on exit).

    shell_prefix: shell code run before launch (e.g. `eval "$(perception env)"`); environment: the subprocess's;
    command_prefix: a command that runs launch (e.g. nsenter into a network namespace).
    """

    def __init__(self, arguments: list[str], environment: dict[str, str], shell_prefix: str = "",
                 command_prefix: tuple[str, ...] = ()) -> None:
        python = "python3" if shell_prefix else sys.executable  # after the prefix, whichever python3 PATH has
        script = f'{shell_prefix}\nexec {python} -c "$0" "$@"'
        self.process = subprocess.Popen(
            [*command_prefix, "bash", "-c", script, LAUNCH_COMMAND, *arguments], env=environment, cwd="/tmp",
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.node_processes: dict[int, str] = {}

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_up(self, probe, expected: set[str], timeout_s: float = 120.0) -> None:
        """Until every expected node is on the ROS graph; NodesNotUp as soon as one dies or launch ends."""
        deadline = time.monotonic() + timeout_s
        while True:
            visible = {f"{ns.rstrip('/')}/{name}" for name, ns in probe.node.get_node_names_and_namespaces()}
            missing = expected - visible
            if not missing:
                break
            if "process has died" in self.output or self.process.poll() is not None or time.monotonic() > deadline:
                raise NodesNotUp(f"not on the ROS graph: {sorted(missing)} (launch exit code "
                                 f"{self.process.poll()}); launch output:\n{self.output[-6000:]}")
            time.sleep(0.1)
        self.record_node_processes(len(expected))

    def record_node_processes(self, count: int) -> None:
        """Remember launch's child processes (the nodes, once they are up) to check later that they have ended."""
        self.node_processes = {pid: _start_time(pid) for pid in children(self.process.pid)}
        assert len(self.node_processes) == count, (self.node_processes, self.output[-3000:])

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGINT (Ctrl-C) to launch; returns its exit code once it has ended."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            self._reader.join(timeout=10)

    def node_processes_left(self) -> list[int]:
        """Node processes (seen while the graph was up) that are still running."""
        return [pid for pid, started in self.node_processes.items() if started and _start_time(pid) == started]

    def __enter__(self) -> "LaunchedGraph":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.stop()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.node_processes_left():  # only after a failed test: do not leave nodes running
            os.kill(pid, signal.SIGKILL)
