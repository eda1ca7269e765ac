"""Ray actors that decode and detect camera frames for a fleet evaluation (perception.runtime.fleet).

Each actor loads the detector once (per detector parameter set) and detects batches of frames; frames are keyed by
(stream, index) so that the driver assembles results by key, whatever order they come back in. An actor whose
process dies is restarted by Ray and its unfinished batches are run again (max_restarts / max_task_retries); a batch
whose actor is gone for good is sent to another actor by the driver.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from perception.pipeline.detection import DetectedFrame

MAX_RESTARTS = 4  # per actor; a killed worker comes back with its model loaded again
BATCH_FRAMES = 4  # frames per task: few enough to spread a short bag, enough to hide a task's overhead
IN_FLIGHT_PER_WORKER = 2  # batches queued on each actor: one running, one ready; bounds the frames held in calls


Frame = tuple[int, str, int, bytes]  # (index, msgtype, log time ns, raw CDR message)


@dataclass(frozen=True)
class FrameBatch:
    """Frames of one stream (a camera of a bag) to detect: raw CDR messages with their log times."""

    stream: int
    detector_key: str  # json of the detector parameters
    frames: tuple[Frame, ...]


def detector_key(parameters: dict[str, Any]) -> str:
    return json.dumps(parameters, sort_keys=True, default=str)


class FrameDetector:
    """The body of a detection actor: a detection stage per parameter set, loaded on first use and kept."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.stages: dict[str, Any] = {}

    def pid(self) -> int:
        return os.getpid()

    def load(self, detector_key: str) -> Any:
        """The detection stage of this parameter set, loaded now if it is not yet."""
        from perception.pipeline.detection import DetectionStage
        from perception.pipeline.health import Health

        stage = self.stages.get(detector_key)
        if stage is None:
            stage = DetectionStage(json.loads(detector_key), Health(), threads=self.threads)
            if not stage.load():
                raise RuntimeError(f"detection worker: {stage.health.message}")
            self.stages[detector_key] = stage
        return stage

    def preload(self, detector_keys: list[str]) -> int:
        """Load these detectors before the first frames arrive (start-up); returns the process id."""
        for key in detector_keys:
            self.load(key)
        return os.getpid()

    def detect(self, detector_key: str, *frames: Frame) -> list[tuple[int, DetectedFrame]]:
        """Detections of frames of one stream. The frames come as separate arguments: Ray sends each argument of up
        to 100 KB (a compressed frame) inline with the call, a whole batch as one argument through its object store."""
        from rclpy.serialization import deserialize_message

        from perception.ros.message_types import message_class

        stage = self.load(detector_key)  # a restarted actor loads its model again here
        return [(index, stage.detect_timed(deserialize_message(raw, message_class(msgtype)), timestamp_ns))
                for index, msgtype, timestamp_ns, raw in frames]


class RayDetectorPool:
    """`workers` detection actors of one CPU each, on the Ray instance this process is connected to, each with the
    detectors of `detector_keys` loaded when the pool is made (start-up, not a frame's time)."""

    def __init__(self, workers: int, detector_keys: list[str] | None = None) -> None:
        import ray

        actor = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(FrameDetector)
        self.actors = [actor.remote(1) for _ in range(workers)]
        self.in_flight = {index: 0 for index in range(workers)}
        self.first_pids = ray.get([actor.preload.remote(detector_keys or []) for actor in self.actors])
        self.resubmitted_batches = 0

    def pids(self) -> list[int]:
        """The process id of each actor (a restarted actor has a new one)."""
        import ray

        return ray.get([actor.pid.remote() for actor in self.actors])

    def restarts(self) -> int:
        """Actors whose process is not the one they started with."""
        return sum(first != now for first, now in zip(self.first_pids, self.pids()))

    def detect(self, batches: Iterator[FrameBatch]) -> Iterator[tuple[FrameBatch, list[tuple[int, DetectedFrame]]]]:
        """Every batch's results, as they complete; at most IN_FLIGHT_PER_WORKER batches wait on each actor."""
        import ray
        from ray.exceptions import RayActorError

        pending: dict[Any, tuple[FrameBatch, int]] = {}
        batches = iter(batches)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < IN_FLIGHT_PER_WORKER * len(self.in_flight):
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                ref, actor = self._submit(batch)
                pending[ref] = batch, actor
            if not pending:
                break
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            batch, actor = pending.pop(ref)
            self.in_flight[actor] -= 1
            try:
                results = ray.get(ref)
            except RayActorError:  # restarts used up: this actor is gone, another one takes the batch
                del self.in_flight[actor]
                if not self.in_flight:
                    raise
                self.resubmitted_batches += 1
                ref, actor = self._submit(batch)
                pending[ref] = batch, actor
                continue
            yield batch, results

    def _submit(self, batch: FrameBatch) -> tuple[Any, int]:
        """Send the batch to the live actor with the fewest batches waiting; its result's ref and that actor."""
        actor = min(self.in_flight, key=self.in_flight.get)
        self.in_flight[actor] += 1
        return self.actors[actor].detect.remote(batch.detector_key, *batch.frames), actor


def connect(address: str | None, workers: int | None) -> int:
    """Connect to the Ray cluster at `address`, or start Ray on this machine with `workers` CPUs (default: all);
    returns the number of detection workers to start (default: the cluster's CPUs)."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    if not address:  # Ray on this machine alone: every address on loopback (read when ray is first imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
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
