"""When the fusion's cycles go out: one object list per synchronised stamp, with bounded latency (docs/fusion.md).

Cameras triggered together stamp their images alike, but their outputs reach the fusion one at a time, each through
its own detector, tracker and predictor. A cycle gathers outputs whose stamps lie within `window_s` of each other (at
most one per camera) and goes out, as one list at the newest of its stamps, as soon as

- every camera expected in it has delivered,
- or each expected camera still missing has delivered a newer output (it skipped this stamp: a camera's outputs come
  in stamp order),
- or `timeout_s` has passed on the clock since the cycle's first output came (a camera that stopped or lags).

Expected in a cycle: its cameras and their partners. Two cameras are partners while their outputs share cycles: at
the start every two cameras named are; a cycle that goes out without an expected camera ends that camera's
partnerships with the cycle's cameras (counted: `cycles_without_camera`, `cycles_without_camera.<camera>`), and an
output that shares a cycle, or comes late within the window of the last cycle, renews them. So cameras that are not
triggered together stop waiting for each other after one cycle, and a camera that stopped costs one timeout.

Cycles go out in stamp order, each more than window_s after the one before. An output at or before the last cycle's
stamp + window_s is late: it makes no cycle of its own, the next cycle predicts it forward
(`outputs_after_their_cycle`). So are the outputs of a cycle still waiting when an older cycle goes out within its
window (cameras whose trigger spread exceeds the window). Stamps are compared with a tolerance of TOLERANCE_S (float
seconds: 100.01 - 100.0 > 0.01).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from perception.pipeline.health import Health

Output = TypeVar("Output")
TOLERANCE_S = 1e-6  # stamps this close count as equal in window comparisons


@dataclass
class Cycle(Generic[Output]):
    """Outputs of one synchronised stamp (camera -> (stamp, output)), or one late output (`late`: keep it for the
    next cycle, publish nothing)."""

    outputs: dict[str, tuple[float, Output]]
    opened: float  # clock time its first output came
    late: bool = False

    @property
    def stamp(self) -> float:
        return max(stamp for stamp, _ in self.outputs.values())

    @property
    def first(self) -> float:
        return min(stamp for stamp, _ in self.outputs.values())


class CycleSync(Generic[Output]):
    """Gathers the cameras' outputs into cycles (see the module docstring)."""

    def __init__(self, cameras: list[str], window_s: float, timeout_s: float, health: Health) -> None:
        self.window_s, self.timeout_s, self.health = window_s, timeout_s, health
        self.partners: dict[str, set[str]] = {camera: set(cameras) - {camera} for camera in cameras}
        self.pending: list[Cycle[Output]] = []  # by first stamp
        self.newest: dict[str, float] = {}  # each camera's newest output stamp
        self.last: Cycle[Output] | None = None  # the last cycle that went out

    def add(self, camera: str, stamp: float, output: Output, now: float) -> list[Cycle[Output]]:
        """Take a camera's output at `now`; the cycles that go out, in order (a late output comes back alone, before the
        cycles that timed out by `now`)."""
        self.newest[camera] = max(stamp, self.newest.get(camera, -math.inf))
        if self._late(stamp):
            return [self._late_cycle(Cycle({camera: (stamp, output)}, now))] + self.release(now)
        cycle = next((c for c in self.pending if camera not in c.outputs
                      and max(c.stamp, stamp) - min(c.first, stamp) <= self.window_s + TOLERANCE_S), None)
        if cycle is None:
            cycle = Cycle({}, now)
            self.pending.append(cycle)
        cycle.outputs[camera] = (stamp, output)
        self.pending.sort(key=lambda c: c.first)
        return self.release(now)

    def release(self, now: float) -> list[Cycle[Output]]:
        """The cycles that may go out at `now`, oldest first (a cycle waits for the older ones)."""
        out = []
        while self.pending:
            head = self.pending[0]
            missing = sorted({p for c in head.outputs for p in self.partners.get(c, ())} - set(head.outputs))
            awaited = [c for c in missing if self.newest.get(c, -math.inf) <= head.first + self.window_s + TOLERANCE_S]
            if awaited and now < head.opened + self.timeout_s:
                break
            out.append(self._go_out(self.pending.pop(0), missing))
            while self.pending and self._late(self.pending[0].first):  # waited behind it, within its window
                out.append(self._late_cycle(self.pending.pop(0)))
        return out

    def flush(self) -> list[Cycle[Output]]:
        """Every waiting cycle, oldest first (the end of the input)."""
        return self.release(math.inf)

    def _late(self, stamp: float) -> bool:
        """Whether an output at `stamp` is at or before the last cycle's stamp + window_s."""
        return self.last is not None and stamp <= self.last.stamp + self.window_s + TOLERANCE_S

    def _late_cycle(self, cycle: Cycle[Output]) -> Cycle[Output]:
        """Outputs after their cycle: counted, kept for the next cycle; a camera's output within the window of the
        last cycle's stamp belonged to it (still a partner of its cameras)."""
        for camera, (stamp, _) in cycle.outputs.items():
            if stamp >= self.last.stamp - self.window_s - TOLERANCE_S:
                self._pair(camera, set(self.last.outputs))
            self.health.count("outputs_after_their_cycle")
        return Cycle(cycle.outputs, cycle.opened, late=True)

    def _go_out(self, cycle: Cycle[Output], missing: list[str]) -> Cycle[Output]:
        cameras = set(cycle.outputs)
        for camera in cameras:
            self._pair(camera, cameras)
        for camera in missing:
            self.partners[camera] = self.partners.get(camera, set()) - cameras
            for member in cameras:
                self.partners[member].discard(camera)
            self.health.count(f"cycles_without_camera.{camera}")
        if missing:
            self.health.count("cycles_without_camera")
        self.last = cycle
        return cycle

    def _pair(self, camera: str, others: set[str]) -> None:
        for other in others - {camera}:
            self.partners.setdefault(camera, set()).add(other)
            self.partners.setdefault(other, set()).add(camera)
