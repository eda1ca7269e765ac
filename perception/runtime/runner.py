"""Start the node graph as separate processes, wait until all nodes are up, supervise, shut down.

This is `perception up`: the same graph that launch/perception.launch.py builds for `ros2 launch`,
for machines without the launch tools.
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from perception.graph import Graph, NodeSpec

log = logging.getLogger("perception.runner")

SHUTDOWN_GRACE_S = 5.0

# Fast DDS shared-memory data segments: /dev/shm/<fastrtps|fastdds>_<16 hex digits> (the name fastrtps in Fast DDS 2.x,
# fastdds in 3.x), each with a "<segment>_el" file that its process holds an exclusive flock on while it lives.
SHM_DIR = Path("/dev/shm")
SHM_SEGMENT_LOCK = re.compile(r"^(fastrtps|fastdds)_[0-9a-f]{16}_el$")
# A lock file younger than this is left alone: its process may have created it and not yet locked it.
SHM_MIN_AGE_S = 10.0


def remove_stale_shm_segments(shm_dir: Path = SHM_DIR, min_age_s: float = SHM_MIN_AGE_S) -> list[str]:
    """Delete the Fast DDS shared-memory segments whose process is gone; returns the names of the segments removed.

    A process killed with SIGKILL (or crashing) leaves its segments in /dev/shm, which is memory: about 34 MiB per
    killed node of the local graph (a 32 MiB segment and a 0.5 MiB one), until the next reboot. A segment
    is stale when nobody holds the flock on its "_el" file (the kernel releases the locks of a dead process): the test
    of `fastdds shm clean`. Segments of live processes stay, and so do the port files (fastrtps_port*), which
    `fastdds shm clean` also removes: live writers may still have a port mapped, and Fast DDS itself replaces a port
    whose listener died when the port is opened again.
    """
    removed = []
    try:
        names = os.listdir(shm_dir)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not SHM_SEGMENT_LOCK.match(name):
            continue
        lock_path = shm_dir / name
        try:
            descriptor = os.open(lock_path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if now - os.fstat(descriptor).st_mtime < min_age_s:
                continue
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held: its process lives
            # Holding the lock: no process can take the segment over while it is removed.
            segment = name[:-len("_el")]
            for path in (shm_dir / segment, lock_path):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as error:  # e.g. another user's file
                    log.debug("could not remove %s: %s", path, error)
                    break
            else:
                removed.append(segment)
        finally:
            os.close(descriptor)
    if removed:
        log.info("removed %d stale Fast DDS shared-memory segment(s) of dead processes from %s", len(removed), shm_dir)
    return removed


def node_command(spec: NodeSpec, params_file: Path) -> list[str]:
    """Command line that starts one node of the graph with its name, namespace, parameters and remappings."""
    command = [sys.executable, "-m", f"perception.nodes.{spec.executable}", "--ros-args",
               "-r", f"__node:={spec.name}", "-r", f"__ns:={spec.namespace}", "--params-file", str(params_file)]
    for source, target in spec.remappings:
        command += ["-r", f"{source}:={target}"]
    return command


def graph_environment(graph: Graph, base: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment with the graph's defaults added where a variable is not set."""
    environment = dict(os.environ if base is None else base)
    for key, value in graph.environment.items():
        environment.setdefault(key, value)
    return environment


@dataclass
class NodeProcess:
    spec: NodeSpec
    command: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)


class NodeDied(RuntimeError):
    """A node exited while the graph was running and was not to be respawned."""


class GraphRunner:
    """Owns the processes of one graph. Use as a context manager: processes end on exit."""

    def __init__(self, graph: Graph, *, respawn: bool | None = None, max_restarts: int = 5,
                 log_dir: Path | None = None) -> None:
        self.graph = graph
        self.respawn_override = respawn
        self.max_restarts = max_restarts
        self.environment = graph_environment(graph)
        self._workdir = tempfile.TemporaryDirectory(prefix="perception-graph-")
        self.log_dir = Path(log_dir) if log_dir else None
        self.nodes = [NodeProcess(spec, node_command(spec, self._write_params(spec))) for spec in graph.nodes]

    def _write_params(self, spec: NodeSpec) -> Path:
        path = Path(self._workdir.name) / f"{spec.full_name.strip('/').replace('/', '__')}.yaml"
        path.write_text(yaml.safe_dump({spec.full_name: {"ros__parameters": spec.parameters}}))
        return path

    def _spawn(self, node: NodeProcess) -> None:
        output = None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{node.spec.full_name.strip('/').replace('/', '.')}.log", "ab")
        # A session of its own: a terminal's Ctrl-C reaches the runner, which stops the nodes in order.
        # A neutral working directory: `python -m` puts it first on sys.path, and a source checkout
        # there would hide the installed package (and its generated perception.msg).
        node.process = subprocess.Popen(node.command, env=self.environment, stdout=output, cwd=self._workdir.name,
                                        stderr=subprocess.STDOUT if output else None, start_new_session=True)
        node.started_at = time.monotonic()
        log.info("started %s (pid %d)", node.spec.full_name, node.process.pid)

    def start(self) -> None:
        remove_stale_shm_segments()
        for node in self.nodes:
            self._spawn(node)

    def _should_respawn(self, node: NodeProcess) -> bool:
        wanted = node.spec.respawn if self.respawn_override is None else self.respawn_override
        return wanted and node.restarts < self.max_restarts

    def check(self) -> None:
        """Respawn or raise NodeDied for every node that has exited."""
        for node in self.nodes:
            code = node.process.poll() if node.process else None
            if code is None:
                continue
            if self._should_respawn(node):
                node.restarts += 1
                log.warning("%s exited with code %d; respawn %d/%d", node.spec.full_name, code,
                            node.restarts, self.max_restarts)
                remove_stale_shm_segments()  # e.g. the segment of the node that was just killed
                self._spawn(node)
            else:
                raise NodeDied(f"node {node.spec.full_name} exited with code {code}")

    def wait_until_up(self, timeout_s: float = 60.0) -> float:
        """Block until every node of the graph is visible on the ROS graph; returns the seconds waited."""
        import rclpy
        from rclpy.node import Node

        os.environ.update({k: v for k, v in self.environment.items() if k not in os.environ})
        context = rclpy.Context()
        rclpy.init(context=context)
        probe = Node("perception_runner_probe", namespace="/perception/_runner", context=context)
        start = time.monotonic()
        try:
            expected = {node.spec.full_name for node in self.nodes}
            while True:
                self.check()
                visible = {f"{ns.rstrip('/')}/{name}" for name, ns in probe.get_node_names_and_namespaces()}
                missing = expected - visible
                if not missing:
                    waited = time.monotonic() - start
                    log.info("all %d nodes up after %.1f s", len(expected), waited)
                    return waited
                if time.monotonic() - start > timeout_s:
                    raise TimeoutError(f"nodes not up after {timeout_s:.0f} s: {', '.join(sorted(missing))}")
                time.sleep(0.1)
        finally:
            probe.destroy_node()
            rclpy.shutdown(context=context)

    def supervise(self, poll_s: float = 0.2) -> None:
        """Run until a node dies without respawn (raises NodeDied) or the runner is interrupted."""
        while True:
            self.check()
            time.sleep(poll_s)

    def shutdown(self) -> dict[str, int]:
        """SIGINT every node, then SIGTERM/SIGKILL stragglers; returns each node's exit code."""
        running = [n for n in self.nodes if n.process and n.process.poll() is None]
        for node in running:
            node.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for node in running:
            try:
                node.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop on SIGINT; terminating", node.spec.full_name)
                node.process.terminate()
                try:
                    node.process.wait(timeout=2.0)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
        self._workdir.cleanup()
        return {n.spec.full_name: n.process.returncode for n in self.nodes if n.process}

    def __enter__(self) -> "GraphRunner":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def run_graph(graph: Graph, *, respawn: bool | None, ready_timeout_s: float, log_dir: Path | None) -> int:
    """`perception up`: run until Ctrl-C/SIGTERM (exit 0) or until a node dies (exit 1, naming it)."""
    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Explicitly: a process started in the background of a script inherits SIGINT as ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with GraphRunner(graph, respawn=respawn, log_dir=log_dir) as runner:
        try:
            runner.wait_until_up(ready_timeout_s)
            print(f"perception up: {len(runner.nodes)} nodes running "
                  f"({', '.join(n.spec.full_name for n in runner.nodes)}); Ctrl-C stops them", flush=True)
            runner.supervise()
        except KeyboardInterrupt:
            log.info("stopping the graph")
            return 0
        except (NodeDied, TimeoutError) as error:
            log.error("%s", error)
            print(f"perception up: {error}", file=sys.stderr, flush=True)
            return 1
    return 0
