"""The fusion node's work without ROS: each camera's tracks paired with its predictor's paths, the cameras' tracks
merged into one object list (TrackFusion), each fused object given the paths of its representative camera track
(docs/fusion.md).

A camera's tracks come before the predictor's paths for them (same stamp, the predictor's output follows its
input): tracks wait in a short buffer until the paths of their stamp arrive (and paths that DDS delivers before their
tracks wait for them). Nothing is dropped silently: tracks the predictor skipped (older than the paths that arrived,
or more than max_age_s from the camera's newest tracks) are counted as `tracks_without_predictions`; paths whose
tracks never came, or naming a track the tracks do not have, are rejected with the reason.

Each pair goes to a CycleSync (perception.pipeline.fusion_cycles): the pairs of cameras triggered together (stamps
within sync_window_s) make one cycle, one list, which goes out once every camera expected in it has delivered, or
after sync_timeout_s on `clock`. With one camera every pair is its own cycle at once.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from perception.pipeline.fusion import CameraTracks, FusedObjects, FusionConfig, TrackFusion
from perception.pipeline.fusion_cycles import Cycle, CycleSync
from perception.pipeline.health import OK, WARN, Health
from perception.types import PredictedPath, Track


@dataclass
class PairedOutput:
    """One camera's tracker output and the predictor's paths for it (track id -> paths), at tracks.stamp."""

    tracks: CameraTracks
    frame_id: str  # the camera's image frame
    paths: dict[int, list[PredictedPath]]
    stamp_ns: int  # tracks.stamp in exact integer nanoseconds (the image header's)


@dataclass
class FusedPrediction:
    """One cycle: the fused objects and, per fused id, the paths at the cycle stamp and the camera frame they are
    from. Objects without paths (no ground position in any of their cameras) have no entry."""

    fused: FusedObjects
    paths: dict[int, list[PredictedPath]]
    camera_frames: dict[int, str]
    stamp_ns: int  # fused.stamp in exact integer nanoseconds: the image stamp of the cycle's newest output

    @property
    def tracks(self) -> list[Track]:
        return self.fused.tracks


def fusion_config(parameters: dict) -> FusionConfig:
    """The fusion node's parameters (perception.pipeline.parameters) as a FusionConfig."""
    return FusionConfig(**{f.name: parameters[f.name] for f in fields(FusionConfig)})


class FusionStage:
    """Pairs each camera's tracks and paths, gathers the pairs of a synchronised stamp and fuses them (see the module
    docstring). `cameras`: the cameras expected at the start; `clock`: seconds, for sync_timeout_s (the node's
    monotonic clock; offline, the recording's time)."""

    def __init__(self, config: FusionConfig | None = None, health: Health | None = None, cameras: Sequence[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.health = health or Health()
        self.fusion = TrackFusion(config, self.health)
        self.cameras, self.clock = list(cameras), clock
        self.sync = self._new_sync()
        self.waiting: dict[str, dict[float, tuple[CameraTracks, str, int]]] = {}  # camera -> stamp -> (tracks, frame,
        # stamp_ns)
        self.early: dict[str, dict[float, dict[int, list[PredictedPath]]]] = {}  # camera -> stamp -> paths
        self.paired: dict[str, PairedOutput] = {}
        self.health.set_status(WARN, "waiting for tracks and predictions")

    @property
    def config(self) -> FusionConfig:
        return self.fusion.config

    def add_tracks(self, camera: str, tracks: CameraTracks, frame_id: str, stamp_ns: int | None = None
                   ) -> list[FusedPrediction]:
        """Pair a camera's tracks with the paths of their stamp if those came first (two publishers: DDS may
        deliver the predictor's message first), else keep them until the paths arrive. Tracks and paths waiting more
        than max_age_s away from the camera's newest tracks are given up (counted); so are paths older than these
        tracks (their tracks never came). `stamp_ns`: their image stamp in exact nanoseconds (the cycle's output
        carries it; default: tracks.stamp rounded). Returns the cycles that went out."""
        early = self.early.setdefault(camera, {})
        paths = early.pop(tracks.stamp, None)
        for stamp in [s for s in early if s < tracks.stamp or abs(s - tracks.stamp) > self.config.max_age_s]:
            del early[stamp]
            self.health.reject("predictions_without_tracks", f"{camera}: predictions at {stamp:.3f}, no tracks of "
                                                             "that stamp arrived")
        waiting = self.waiting.setdefault(camera, {})
        if self._give_up(waiting, lambda stamp: abs(stamp - tracks.stamp) > self.config.max_age_s):
            # the planner gets no list while a camera's predictor is silent: say so until a cycle goes out again
            self.health.set_status(WARN, f"{camera}: tracks got no predictions within max_age_s "
                                         f"({self.config.max_age_s:g} s): is its predictor running?")
        stamp_ns = round(tracks.stamp * 1e9) if stamp_ns is None else stamp_ns
        if paths is not None:
            return self._pair(camera, tracks, frame_id, stamp_ns, paths)
        waiting[tracks.stamp] = (tracks, frame_id, stamp_ns)
        return []

    def add_predictions(self, camera: str, stamp: float, paths: dict[int, list[PredictedPath]]
                        ) -> list[FusedPrediction]:
        """Pair the paths with the camera's tracks of `stamp`; the cycles that went out (none while they wait for
        their tracks, do not pair (rejected with the reason) or wait for the other cameras of their stamp)."""
        waiting = self.waiting.setdefault(camera, {})
        self._give_up(waiting, lambda older: older < stamp)  # the predictor skipped them: it works in stamp order
        entry = waiting.pop(stamp, None)
        if entry is None:
            self.early.setdefault(camera, {})[stamp] = paths
            self.health.count("predictions_before_tracks")
            return []
        return self._pair(camera, *entry, paths)

    def poll(self) -> list[FusedPrediction]:
        """The cycles whose wait for a camera timed out (the node calls this on a timer)."""
        return self._fuse(self.sync.release(self.clock()))

    def flush(self) -> list[FusedPrediction]:
        """Every cycle still waiting (the end of a recording)."""
        return self._fuse(self.sync.flush())

    def _pair(self, camera: str, tracks: CameraTracks, frame_id: str, stamp_ns: int,
              paths: dict[int, list[PredictedPath]]) -> list[FusedPrediction]:
        unknown = sorted(set(paths) - {track.track_id for track in tracks.tracks})
        if unknown:
            self.health.reject("predictions_of_unknown_tracks", f"{camera}: predictions at {tracks.stamp:.3f} name "
                                                                f"tracks {unknown[:5]} that its tracks do not have")
            return []
        self.health.count("pairs")
        cycles = self._reset_after_backward_jump(tracks.stamp)
        return cycles + self._fuse(self.sync.add(camera, tracks.stamp, PairedOutput(tracks, frame_id, paths, stamp_ns),
                                                 self.clock()))

    def _fuse(self, cycles: list[Cycle[PairedOutput]]) -> list[FusedPrediction]:
        """Each cycle's pairs become the cameras' newest; a cycle (not a late pair) is fused at its stamp."""
        fused = []
        for cycle in cycles:
            for camera, (_, paired) in cycle.outputs.items():
                self.paired[camera] = paired
                self.fusion.add(camera, paired.tracks)
            if not cycle.late:
                self.health.set_status(OK, "running")
                _, newest = max(cycle.outputs.values(), key=lambda output: output[0])
                fused.append(self._with_paths(self.fusion.fuse(cycle.stamp), newest.stamp_ns))
        return fused

    def _give_up(self, waiting: dict[float, tuple[CameraTracks, str, int]], expired) -> int:
        """Drop (and count) the waiting tracks whose stamp has expired; how many."""
        stamps = [s for s in waiting if expired(s)]
        for stamp in stamps:
            del waiting[stamp]
            self.health.count("tracks_without_predictions")
        return len(stamps)

    def _reset_after_backward_jump(self, stamp: float) -> list[FusedPrediction]:
        """A stamp more than max_age_s before the last cycle (a bag starting over) starts the fusion afresh, after
        the cycles still waiting went out; fused ids go on from the last one issued (never reused)."""
        last = self.sync.last.stamp if self.sync.last is not None else None
        if last is None or stamp >= last - self.config.max_age_s:
            return []
        self.health.log(WARN, f"time jumped back from {last:.3f} to {stamp:.3f}: fusion restarted")
        self.health.count("resets_time_jumped_back")
        cycles = self.flush()
        last_id = self.fusion.last_id
        self.fusion = TrackFusion(self.config, self.health)
        self.fusion.last_id = last_id
        self.sync = self._new_sync()
        self.paired = {}
        return cycles

    def _new_sync(self) -> CycleSync[PairedOutput]:
        return CycleSync(self.cameras, self.config.sync_window_s, self.config.sync_timeout_s, self.health)

    def _with_paths(self, fused: FusedObjects, stamp_ns: int) -> FusedPrediction:
        """Each fused object's paths: its representative camera's (FusedObject.camera), else another source
        camera's that has paths for its track; moved from that camera's stamp to the cycle stamp."""
        paths, frames = {}, {}
        for obj in fused.objects:
            for camera in [obj.camera, *sorted(set(obj.sources) - {obj.camera})]:
                output = self.paired.get(camera)
                track_id = obj.sources[camera]
                if output is None or not output.paths.get(track_id):
                    continue
                (track,) = [t for t in output.tracks.tracks if t.track_id == track_id]
                dt = fused.stamp - output.tracks.stamp
                paths[obj.track.track_id] = [advance_path(path, dt, track) for path in output.paths[track_id]]
                frames[obj.track.track_id] = output.frame_id
                break
        return FusedPrediction(fused, paths, frames, stamp_ns)


def advance_path(path: PredictedPath, dt: float, track: Track) -> PredictedPath:
    """A path predicted at a camera's stamp as seen `dt` seconds later (the cycle's stamp): positions and covariances
    at (k + 1) time_step + dt, linearly interpolated along the path from the track's position and covariance at
    time 0, extrapolated along the last step beyond its end; model_steps counts the positions still within the
    model's horizon. dt = 0 (or no ground state, no positions): the path unchanged."""
    steps = len(path.positions)
    if dt == 0.0 or steps == 0 or path.time_step <= 0 or track.ground is None:
        return path
    covariance = track.ground.position_covariance
    times = path.time_step * np.arange(steps + 1)
    positions = np.vstack([track.ground.position, path.positions])
    covariances = np.vstack([[covariance[0, 0], covariance[1, 1], covariance[0, 1]], path.covariances])
    wanted = path.time_step * np.arange(1, steps + 1) + dt
    model_steps = int(np.sum(wanted <= path.model_steps * path.time_step + 1e-9))
    return replace(path, positions=_resample(times, positions, wanted),
                   covariances=_resample(times, covariances, wanted), model_steps=model_steps)


def _resample(times: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Rows of `values` (one per time) at the `wanted` times: linear between rows, along the last step beyond."""
    index = np.clip(np.searchsorted(times, wanted, side="right") - 1, 0, len(times) - 2)
    fraction = ((wanted - times[index]) / (times[index + 1] - times[index]))[:, None]
    return values[index] + fraction * (values[index + 1] - values[index])
