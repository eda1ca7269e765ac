"""The Ray side of a fleet evaluation (perception.runtime.fleet): one task evaluates one bag, whole, all its cameras.

A task runs every camera's pipeline over the bag and the fusion over the cameras
(perception.runtime.offline.run_offline: decode, detect, track, predict, signs, fuse), writes the recording, and
scores each camera (perception.evaluation.fleet_report.bag_row on that camera's topics, with ground truth where
given); it returns those rows and its CPU time. Models are kept per worker process (Ray reuses a worker process
for the tasks after), so a worker loads them once for all the bags it evaluates.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perception.pipeline.models import ModelCache

if TYPE_CHECKING:
    from perception.evaluation.fleet_report import BagRow
    from perception.graph import Graph

MODELS = ModelCache()  # this worker process's models, kept across its tasks
ONE_CPU_DETECTOR = {"threads": 1}  # a task holds one CPU: the detector's inference runs on one thread
# Ray's periodic work on a head started here, at a tenth of its default rate or less (read from the environment by the
# processes ray.init starts; docs/results.md, "Ray's own CPU"): resource reports, GC and disk checks, object-pull
# retries, idle-worker trimming and the OOM killer's memory check every second instead of every 0.1-0.25 s; the
# autoscaler's demand data every 5 s; the log monitor's folder scan every 5 s instead of 10 times a second (logs
# are not sent to the driver) and the autoscaler loop every 30 s (nothing to scale on one machine). Node and worker
# failure detection (health checks, worker disconnects) keep their defaults.
LOCAL_RAY_ENVIRONMENT = {
    "RAY_raylet_report_resources_period_milliseconds": "1000",
    "RAY_raylet_check_gc_period_milliseconds": "1000",
    "RAY_object_manager_timer_freq_ms": "1000",
    "RAY_local_fs_monitor_interval_ms": "1000",
    "RAY_kill_idle_workers_interval_ms": "1000",
    "RAY_memory_monitor_refresh_ms": "1000",
    "RAY_gcs_pull_resource_loads_period_milliseconds": "5000",
    "RAY_LOG_MONITOR_MANY_FILES_THRESHOLD": "0",
    "LOG_NAME_UPDATE_INTERVAL_S": "5",
    "AUTOSCALER_UPDATE_INTERVAL_S": "30",
}


@dataclass(frozen=True)
class StreamJob:
    """What a task needs to evaluate one bag (paths as every node of the cluster sees them)."""

    bag: Path
    name: str
    cameras: dict[str, tuple[str, str | None]]  # graph camera -> its image and CameraInfo topics
    graph: "Graph"
    recording: Path
    ground_truth: Path | None = None
    gt_format: str | None = None


@dataclass(frozen=True)
class StreamResult:
    rows: list[BagRow]  # one per camera: stream name <bag>, or <bag>/<camera> where the bag has several
    cpu_s: float  # the task's process CPU time
    wall_s: float
    pid: int


def use_one_cpu() -> None:
    """Keep this worker's libraries to the one CPU its task holds: OpenCV's decode and resize would otherwise start a
    thread per CPU of the machine and contend with the other workers (Ray already limits OpenMP)."""
    import cv2

    cv2.setNumThreads(1)


def stream_rows(job: StreamJob) -> list[BagRow]:
    """The report rows of a stream's recording, one per camera from its topics (stream name <bag>, or <bag>/<camera>
    where the bag has several); the ground truth scores the camera it belongs to, the others' rows have none."""
    from perception.bags import bag_topics
    from perception.evaluation.fleet_report import bag_row
    from perception.runtime.bag_cameras import ground_truth_camera
    from perception.runtime.offline import camera_namespace, camera_topics, scored_topics

    recorded = sorted(bag_topics(job.recording))
    truth_camera = ground_truth_camera(job.cameras)
    return [bag_row(job.bag, job.name if len(job.cameras) == 1 else f"{job.name}/{camera}", job.recording,
                    scored_topics(job.graph, camera), job.ground_truth if camera == truth_camera else None,
                    job.gt_format, camera_topics(recorded, job.graph, camera, topics), camera_namespace(camera))
            for camera, topics in job.cameras.items()]


def evaluate_stream(job: StreamJob) -> StreamResult:
    """Evaluate one stream in this process; a stream that fails leaves no recording."""
    from perception.runtime.offline import run_offline

    use_one_cpu()

    cpu, wall = time.process_time(), time.perf_counter()
    job.recording.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_offline(job.graph, job.cameras, job.bag, job.recording, models=MODELS, detector_options=ONE_CPU_DETECTOR,
                    progress=False)
        rows = stream_rows(job)
    except BaseException:
        job.recording.unlink(missing_ok=True)
        raise
    return StreamResult(rows, time.process_time() - cpu, time.perf_counter() - wall, os.getpid())


def load_models(graph: "Graph", camera: str, bag: Path, image_topic: str, models: ModelCache = MODELS,
                detector_options: dict[str, Any] = ONE_CPU_DETECTOR) -> None:
    """Load the models of `camera` of `graph` into `models` and prepare them for the size of the camera's first
    image in `bag` (OpenVINO compiles the detector per input size: here, not in the bag's first frame)."""
    from perception.pipeline.camera import CameraParameters, CameraPipeline
    from perception.runtime.offline import first_image_size

    pipeline = CameraPipeline(CameraParameters.from_graph(graph, camera), models=models,
                              detector_options=detector_options)
    pipeline.load()
    pipeline.prepare(first_image_size(bag, image_topic))


def warm_up(graph: "Graph", camera: str, bag: Path, image_topic: str) -> int:
    """Load and prepare the models of `camera` of `graph` in this worker process for the frames of `image_topic` of
    `bag` (start-up, not a bag's time); its pid. A configuration that cannot be prepared (models that do not load, a
    first image that does not decode) is left to its bags: each fails on its own with the reason, the others run."""
    use_one_cpu()
    try:
        load_models(graph, camera, bag, image_topic)
    except Exception:  # noqa: BLE001 -- reported by the bags themselves (evaluate_stream), not here
        pass
    return os.getpid()


def local_ray_environment() -> None:
    """Set (where not already set) the environment of a Ray head started on this machine: every address on loopback
    (read when ray is first imported) and Ray's periodic work slowed down (LOCAL_RAY_ENVIRONMENT)."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    for name, value in LOCAL_RAY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def connect(address: str | None, workers: int | None) -> int:
    """Connect to the Ray cluster at `address`, or start Ray on this machine with `workers` CPUs (default: all),
    listening on loopback only; returns how many bags to evaluate at once (default: the cluster's CPUs)."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    if not address:  # Ray on this machine alone
        local_ray_environment()
    import ray

    if not ray.is_initialized():
        # Ray puts the driver's current folder first on its workers' sys.path: in a source checkout, the source
        # tree (without the built perception.msg) would hide the installed package. Start from a neutral folder.
        folder = os.getcwd()
        os.chdir(tempfile.gettempdir())
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                         _node_ip_address="127.0.0.1")
        finally:
            os.chdir(folder)
    return workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def remote_functions() -> dict[str, Any]:
    """evaluate_stream and warm_up as Ray tasks of one CPU. No automatic retry: the driver resubmits a stream
    whose worker or node died, and counts it."""
    import ray

    options = {"num_cpus": 1, "max_retries": 0}
    return {"evaluate_stream": ray.remote(**options)(evaluate_stream), "warm_up": ray.remote(**options)(warm_up)}
