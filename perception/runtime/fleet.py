"""Fleet evaluation: many bags in one run, each bag evaluated whole, all its cameras and their fusion, by a Ray task.

A stream is one bag with its cameras. The driver (this process) plans the streams, submits one task per stream to
Ray (this machine or a cluster), shows progress, gathers each stream's report rows (one per camera) and writes the
fleet report; a task (perception.runtime.fleet_workers) runs every camera's pipeline over the bag in a worker
(decode, detect, track, predict, signs) and the fusion over the cameras, writes the bag's recording (with the
planner's /perception/predicted_objects) and scores each camera. The results of a stream are those of the
single-process offline mode (the same run_offline), whatever worker ran it. Bags and the output folder must be at
the same path on every node (one machine, or shared storage).
A stream whose worker process or node dies is run again whole, up to MAX_ATTEMPTS times, and its outcome says how
many attempts it took; a bag that cannot be read (corrupt, truncated, no camera) is reported with its reason and the
others finish. Long bags stay whole: a bag is the unit of work and of scoring, so its tracks never meet a seam.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from perception.bags import BAG_SUFFIXES, BagReadError, topic_infos
from perception.graph import Graph

MAX_ATTEMPTS = 3  # runs of a stream whose worker or node died


@dataclass
class Stream:
    """One bag with its cameras."""

    bag: Path
    name: str  # output folder under the run's folder: the bag's name
    cameras: dict[str, tuple[str, str | None]]  # graph camera -> its image and CameraInfo topics in the bag
    graph: Graph
    frames: int  # image messages of its cameras in the bag's index
    ground_truth: Path | None = None  # scored against it where given (a MOT sequence folder or KITTI label file)
    gt_format: str | None = None


@dataclass
class StreamOutcome:
    stream: Stream | None
    bag: Path
    name: str  # the stream's name: the bag's
    recording: Path | None = None
    error: str | None = None  # why the bag has no result
    rows: list[Any] | None = None  # its perception.evaluation.fleet_report.BagRow per camera, from the worker
    attempts: int = 0  # runs of the stream (more than one: its worker or node died)


@dataclass
class FleetRun:
    """What a fleet run did, beside each stream's recording and row."""

    outcomes: list[StreamOutcome]
    workers: int  # streams evaluated at once
    address: str
    wall_s: float  # the whole run, Ray's start-up included
    startup_s: float  # connecting to (or starting) Ray and loading the models into the workers
    frames: int  # frames of the streams evaluated
    driver_cpu_s: float  # this process's CPU time after start-up (all its threads, Ray's included)
    worker_cpu_s: float  # the tasks' CPU time, summed
    retried_streams: int = 0  # streams run again because their worker or node died

    @property
    def workers_per_driver(self) -> float:
        """How many one-CPU workers one driver CPU can feed at this run's cost per frame."""
        return self.worker_cpu_s / max(self.driver_cpu_s, 1e-9)


def find_bags(paths: list[Path]) -> list[Path]:
    """Bags named, and bags inside named folders (any depth): .mcap, .db3 and ROS 1 .bag files and ROS 2 bag folders
    (metadata.yaml), as absolute paths (fleet workers run in folders of their own). A named path that is neither a
    bag nor a folder holding bags is returned as it is (reported)."""
    found: list[Path] = []
    for path in (p.absolute() for p in paths):
        if not path.is_dir() or (path / "metadata.yaml").exists():
            found.append(path)
            continue
        folders = sorted(p.parent for p in path.rglob("metadata.yaml"))
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in BAG_SUFFIXES
                       and not any(folder in p.parents for folder in folders))
        found.extend(sorted([*folders, *files]) or [path])
    return list(dict.fromkeys(found))


def _unique_names(bags: list[Path]) -> dict[Path, str]:
    """A folder name for each bag: its name without suffix, numbered where two bags share it."""
    names: dict[Path, str] = {}
    for bag in bags:
        name = bag.stem if bag.suffix in BAG_SUFFIXES else bag.name
        taken = set(names.values())
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name}_{number}", number + 1
        names[bag] = candidate
    return names


def plan_streams(bags: list[Path], cameras_of: Callable[[Path], tuple[Graph, dict]]) -> list[StreamOutcome]:
    """A stream per bag, with all its cameras (`cameras_of` gives a bag's graph and graph camera -> BagCamera,
    raising on a bag that cannot be evaluated); a bag that fails gets an outcome with its reason and no stream."""
    from perception.runtime.bag_cameras import CameraSelectionError

    planned = []
    names = _unique_names(bags)
    for bag in bags:
        try:
            graph, chosen = cameras_of(bag)
            counts = {info.topic: info.count for info in topic_infos(bag)}
        except (BagReadError, CameraSelectionError, OSError, ValueError) as error:
            planned.append(StreamOutcome(None, bag, names[bag], error=str(error)))
            continue
        cameras = {camera: (bag_camera.image_topic, bag_camera.info_topic) for camera, bag_camera in chosen.items()}
        stream = Stream(bag, names[bag], cameras, graph, sum(counts[image] for image, _ in cameras.values()))
        planned.append(StreamOutcome(stream, bag, names[bag]))
    return planned


def evaluate_fleet(planned: list[StreamOutcome], out: Path, workers: int | None = None, address: str | None = None
                   ) -> FleetRun:
    """Evaluate every planned stream on Ray (started here, or the cluster at `address`), at most `workers` at once;
    recordings go to out/<stream name>/eval.mcap."""
    from perception.runtime.fleet_workers import StreamJob, connect, remote_functions

    start = time.perf_counter()
    workers = connect(address, workers)  # before this process imports ray: it decides where Ray listens
    import ray

    tasks = remote_functions()
    streams = [outcome for outcome in planned if outcome.stream is not None]
    _warm_up(tasks["warm_up"], streams, workers)
    startup_s = time.perf_counter() - start
    driver_cpu = time.process_time()
    jobs = {id(outcome): StreamJob(outcome.bag, outcome.name, outcome.stream.cameras, outcome.stream.graph,
                                   out / outcome.name / "eval.mcap", outcome.stream.ground_truth,
                                   outcome.stream.gt_format) for outcome in streams}
    waiting, running = list(streams), {}
    worker_cpu_s, retried = 0.0, set()
    with tqdm(total=sum(o.stream.frames for o in streams), desc="fleet eval", unit="frame") as progress:
        while waiting or running:
            while waiting and len(running) < workers:
                outcome = waiting.pop(0)
                outcome.attempts += 1
                running[tasks["evaluate_stream"].remote(jobs[id(outcome)])] = outcome
            (done,), _ = ray.wait(list(running), num_returns=1)
            outcome = running.pop(done)
            try:
                result = _result(done)
            except _WorkerLost as lost:  # its worker process or node died: run it again, whole
                if outcome.attempts < MAX_ATTEMPTS:
                    retried.add(id(outcome))
                    waiting.insert(0, outcome)
                    continue
                outcome.error = f"{outcome.bag}: its worker died {outcome.attempts} times ({lost})"
            except Exception as error:  # this bag's own failure, with its reason; the others go on
                outcome.error = str(error) if isinstance(error, (BagReadError, ValueError)) else \
                    f"{outcome.bag}: {type(error).__name__}: {error}"
            else:
                outcome.rows, outcome.recording = result.rows, jobs[id(outcome)].recording
                for row in outcome.rows:
                    row.attempts = outcome.attempts
                worker_cpu_s += result.cpu_s
            progress.update(outcome.stream.frames)
    return FleetRun(planned, workers, address or "local", time.perf_counter() - start, startup_s,
                    sum(o.stream.frames for o in streams if o.error is None), time.process_time() - driver_cpu,
                    worker_cpu_s, len(retried))


class _WorkerLost(Exception):
    """The process or node that ran a task is gone."""


def _result(ref: Any) -> Any:
    """A task's result; _WorkerLost when its worker or node died, the task's own exception when it raised."""
    import ray
    from ray.exceptions import NodeDiedError, RayTaskError, WorkerCrashedError

    try:
        return ray.get(ref)
    except RayTaskError as error:
        raise (error.cause if isinstance(error.cause, BaseException) else error) from None
    except (WorkerCrashedError, NodeDiedError) as error:
        raise _WorkerLost(type(error).__name__) from None


def _warm_up(warm_up: Any, streams: list[StreamOutcome], workers: int) -> None:
    """Load each camera configuration's models into the workers before the first bag and prepare them for the frame
    size of a bag that uses them (start-up, not run time)."""
    import ray

    from perception.pipeline.camera import CameraParameters

    configurations = {}
    for outcome in streams:
        for camera, (image_topic, _) in outcome.stream.cameras.items():
            parameters = asdict(CameraParameters.from_graph(outcome.stream.graph, camera))
            key = json.dumps(parameters, sort_keys=True, default=str)
            configurations.setdefault(key, (outcome.stream.graph, camera, outcome.bag, image_topic))
    ray.get([warm_up.remote(*configuration) for configuration in configurations.values() for _ in range(workers)])
