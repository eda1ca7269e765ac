"""Fleet evaluation throughput: the single-process offline mode against `perception eval` on Ray with 1 and 2 workers
on this machine and on a two-node Ray cluster started on this machine (ray.cluster_utils.Cluster, 1 CPU per node).

Bags: --bags bags of --frames frames each, cut from the sample bag (real dash-cam JPEGs, 960x540; where the sample has
fewer distinct pieces than bags, pieces repeat as copies). Each bag is one Ray task running the whole camera pipeline
and scoring the bag (its report row); the offline mode does the same in one process.
Frames/s count the frames of all bags over the run without start-up, printed apart: for Ray, ray.init and loading the
models into the workers; for the offline mode, loading its models (once, kept across the bags as a worker keeps them).
Ray's overhead is the Ray run's time minus the offline mode's on the same CPUs. "1 worker" leaves the driver free to
use the second core; "1 worker, everything on 1 CPU" pins driver, raylet and worker to one core: the like-for-like run
against the pinned offline mode. Beside the wall-clock overhead, the CPU overhead: the CPU time of every process of
the run (for Ray: driver, workers, raylet, GCS and Ray's other processes) per frame against the offline process's; on
a shared virtual machine it moves less than wall time with what the host runs beside. The driver's CPU time per frame
(this process, all threads, after start-up) and the workers' (the tasks' CPU time) give how many one-CPU workers one
driver CPU can feed. "offline, 2 processes at once" runs two single-process offline evaluations side by side, each on
one CPU with half of the bags: what this machine gives a second core for this work (shared caches, memory, the host's
scheduling), so the ceiling of any two-worker run here.

    python benchmarks/eval_scaling.py [--frames 55] [--bags 8] [--repeats 3]
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # one machine: Ray's addresses on loopback

from perception.pipeline.models import ModelCache  # noqa: E402
from perception.resources import config_path, data_path  # noqa: E402
from perception.runtime.bag_cameras import find_cameras, graph_for_cameras  # noqa: E402
from perception.bags import McapFileWriter, bag_topics, perception_typestore, read_messages  # noqa: E402
from perception.runtime.fleet import FleetRun, evaluate_fleet, plan_streams  # noqa: E402
from perception.runtime.fleet_workers import StreamJob, load_models, local_ray_environment, stream_rows  # noqa: E402
from perception.runtime import offline  # noqa: E402


def cut_bags(source: Path, folder: Path, bags: int, frames: int) -> list[Path]:
    """`bags` bags of `frames` camera frames each (with the CameraInfo between them): consecutive pieces of `source`,
    repeated as copies where it has fewer."""
    pieces = distinct_pieces(source, folder, bags, frames)
    distinct = len(pieces)
    for number in range(distinct, bags):
        pieces.append(folder / f"piece{number}.mcap")
        shutil.copyfile(pieces[number % distinct], pieces[-1])
    return pieces


def distinct_pieces(source: Path, folder: Path, bags: int, frames: int) -> list[Path]:
    """Up to `bags` consecutive pieces of `frames` camera frames of `source`."""
    topics = bag_topics(source)
    paths, writer, seen = [], None, 0
    for record in read_messages(source):
        if record.msgtype.endswith("CompressedImage"):
            if seen % frames == 0:
                if writer is not None:
                    writer.close()
                if len(paths) == bags:
                    return paths
                paths.append(folder / f"piece{len(paths)}.mcap")
                writer = McapFileWriter(paths[-1], perception_typestore()).__enter__()
                for topic, msgtype in topics.items():
                    writer.add_topic(topic, msgtype)
            seen += 1
        if writer is not None:
            writer.write(record.topic, record.timestamp_ns, record.raw)
    writer.close()
    if seen % frames:  # the last piece is short: left out
        paths.pop().unlink()
    if not paths:
        raise SystemExit(f"{source} has {seen} frames, fewer than {frames}")
    return paths


def cameras_of(bag: Path):
    return graph_for_cameras(config_path("perception.yaml"), "front", find_cameras(bag_topics(bag)))


def offline_seconds(bags: list[Path], out: Path, cpus: set[int]) -> tuple[float, float, float]:
    """(run s, model loading s, run CPU s) of the single-process offline mode over all bags, this process on `cpus`
    (ONNX Runtime: one thread per CPU): each bag run and scored (its rows, one per camera, as a fleet task does), the
    models loaded and prepared for the frame size first and kept across the bags (as a fleet worker does)."""
    import cv2

    everything, opencv_threads = os.sched_getaffinity(0), cv2.getNumThreads()
    os.sched_setaffinity(0, cpus)
    cv2.setNumThreads(len(cpus))  # as a fleet task keeps OpenCV to its CPU
    try:
        models, load_start = ModelCache(), time.perf_counter()
        graph, chosen = cameras_of(bags[0])
        for camera, bag_camera in chosen.items():
            load_models(graph, camera, bags[0], bag_camera.image_topic, models, {})
        loading_s = time.perf_counter() - load_start
        start, start_cpu = time.perf_counter(), time.process_time()
        for bag in bags:
            graph, chosen = cameras_of(bag)
            recording = out / f"offline_{len(cpus)}_{bag.stem}.mcap"
            recording.unlink(missing_ok=True)
            cameras = {camera: (c.image_topic, c.info_topic) for camera, c in chosen.items()}
            offline.run_offline(graph, cameras, bag, recording, models=models, progress=False)
            stream_rows(StreamJob(bag, bag.stem, cameras, graph, recording))  # a row per camera, as a fleet task
        return time.perf_counter() - start, loading_s, time.process_time() - start_cpu
    finally:
        os.sched_setaffinity(0, everything)
        cv2.setNumThreads(opencv_threads)


def side_by_side_offline_seconds(bags: list[Path], out: Path, cpus: list[int]) -> tuple[float, float, float]:
    """(run s, model loading s, run CPU s) of one offline process per CPU at once, each with its share of the bags
    (every len(cpus)-th): the slowest's seconds, the CPU seconds of both."""
    with multiprocessing.get_context("spawn").Pool(len(cpus)) as pool:
        shares = [(bags[index::len(cpus)], out, {cpu}) for index, cpu in enumerate(cpus)]
        results = pool.starmap(offline_seconds, shares)
    run_s, loading_s, _ = max(results)
    return run_s, loading_s, sum(cpu_s for _, _, cpu_s in results)


def ray_processes_cpu_s() -> float:
    """CPU seconds so far of the processes Ray started from this driver (raylet, GCS, log monitor, its agents, ...),
    its workers left out (their tasks measure their own; a worker's title is `ray::` and its task or actor)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            title = " ".join(child.cmdline())
            if title.startswith("ray::") and not title.split()[0].endswith("Agent"):
                continue
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:  # ended meanwhile
            continue
    return total


def ray_run(bags: list[Path], out: Path, workers: int, address: str | None) -> FleetRun:
    run = evaluate_fleet(plan_streams(bags, cameras_of), out, workers=workers, address=address)
    assert all(o.error is None for o in run.outcomes), [o.error for o in run.outcomes]
    return run


def one_round(bags: list[Path], folder: Path, cpus: list[int]) -> dict[str, Row]:
    """Every configuration once."""
    import ray
    from ray.cluster_utils import Cluster

    rows = {}
    for cpu_count, cpu_set in ((1, {cpus[0]}), (len(cpus), set(cpus))):
        seconds, loading, cpu_s = offline_seconds(bags, folder, cpu_set)
        rows[f"offline, one process, {cpu_count} CPU(s)"] = Row(cpu_count, loading, seconds, cpu_s)
    seconds, loading, cpu_s = side_by_side_offline_seconds(bags, folder, cpus)
    rows[SIDE_BY_SIDE] = Row(len(cpus), loading, seconds, cpu_s)
    for workers, pinned in ((1, False), (1, True), (2, False)):
        if pinned:  # Ray's processes inherit the driver's affinity: driver, raylet and worker share one CPU
            os.sched_setaffinity(0, {cpus[0]})
        start = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        ray_cpu_before = ray_processes_cpu_s()
        run = ray_run(bags, folder / f"local{workers}{'pinned' if pinned else ''}", workers, None)
        ray_cpu_s = ray_processes_cpu_s() - ray_cpu_before  # over the run and the workers' start: an upper bound
        name = ONE_CPU if pinned else f"Ray on this machine, {workers} worker(s)"
        rows[name] = Row.of(run, time.perf_counter() - start, ray_cpu_s)
        ray.shutdown()
        os.sched_setaffinity(0, set(cpus))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        start = time.perf_counter()
        ray.init(address=cluster.address, log_to_driver=False)
        run = ray_run(bags, folder / "cluster", 2, cluster.address)
        rows["Ray cluster, 2 nodes x 1 CPU (this machine)"] = Row.of(run, time.perf_counter() - start)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return rows


@dataclass
class Row:
    cpus: int
    startup_s: float
    run_s: float
    cpu_s: float = math.nan  # every process of the run, start-up left out (for Ray, see Row.of)
    driver_cpu_s: float = math.nan
    worker_cpu_s: float = math.nan
    retried: int = 0

    @classmethod
    def of(cls, run: FleetRun, total_s: float, ray_cpu_s: float = math.nan) -> "Row":
        """A Ray run's row; its start-up: everything but the evaluation (ray.init included). CPU: the driver's and
        the tasks' after start-up, and `ray_cpu_s` of Ray's own processes."""
        run_s = run.wall_s - run.startup_s
        return cls(run.workers, total_s - run_s, run_s, run.driver_cpu_s + run.worker_cpu_s + ray_cpu_s,
                   run.driver_cpu_s, run.worker_cpu_s, run.retried_streams)


ONE_WORKER = "Ray on this machine, 1 worker(s)"
ONE_CPU = "Ray on this machine, 1 worker, everything on 1 CPU"
SIDE_BY_SIDE = "offline, 2 processes at once, 1 CPU each"


def spread(values: list[float], fmt: str) -> str:
    """The median, and the range where there are several values."""
    median = format(statistics.median(values), fmt)
    return median if len(values) == 1 else f"{median} ({format(min(values), fmt)} to {format(max(values), fmt)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=55, help="frames per bag")
    parser.add_argument("--bags", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of every configuration, one after the other; the table gives medians and ranges, "
                             "and each ratio is taken within a round")
    parser.add_argument("--ray-defaults", action="store_true",
                        help="Ray's own timers at their defaults (without: as `perception eval` starts Ray here)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not args.ray_defaults:
        local_ray_environment()  # before ray is imported; the processes it starts read it
    os.chdir(tempfile.gettempdir())  # Ray puts the current folder first on its workers' path: not the source tree
    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        bags = cut_bags(data_path("sample_highway_960x540.mcap"), folder, args.bags, args.frames)
        frames = args.bags * args.frames
        cpus = sorted(os.sched_getaffinity(0))
        offline_seconds(bags[:1], folder, set(cpus))  # imports and the first model load, as a Ray worker's start has
        rounds = []
        for number in range(args.repeats):
            rounds.append(one_round(bags, folder, cpus))
            print(f"round {number + 1} of {args.repeats} done", flush=True)
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "?")
    print(f"{args.bags} bags x {args.frames} frames (sample bag pieces, 960x540 JPEG), {args.repeats} round(s); "
          f"CPU: {cpu_model}, {len(cpus)} cores; Ray's timers: {'defaults' if args.ray_defaults else 'slowed'}; "
          f"load before: {load_before}")
    print(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("median (range) over the rounds; ratios and overheads are taken within each round")
    print("| run | CPUs | start-up s | run s | frames/s | vs Ray 1 worker | vs offline, same CPUs | CPU ms/frame, all "
          "processes | CPU vs offline | driver CPU ms/frame | worker CPU ms/frame | one-CPU workers per driver CPU | "
          "retried bags |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, first in rounds[0].items():
        runs = [r[name] for r in rounds]
        seconds = [run.run_s for run in runs]
        vs_one = spread([r[ONE_WORKER].run_s / r[name].run_s for r in rounds], ".2f") + "x"
        cpu = cpu_overhead = overhead = driver = worker = feeds = "-"
        measured_cpu = not math.isnan(first.cpu_s)  # not for the cluster (its processes are not this one's)
        if measured_cpu:
            cpu = spread([1000 * run.cpu_s / frames for run in runs], ".1f")
        if not name.startswith("offline"):
            same_cpus = [r[f"offline, one process, {1 if first.cpus == 1 else len(cpus)} CPU(s)"] for r in rounds]
            overhead = spread([100 * (s - o.run_s) / o.run_s for s, o in zip(seconds, same_cpus)], "+.1f") + " %"
            if measured_cpu:
                cpu_overhead = spread([100 * (run.cpu_s - o.cpu_s) / o.cpu_s for run, o in zip(runs, same_cpus)],
                                      "+.1f") + " %"
            driver = spread([1000 * run.driver_cpu_s / frames for run in runs], ".2f")
            worker = spread([1000 * run.worker_cpu_s / frames for run in runs], ".1f")
            feeds = spread([run.worker_cpu_s / run.driver_cpu_s for run in runs], ".0f")
        print(f"| {name} | {first.cpus} | {spread([run.startup_s for run in runs], '.1f')} | "
              f"{spread(seconds, '.1f')} | {spread([frames / s for s in seconds], '.1f')} | {vs_one} | {overhead} | "
              f"{cpu} | {cpu_overhead} | {driver} | {worker} | {feeds} | {sum(run.retried for run in runs)} |")
    alone = "offline, one process, 1 CPU(s)"
    ceiling = spread([r[alone].run_s / r[SIDE_BY_SIDE].run_s for r in rounds], ".2f")
    two_workers = spread([r[ONE_WORKER].run_s / r["Ray on this machine, 2 worker(s)"].run_s for r in rounds], ".2f")
    print(f"this machine's second core: two offline processes side by side {ceiling}x one alone (the ceiling of two "
          f"workers); Ray 2 workers {two_workers}x Ray 1 worker")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
