"""The cameras' tracks merged into one object list for the vehicle, without ROS (docs/fusion.md).

Each camera's tracker output (tracks with ground positions and covariances in the shared ground frame) is kept as
that camera's newest state. A cycle, at the stamp of the newest camera output, predicts every camera's newest tracks
to that stamp and groups the tracks that are one physical object:

- links: a camera track keeps the fused id it had; a link is broken only when the track contradicts the object's
  oldest track at the `keep_probability` chi-square level (hysteresis: a new link needs `gate_probability`), and
  never by a track whose box is cut at its image's side border (placed from the part in view);
- merges: a track that is alone in its group joins, by a minimum-cost assignment, a group with no track of its camera,
  a compatible class (car, truck and bus are compatible with each other) and a squared Mahalanobis distance on the
  ground within the `gate_probability` quantile of the chi-square distribution with 2 degrees of freedom;
- ids: a group keeps the oldest fused id of its tracks (so an object keeps its id while any of its tracks lives, and
  through a hand-over between cameras, where the new camera's track joins while the old one still lives); a new group
  takes its track's own id when that is above every id issued so far, else the next id above them (one camera: the
  tracker's ids, unchanged).

The fused position is the covariance intersection of the tracks' (the cameras' errors are correlated through the
shared ground-plane assumption and mounting calibration, by an unknown amount: the plain information-weighted mean
would be overconfident), of the tracks with whole boxes where there are any; with one track it is that track's
state, unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from perception.message_decoding import existence_probability
from perception.pipeline.health import Health
from perception.tracking.association import assign, mahalanobis_squared
from perception.tracking.metric_position import cut_at_side
from perception.types import GroundState, ObjectClass, Track

VEHICLES = frozenset({ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS})
NO_MATCH = 1e9  # assignment cost of a pair that may not be merged


def compatible(a: ObjectClass, b: ObjectClass) -> bool:
    """Whether two camera tracks may be one object: the same class, or two vehicle classes (a detector's car/truck
    flip between cameras or frames)."""
    return a == b or (a in VEHICLES and b in VEHICLES)


def chi_square_quantile_2dof(probability: float) -> float:
    """The `probability` quantile of the chi-square distribution with 2 degrees of freedom (exact: -2 ln(1 - p)),
    the distribution of a 2-D squared Mahalanobis distance between two estimates of the same point."""
    return -2.0 * math.log1p(-probability)


@dataclass(frozen=True)
class FusionConfig:
    gate_probability: float = 0.99  # a new link passes when the pair is this likely one object (gate 9.21)
    keep_probability: float = 0.999  # an existing link breaks beyond this quantile (13.82)
    max_age_s: float = 1.0  # a camera's newest output older than this (the tracker's max_coast_time) is left out
    sync_window_s: float = 0.01  # outputs whose stamps lie this close are one cycle (fusion_cycles.py)
    sync_timeout_s: float = 0.1  # a cycle waits at most this long for the other cameras expected in it


@dataclass
class CameraTracks:
    """One camera's tracker output (CameraTracking / CameraPrediction StageOutput): its tracks at `stamp`."""

    stamp: float
    tracks: list[Track]
    ground_frame_id: str  # "" when the camera has no metric positions (its tracks have no ground state)
    image_size: tuple[int, int] | None = None  # (width, height) of the camera's images: tells boxes cut at a side


@dataclass
class FusedObject:
    """One physical object: `track` holds the fused id (track_id), state and class; its box is `camera`'s."""

    track: Track
    camera: str  # the camera of the box: a whole box first, then the smallest position covariance
    sources: dict[str, int]  # camera -> that camera's track id


@dataclass
class FusedObjects:
    """One cycle's object list, in `ground_frame_id` at `stamp`."""

    stamp: float
    ground_frame_id: str
    objects: list[FusedObject]
    cameras: list[str]  # the cameras whose tracks are in this cycle
    left_out: dict[str, str] = field(default_factory=dict)  # camera -> why its tracks are not in this cycle

    @property
    def tracks(self) -> list[Track]:
        """The fused tracks (e.g. for a PredictionStage: their ids, and so their histories, survive a hand-over)."""
        return [o.track for o in self.objects]


@dataclass
class _Link:
    fused_id: int
    since: float  # stamp of the cycle that made the link (the oldest link of a group anchors it)
    seen: float  # stamp of the camera output that last had the track


@dataclass
class _Member:
    camera: str
    track: Track
    ground: GroundState | None  # predicted to the cycle stamp
    age_offset: float  # cycle stamp - camera stamp
    cut: bool  # the box touches a side border of its image: part of the object is outside this camera's view

    @property
    def key(self) -> tuple[str, int]:
        return self.camera, self.track.track_id


class TrackFusion:
    """Merges the newest tracks of every camera into one list per cycle (see the module docstring)."""

    def __init__(self, config: FusionConfig | None = None, health: Health | None = None) -> None:
        self.config = config or FusionConfig()
        self.health = health or Health()
        self.gate = chi_square_quantile_2dof(self.config.gate_probability)
        self.keep_gate = chi_square_quantile_2dof(self.config.keep_probability)
        self.latest: dict[str, CameraTracks] = {}
        self.links: dict[tuple[str, int], _Link] = {}
        self.last_id = 0

    def add(self, camera: str, output: CameraTracks) -> None:
        """Keep a camera's newest output; links of its tracks unseen for max_age_s end (the track ended)."""
        self.latest[camera] = output
        for track in output.tracks:
            if (link := self.links.get((camera, track.track_id))) is not None:
                link.seen = output.stamp
        self.links = {key: link for key, link in self.links.items()
                      if key[0] != camera or output.stamp - link.seen <= self.config.max_age_s}

    def fuse(self, stamp: float) -> FusedObjects:
        """The object list at `stamp` from every camera's newest output within max_age_s."""
        cameras, frame, left_out = self._cycle_cameras(stamp)
        members = [_Member(camera, track, _predict(track.ground, stamp - out.stamp), stamp - out.stamp,
                           cut_at_side(track.box, out.image_size))
                   for camera, out in ((c, self.latest[c]) for c in cameras) for track in out.tracks]
        groups = self._merge(self._linked_groups(members))
        objects = [self._object(*numbered) for numbered in self._number(groups, stamp)]
        self.health.count("cycles")
        self.health.set_values(objects=len(objects), cameras=",".join(cameras))
        return FusedObjects(stamp, frame, sorted(objects, key=lambda o: o.track.track_id), cameras, left_out)

    def _cycle_cameras(self, stamp: float) -> tuple[list[str], str, dict[str, str]]:
        """The cameras in this cycle and its ground frame (the newest output's with one); older outputs and outputs in
        another ground frame (e.g. one tracker still without odometry) are left out, with the reason."""
        recent = {c: out for c, out in self.latest.items() if abs(stamp - out.stamp) <= self.config.max_age_s}
        left_out = {c: f"newest output {stamp - out.stamp:.3f} s old" for c, out in self.latest.items()
                    if c not in recent}
        framed = sorted((out.stamp, c) for c, out in recent.items() if out.ground_frame_id)
        frame = recent[framed[-1][1]].ground_frame_id if framed else ""
        for camera, out in recent.items():
            if out.ground_frame_id and out.ground_frame_id != frame:
                left_out[camera] = f"tracks in {out.ground_frame_id}, the cycle's in {frame}"
        for camera in left_out:
            self.health.count("cameras_left_out")
        return sorted(c for c in recent if c not in left_out), frame, left_out

    def _linked_groups(self, members: list[_Member]) -> list[list[_Member]]:
        """Members grouped by their link; a member whose box is whole and that contradicts the group's oldest member
        with a whole box (beyond keep_gate, a class no longer compatible, or no ground position to check) leaves it,
        unlinked. A box cut at the image's side is no evidence against a link: the estimator places it from the part
        in view (the hand-over region, where it is least reliable)."""
        by_id: dict[int, list[_Member]] = {}
        groups: list[list[_Member]] = []
        for member in members:
            link = self.links.get(member.key)
            if link is None:
                groups.append([member])
            else:
                by_id.setdefault(link.fused_id, []).append(member)
        for group in by_id.values():
            group.sort(key=lambda m: (m.cut, self.links[m.key].since))
            anchor, kept = group[0], [group[0]]
            for member in group[1:]:
                if member.cut or anchor.cut or self._consistent(anchor, member):
                    kept.append(member)
                else:
                    del self.links[member.key]
                    self.health.count("links_broken")
                    groups.append([member])
            groups.append(kept)
        return groups

    def _consistent(self, a: _Member, b: _Member) -> bool:
        """Whether two linked tracks may still be one object: compatible classes, within the keep gate."""
        if a.ground is None or b.ground is None or not compatible(a.track.label, b.track.label):
            return False
        distance = mahalanobis_squared(a.ground.position[None], a.ground.position_covariance[None],
                                       b.ground.position[None], b.ground.position_covariance[None])
        return bool(distance[0, 0] <= self.keep_gate)

    def _merge(self, groups: list[list[_Member]]) -> list[list[_Member]]:
        """For each camera in turn, its lone tracks join groups without a track of that camera (minimum total squared
        Mahalanobis distance within the gate, compatible classes)."""
        for camera in sorted({m.camera for group in groups for m in group}):
            rows = [g for g in groups if len(g) == 1 and g[0].camera == camera and g[0].ground is not None]
            columns = [g for g in groups if all(m.camera != camera for m in g) and _fused_ground(g) is not None]
            if not rows or not columns:
                continue
            row_states = [g[0].ground for g in rows]
            column_states = [_fused_ground(g) for g in columns]
            cost = mahalanobis_squared(*_position_arrays(row_states), *_position_arrays(column_states))
            for i, row in enumerate(rows):
                for j, column in enumerate(columns):
                    if not all(compatible(row[0].track.label, m.track.label) for m in column):
                        cost[i, j] = NO_MATCH
            matched_rows, matched_columns = assign(cost, self.gate)
            for i, j in zip(matched_rows.tolist(), matched_columns.tolist()):
                columns[j].extend(rows[i])
                rows[i].clear()
                self.health.count("tracks_merged")
            groups = [g for g in groups if g]
        return groups

    def _number(self, groups: list[list[_Member]], stamp: float) -> list[tuple[int, list[_Member]]]:
        """Each group's fused id (its oldest linked id, else a new one) and the links renewed."""
        numbered, new = [], []
        for group in groups:
            ids = {self.links[m.key].fused_id for m in group if m.key in self.links}
            if not ids:
                new.append(group)
                continue
            numbered.append((min(ids), group))
            self.health.count("ids_retired", len(ids) - 1)  # objects found to be one: the oldest id lives on
        for group in sorted(new, key=lambda g: g[0].track.track_id):
            own = group[0].track.track_id
            numbered.append((own if own > self.last_id else self.last_id + 1, group))
            self.last_id = max(self.last_id, numbered[-1][0])
        for fused_id, group in numbered:
            for member in group:
                link = self.links.get(member.key)
                if link is None or link.fused_id != fused_id:
                    self.links[member.key] = _Link(fused_id, stamp, stamp - member.age_offset)
        return numbered

    def _object(self, fused_id: int, group: list[_Member]) -> FusedObject:
        best = min(group, key=lambda m: (m.cut, np.linalg.det(m.ground.position_covariance) if m.ground else math.inf))
        probabilities = _class_probabilities(group)
        label = (ObjectClass(next(iter(probabilities))) if probabilities and len(group) > 1
                 else max(group, key=lambda m: m.track.hits).track.label)
        track = replace(
            best.track, track_id=fused_id, label=label, score=max(m.track.score for m in group),
            existence_probability=max(existence_probability(m.track) for m in group),
            age=max(m.track.age + m.age_offset for m in group), hits=sum(m.track.hits for m in group),
            frames_since_update=min(m.track.frames_since_update for m in group), ground=_fused_ground(group),
            class_probabilities=probabilities)
        return FusedObject(track, best.camera, {m.camera: m.track.track_id for m in group})


def _predict(ground: GroundState | None, dt: float) -> GroundState | None:
    """A camera's ground state moved to the cycle stamp at constant velocity (position covariance + dt^2 velocity
    covariance; the tracks carry no position-velocity cross covariance). dt = 0: the state itself."""
    if ground is None or dt == 0.0:
        return ground
    return GroundState(ground.position + dt * ground.velocity, ground.velocity.copy(),
                       ground.position_covariance + dt**2 * ground.velocity_covariance,
                       ground.velocity_covariance.copy())


def _position_arrays(states: list[GroundState]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([s.position for s in states]), np.array([s.position_covariance for s in states])


def _fused_ground(group: list[_Member]) -> GroundState | None:
    """The covariance intersection of the group's ground states (position and velocity each), of the members with
    whole boxes where there are any; one state: itself."""
    whole = [m for m in group if not m.cut] or group
    states = [m.ground for m in whole if m.ground is not None]
    if not states:
        return None
    fused = states[0]
    for state in states[1:]:
        position, position_covariance = covariance_intersection(
            fused.position, fused.position_covariance, state.position, state.position_covariance)
        velocity, velocity_covariance = covariance_intersection(
            fused.velocity, fused.velocity_covariance, state.velocity, state.velocity_covariance)
        fused = GroundState(position, velocity, position_covariance, velocity_covariance)
    return fused


def covariance_intersection(mean_a: np.ndarray, covariance_a: np.ndarray, mean_b: np.ndarray,
                            covariance_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fuse two 2-D estimates whose errors are correlated by an unknown amount (Julier and Uhlmann 1997):
    P^-1 = w Pa^-1 + (1 - w) Pb^-1, x = P (w Pa^-1 a + (1 - w) Pb^-1 b), with the w in [0, 1] that minimises det P
    (closed form: det(Pb^-1 + w D) is quadratic in w). Consistent whatever the correlation; when one estimate is
    better in every direction it is returned unchanged (w = 0 or 1)."""
    info_a, info_b = np.linalg.inv(covariance_a), np.linalg.inv(covariance_b)
    d = info_a - info_b
    linear = info_b[0, 0] * d[1, 1] + info_b[1, 1] * d[0, 0] - info_b[0, 1] * d[1, 0] - info_b[1, 0] * d[0, 1]
    quadratic = np.linalg.det(d)
    candidates = [0.0, 1.0]
    if quadratic < 0 and 0.0 < (vertex := -linear / (2 * quadratic)) < 1.0:
        candidates.append(vertex)
    w = max(candidates, key=lambda c: np.linalg.det(info_b + c * d))
    covariance = np.linalg.inv(info_b + w * d)
    return covariance @ (w * info_a @ mean_a + (1 - w) * info_b @ mean_b), covariance


def _class_probabilities(group: list[_Member]) -> dict[int, float]:
    """The tracks' class probabilities averaged with their hits as weights, most probable first; empty when a track
    has none (then the label is that of the track with the most hits)."""
    if len(group) == 1:
        return dict(group[0].track.class_probabilities)
    if not all(m.track.class_probabilities for m in group):
        return {}
    total = sum(m.track.hits for m in group)
    merged: dict[int, float] = {}
    for m in group:
        for label, p in m.track.class_probabilities.items():
            merged[label] = merged.get(label, 0.0) + p * m.track.hits / total
    return dict(sorted(merged.items(), key=lambda item: -item[1]))
