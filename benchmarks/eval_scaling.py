"""Fleet evaluation throughput: the single-process offline mode against `perception eval` on Ray with 1 and 2 workers
on this machine and on a two-node Ray cluster started on this machine (ray.cluster_utils.Cluster, 1 CPU per node).

Bags: the sample bag cut into --bags bags of --frames frames (real dash-cam JPEGs, 960x540). Frames/s count the
frames of all bags over the run without start-up, printed apart: for Ray, ray.init, starting the actors and loading
their detectors; for the offline mode, loading its detector (once per bag). The predictor (torch and its ONNX export,
once per process) is loaded before the first run. Ray's overhead per frame is the Ray run's
time per frame minus the offline mode's on the same number of CPUs. "1 worker" leaves the driver (reading the bags,
tracking) free to use the second core; "1 worker, everything on 1 CPU" pins driver, raylet and worker to one core:
the 1-CPU point of a scaling by CPUs, and the like-for-like run for the overhead against the pinned offline mode.

    python benchmarks/eval_scaling.py [--frames 55] [--bags 4] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # one machine: Ray's addresses on loopback

from perception.pipeline.camera import CameraPipeline  # noqa: E402
from perception.prediction.runtime import TrajectoryPredictor  # noqa: E402
from perception.resources import config_path, data_path  # noqa: E402
from perception.runtime.bag_cameras import find_cameras, graph_for_cameras  # noqa: E402
from perception.bags import McapFileWriter, bag_topics, perception_typestore, read_messages  # noqa: E402
from perception.runtime.fleet import evaluate_fleet, plan_streams  # noqa: E402
from perception.runtime import offline  # noqa: E402


def cut_bags(source: Path, folder: Path, bags: int, frames: int) -> list[Path]:
    """`bags` consecutive pieces of `frames` camera frames each (with the CameraInfo between them)."""
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
    if len(paths) < bags:
        raise SystemExit(f"{source} has {seen} frames, fewer than {bags} x {frames}")
    return paths


def cameras_of(bag: Path):
    return graph_for_cameras(config_path("perception.yaml"), "front", find_cameras(bag_topics(bag)))


def offline_seconds(bags: list[Path], out: Path, cpus: set[int]) -> tuple[float, float]:
    """(run s, model loading s) of the single-process offline mode over all bags, this process on `cpus`
    (ONNX Runtime: one thread per CPU); the run's seconds exclude loading the models."""
    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    load_models, loading = CameraPipeline.load, []

    def timed_load(pipeline: CameraPipeline) -> None:
        load_start = time.perf_counter()
        load_models(pipeline)
        loading.append(time.perf_counter() - load_start)

    CameraPipeline.load = timed_load
    try:
        start = time.perf_counter()
        for bag in bags:
            graph, chosen = cameras_of(bag)
            (camera, bag_camera), = chosen.items()
            recording = out / f"offline_{len(cpus)}_{bag.stem}.mcap"
            recording.unlink(missing_ok=True)
            offline.run_offline(graph, camera, bag, recording, bag_camera.image_topic, bag_camera.info_topic)
        return time.perf_counter() - start - sum(loading), sum(loading)
    finally:
        CameraPipeline.load = load_models
        os.sched_setaffinity(0, everything)


def ray_run(bags: list[Path], out: Path, workers: int, address: str | None) -> tuple[float, int]:
    """(run s without the actors' start-up, worker restarts + batches resubmitted to another worker) of one fleet
    run."""
    run = evaluate_fleet(plan_streams(bags, cameras_of), out, workers=workers, address=address)
    assert all(o.error is None for o in run.outcomes), [o.error for o in run.outcomes]
    assert run.duplicate_frames == 0
    return run.wall_s - run.startup_s, run.worker_restarts + run.resubmitted_batches


def detection_seconds(bags: list[Path], workers: int, ray_data: bool) -> float:
    """Detection alone of every frame of `bags` by `workers` one-CPU actors that load the model once, from their
    creation to the last result: our actor pool, or Ray Data's map_batches over an actor pool (`ray[data]`)."""
    from perception.runtime.fleet import StreamDetections, _batches
    from perception.runtime.fleet_workers import BATCH_FRAMES, FrameDetector, RayDetectorPool

    streams = {n: outcome.stream for n, outcome in enumerate(plan_streams(bags, cameras_of))}
    detections = {n: StreamDetections(stream.bag) for n, stream in streams.items()}  # only told the frame counts
    start = time.perf_counter()
    if not ray_data:
        batches = _batches(streams, detections, {})
        frames = sum(len(results) for _, results in RayDetectorPool(workers).detect(batches))
        assert frames == sum(stream.frames for stream in streams.values())
        return time.perf_counter() - start
    import ray.data

    rows = [{"index": index, "msgtype": msgtype, "ts": ts, "raw": raw, "key": batch.detector_key}
            for batch in _batches(streams, detections, {}) for index, msgtype, ts, raw in batch.frames]

    class Detect:
        def __init__(self) -> None:
            self.detector = FrameDetector(1)

        def __call__(self, batch: dict) -> dict:
            frames = tuple(zip(batch["index"], batch["msgtype"], batch["ts"], batch["raw"]))
            results = self.detector.detect(str(batch["key"][0]), *frames)
            return {"index": [index for index, _ in results], "objects": [len(f.detections) for _, f in results]}

    dataset = ray.data.from_items(rows).map_batches(Detect, batch_size=BATCH_FRAMES, concurrency=workers, num_cpus=1)
    assert len(dataset.take_all()) == len(rows)
    return time.perf_counter() - start


def one_round(bags: list[Path], folder: Path, cpus: list[int]) -> dict[str, tuple[int, float, float, int]]:
    """Every configuration once: run name -> (CPUs, start-up s, run s, worker restarts + resubmitted batches)."""
    import ray
    from ray.cluster_utils import Cluster

    rows = {}
    for cpu_count, cpu_set in ((1, {cpus[0]}), (len(cpus), set(cpus))):
        seconds, loading = offline_seconds(bags, folder, cpu_set)
        rows[f"offline, one process, {cpu_count} CPU(s)"] = (cpu_count, loading, seconds, 0)
    for workers, pinned in ((1, False), (1, True), (2, False)):
        if pinned:  # Ray's processes inherit the driver's affinity: driver, raylet and worker share one CPU
            os.sched_setaffinity(0, {cpus[0]})
        start = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        seconds, restarts = ray_run(bags, folder / f"local{workers}{'pinned' if pinned else ''}", workers, None)
        name = ONE_CPU if pinned else f"Ray on this machine, {workers} worker(s)"
        rows[name] = (workers, time.perf_counter() - start - seconds, seconds, restarts)
        ray.shutdown()
        os.sched_setaffinity(0, set(cpus))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        start = time.perf_counter()
        ray.init(address=cluster.address, log_to_driver=False)
        seconds, restarts = ray_run(bags, folder / "cluster", 2, cluster.address)
        rows["Ray cluster, 2 nodes x 1 CPU (this machine)"] = (2, time.perf_counter() - start - seconds, seconds,
                                                               restarts)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return rows


ONE_WORKER = "Ray on this machine, 1 worker(s)"
ONE_CPU = "Ray on this machine, 1 worker, everything on 1 CPU"


def spread(values: list[float], fmt: str) -> str:
    """The median, and the range where there are several values."""
    median = format(statistics.median(values), fmt)
    return median if len(values) == 1 else f"{median} ({format(min(values), fmt)} to {format(max(values), fmt)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=55, help="frames per bag")
    parser.add_argument("--bags", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of every configuration, one after the other; the table gives medians and ranges, "
                             "and each ratio is taken within a round")
    parser.add_argument("--ray-data", action="store_true",
                        help="only compare detection by our actor pool with Ray Data's map_batches (needs ray[data])")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    import ray

    os.chdir(tempfile.gettempdir())  # Ray puts the current folder first on its workers' path: not the source tree

    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        bags = cut_bags(data_path("sample_highway_960x540.mcap"), folder, args.bags, args.frames)
        frames = args.bags * args.frames
        start = time.perf_counter()
        TrajectoryPredictor()  # torch's import and the bundled model's ONNX export, once per process: not in a run
        print(f"predictor loaded before the runs (torch import, ONNX export): {time.perf_counter() - start:.1f} s")
        cpus = sorted(os.sched_getaffinity(0))
        if args.ray_data:
            print("| detection only, 2 workers | seconds | frames/s |\n|---|---|---|")
            for name, ray_data in (("our actor pool", False), ("Ray Data map_batches, actor pool", True)):
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
                seconds = detection_seconds(bags, 2, ray_data)
                ray.shutdown()
                print(f"| {name} | {seconds:.1f} | {frames / seconds:.1f} |")
            print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
            return 0
        offline_seconds(bags[:1], folder, set(cpus))  # imports and first model load, as a Ray worker's start has
        rounds = []
        for number in range(args.repeats):
            rounds.append(one_round(bags, folder, cpus))
            print(f"round {number + 1} of {args.repeats} done", flush=True)
    print(f"{args.bags} bags x {args.frames} frames (sample bag pieces, 960x540 JPEG), {args.repeats} round(s); "
          f"load before: {load_before}")
    print(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("median (range) over the rounds; ratios and overheads are taken within each round")
    print("| run | CPUs | start-up s (Ray: ray.init, actors, models; offline: models) | run s | frames/s | "
          "vs Ray 1 worker | vs Ray 1 worker on 1 CPU | Ray overhead ms/frame vs offline, same CPUs | "
          "overhead % | restarts + resubmitted batches |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (cpu_count, *_rest) in rounds[0].items():
        runs = [r[name] for r in rounds]
        seconds = [run[2] for run in runs]
        vs_one = [r[ONE_WORKER][2] / r[name][2] for r in rounds]
        vs_cpu = [r[ONE_CPU][2] / r[name][2] for r in rounds]
        overhead = pct = "-"
        if not name.startswith("offline"):
            offline_cpus = 1 if cpu_count == 1 else len(cpus)
            offline = [r[f"offline, one process, {offline_cpus} CPU(s)"][2] for r in rounds]
            overhead = spread([1000 * (s - o) / frames for s, o in zip(seconds, offline)], "+.1f")
            pct = spread([100 * (s - o) / o for s, o in zip(seconds, offline)], "+.1f")
        print(f"| {name} | {cpu_count} | {spread([run[1] for run in runs], '.1f')} | {spread(seconds, '.1f')} | "
              f"{spread([frames / s for s in seconds], '.1f')} | {spread(vs_one, '.2f')}x | {spread(vs_cpu, '.2f')}x | "
              f"{overhead} | {pct} | {sum(run[3] for run in runs)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
