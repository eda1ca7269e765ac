"""Fleet evaluation: many bags in one run, frames detected in parallel by Ray actors, each bag tracked in order.

A stream is one camera of one bag. Its frames are read by this process (the driver) and sent, as raw messages keyed
by (stream, frame index), to detection actors (perception.runtime.fleet_workers) on this machine or a Ray cluster.
Results are assembled by key (each index once: a second result for a frame is dropped and counted). Each stream goes
through perception.runtime.offline.run_offline with those detections, in a tracking thread that starts with the
stream's first results: the same tracking, prediction and recording code as the single-process offline mode, fed in
the bag's own order. A stream's frames therefore reach the tracker in order by construction: run_offline reads the
bag again in log-time order and takes frame k's detections by its index, waiting until the workers have returned
it. A frame that never comes back (its bag could not be read further, a worker's result went missing) stops that bag
with an error, and so does a frame detected but not tracked; such a bag leaves no recording. When no worker is left
the run stops with that error. Tracking follows detection instead of waiting for the whole bag, so the driver holds
the detections not yet tracked: little while one tracking thread keeps up with the workers (on one driver core,
about seven one-CPU workers of the CPU detector), more beyond that.
A bag that cannot be read (corrupt, truncated, no camera) is reported with its reason; the others finish.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from perception.bags import BAG_SUFFIXES, BagReadError, read_messages, topic_infos
from perception.graph import Graph
from perception.pipeline.detection import DetectedFrame
from perception.pipeline.parameters import node_parameters
from perception.runtime.offline import run_offline


@dataclass
class Stream:
    """One camera of one bag."""

    bag: Path
    name: str  # output folder under the run's folder: the bag's name, /<camera> where the bag has several
    camera: str  # the graph camera it is evaluated as
    image_topic: str
    info_topic: str | None
    graph: Graph
    frames: int  # image messages in the bag's index


@dataclass
class StreamOutcome:
    stream: Stream | None
    bag: Path
    name: str  # the stream's name; the bag's where it has no stream
    recording: Path | None = None
    error: str | None = None  # why the bag (or this camera of it) has no result


@dataclass
class FleetRun:
    """What a fleet run did, beside each stream's recording."""

    outcomes: list[StreamOutcome]
    workers: int
    address: str
    wall_s: float  # the whole run, Ray's start-up included
    startup_s: float  # connecting to (or starting) Ray, starting the actors and loading their detectors
    frames_detected: int
    worker_restarts: int = 0
    resubmitted_batches: int = 0
    duplicate_frames: int = 0  # results for a frame that had one already (dropped; never expected)


def find_bags(paths: list[Path]) -> list[Path]:
    """Bags named, and bags inside named folders (any depth): .mcap, .db3 and ROS 1 .bag files and ROS 2 bag folders
    (metadata.yaml). A named path that is neither a bag nor a folder holding bags is returned as it is (reported)."""
    found: list[Path] = []
    for path in paths:
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
    """A stream per camera of each bag (`cameras_of` gives a bag's graph and graph camera -> BagCamera, raising
    on a bag that cannot be evaluated); a bag that fails gets an outcome with its reason and no stream."""
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
        for camera, bag_camera in chosen.items():
            name = names[bag] if len(chosen) == 1 else f"{names[bag]}/{camera}"
            stream = Stream(bag, name, camera, bag_camera.image_topic, bag_camera.info_topic, graph,
                            counts[bag_camera.image_topic])
            planned.append(StreamOutcome(stream, bag, name))
    return planned


def _detector_key(stream: Stream) -> str:
    """The stream's detector parameters as a detection actor's key."""
    from perception.runtime.fleet_workers import detector_key

    return detector_key(node_parameters(stream.graph, "detector", f"/perception/{stream.camera}"))


class StreamDetections:
    """One stream's detections as the workers return them. The tracking thread takes frame k (once) and waits
    until it is here; the driver adds frames, then says how many the bag has, or why there will be no more."""

    def __init__(self, bag: Path) -> None:
        self.bag = bag
        self._frames: dict[int, DetectedFrame] = {}
        self._seen: set[int] = set()
        self._count: int | None = None  # frames read from the bag, once all are
        self._error: str | None = None
        self._changed = threading.Condition()
        self._closed = False
        self.taken = 0

    def add(self, index: int, frame: DetectedFrame) -> bool:
        """Store a worker's result; False for a frame that had one already (dropped)."""
        with self._changed:
            if index in self._seen:
                return False
            self._seen.add(index)
            if not self._closed:
                self._frames[index] = frame
            self._changed.notify_all()
            return True

    def finish(self, count: int) -> None:
        """The bag has `count` frames, all sent to the workers."""
        with self._changed:
            self._count = count
            self._changed.notify_all()

    def fail(self, reason: str) -> None:
        """No more frames will come; a tracker waiting for one stops with `reason`."""
        with self._changed:
            self._error = reason
            self._changed.notify_all()

    def close(self) -> None:
        """The tracker is done with this stream (finished or failed): drop what it holds and what still comes."""
        with self._changed:
            self._closed = True
            self._frames.clear()

    def wait_until_read(self) -> int:
        """The bag's frame count, once all its frames are sent; ValueError with the reason if that never happens."""
        with self._changed:
            while self._count is None and self._error is None:
                self._changed.wait()
            if self._count is None:
                raise ValueError(self._error)
            return self._count

    @property
    def held(self) -> int:
        """Frames back from the workers and not yet taken by the tracker."""
        with self._changed:
            return len(self._frames)

    def __getitem__(self, index: int) -> DetectedFrame:
        with self._changed:
            while index not in self._frames:
                if index in self._seen:
                    raise ValueError(f"{self.bag}: frame {index} was taken already")
                if self._count is not None and index >= self._count:
                    raise ValueError(f"{self.bag}: frame {index} was never sent for detection "
                                     f"(the bag gave {self._count} frames)")
                if self._error is not None:
                    raise ValueError(self._error)
                self._changed.wait()
            self.taken += 1
            return self._frames.pop(index)


def _batches(streams: dict[int, Stream], detections: dict[int, StreamDetections], failed: dict[int, str]
             ) -> Iterator:
    """FrameBatches of every stream in turn; tells each stream's detections its frame count when read, or records
    why its bag failed."""
    from perception.runtime.fleet_workers import BATCH_FRAMES, FrameBatch

    for number, stream in streams.items():
        key = _detector_key(stream)
        frames: list = []
        index = 0
        try:
            for record in read_messages(stream.bag, [stream.image_topic]):
                frames.append((index, record.msgtype, record.timestamp_ns, record.raw))
                index += 1
                if len(frames) == BATCH_FRAMES:
                    yield FrameBatch(number, key, tuple(frames))
                    frames = []
        except BagReadError as error:
            failed[number] = str(error)
            detections[number].fail(str(error))
            continue
        if frames:
            yield FrameBatch(number, key, tuple(frames))
        detections[number].finish(index)


def evaluate_fleet(planned: list[StreamOutcome], out: Path, workers: int | None = None, address: str | None = None,
                   on_progress: Callable[[int, Any], None] | None = None) -> FleetRun:
    """Detect every stream's frames on Ray (started here, or the cluster at `address`) and track each stream in
    order as its detections come back; recordings go to out/<stream name>/eval.mcap. `on_progress(frames detected,
    pool)` is called after every batch (tests use it to kill a worker in the middle of a run)."""
    from perception.runtime.fleet_workers import RayDetectorPool, connect

    start = time.perf_counter()
    streams = {n: o.stream for n, o in enumerate(planned) if o.stream is not None}
    workers = connect(address, workers)
    pool = RayDetectorPool(workers, sorted({_detector_key(stream) for stream in streams.values()}))
    startup_s = time.perf_counter() - start
    detections = {n: StreamDetections(stream.bag) for n, stream in streams.items()}
    failed: dict[int, str] = {}
    tracking: dict[int, Future] = {}
    duplicates = detected = 0
    with ThreadPoolExecutor(max_workers=1) as tracker_thread, \
            tqdm(total=sum(s.frames for s in streams.values()), desc="fleet eval", unit="frame") as progress:
        def start_tracking(number: int) -> None:  # streams are queued in the order their results begin
            if number not in tracking and number not in failed:
                tracking[number] = tracker_thread.submit(_track, streams[number], out, detections[number])

        try:
            for batch, frames in pool.detect(_batches(streams, detections, failed)):
                if batch.stream in failed:
                    continue
                duplicates += sum(not detections[batch.stream].add(index, frame) for index, frame in frames)
                detected += len(frames)
                progress.update(len(frames))
                if on_progress is not None:
                    on_progress(detected, pool)
                start_tracking(batch.stream)
        except BaseException as error:  # no frame will come any more: trackers waiting for one stop, none starts
            for stream_detections in detections.values():
                stream_detections.fail(f"detection stopped: {type(error).__name__}: {error}")
            tracker_thread.shutdown(wait=True, cancel_futures=True)
            raise
        for stream_detections in detections.values():  # every batch is back: a frame still missing never comes
            stream_detections.fail(f"{stream_detections.bag}: a frame never came back from the workers")
        for number in streams:  # bags without frames
            start_tracking(number)
        for number, stream in streams.items():
            outcome = planned[number]
            if number in failed:
                outcome.error = failed[number]
                continue
            try:
                outcome.recording = tracking[number].result()
            except Exception as error:  # one bag's failure is reported with its reason; the others finish
                outcome.error = str(error) if isinstance(error, (BagReadError, ValueError)) else \
                    f"{stream.bag}: {type(error).__name__}: {error}"
    return FleetRun(planned, workers, address or "local", time.perf_counter() - start, startup_s, detected,
                    pool.restarts(), pool.resubmitted_batches, duplicates)


def _track(stream: Stream, out: Path, detections: StreamDetections) -> Path:
    """Tracking and prediction of one stream, frame by frame as its detections come back; every frame detected
    must be tracked. A stream that fails leaves no recording."""
    folder = out / stream.name
    folder.mkdir(parents=True, exist_ok=True)
    recording = folder / "eval.mcap"
    try:
        run_offline(stream.graph, stream.camera, stream.bag, recording, stream.image_topic, stream.info_topic,
                    detected=detections)
        count = detections.wait_until_read()
        if detections.taken != count:
            raise ValueError(f"{stream.bag}: {detections.taken} of its {count} frames were tracked")
    except BaseException:
        recording.unlink(missing_ok=True)
        raise
    finally:
        detections.close()
    return recording
