"""Multi-object tracker: ByteTrack-style two-stage association with stamp-driven Kalman prediction.

Each track keeps a constant-velocity Kalman filter on its box centre and size (pixels, px/s) and,
when ground positions are given, a second one on its ground-plane position (metres, m/s).
Prediction runs over the elapsed time between stamps, so gaps and uneven frame rates are handled;
tracks coast (no matching detection) for at most `max_coast_time` seconds.

Class: each track sums the scores of its matched detections per class; its class probabilities are these sums over
their total, P(c) = sum_{k: class_k = c} s_k / sum_k s_k, and its label is the most probable class. A detection of
another vehicle class (car, truck, bus) than the track's label may still extend the track at an extra association
cost (class_change_cost), so a box that flips between car and truck keeps one track; other classes never mix.

Existence: a bounded recursive estimate from the track's score history, an exponential average over time of the
matched detections' scores in which a frame without a match counts as score 0:
p <- p + (1 - exp(-dt / existence_time_constant)) (s - p), started at the first detection's score; a convex
combination of values in [0, 1], so it stays in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.tracking import kalman
from perception.tracking.association import assign, iou_matrix
from perception.tracking.ground_plane import GroundMeasurements
from perception.types import Detections, GroundState, ObjectClass, Track


@dataclass(frozen=True)
class TrackerConfig:
    """Score thresholds and gates follow the ByteTrack paper (MOT17 settings), except that every detection
    of the first stage may start a track, as in SORT and OC-SORT; noises are per second."""

    high_score: float = 0.6  # first-stage detections (may start tracks); lower ones only extend tracks
    low_score: float = 0.1
    max_match_cost: float = 0.8  # first stage and unconfirmed tracks, cost = 1 - IoU * detection score
    max_low_match_cost: float = 0.5  # second stage, cost = 1 - IoU
    confirm_hits: int = 2  # matched updates that confirm a track (tracks born on the first update are confirmed)
    max_coast_time: float = 1.0  # seconds a confirmed track survives without a match
    # Box filter noises relative to box width/height. At 30 Hz they equal ByteTrack's per-frame values
    # (position 1/20, velocity 1/160): random walks whose variance grows linearly with time.
    box_measurement_std: float = 1 / 20
    box_position_noise: float = np.sqrt(30) / 20  # 1/sqrt(s)
    box_velocity_noise: float = 30 * np.sqrt(30) / 160  # 1/(s sqrt(s))
    box_initial_velocity_std: float = 10 * 30 / 160  # 1/s
    ground_acceleration_std: float = 2.0  # m/s^2, white-noise acceleration of ground motion
    ground_initial_speed_std: float = 5.0  # m/s
    report_coasting: bool = False  # also return confirmed tracks not matched at this stamp (benchmarks: False)
    score_weighted_association: bool = True  # first-stage cost 1 - IoU * score (False: 1 - IoU)
    # Last stage for static objects (signs): confirmed tracks and detections left over by the box stages are matched by
    # ground position (Mahalanobis distance within the chi-square gate) when their source classes agree (needs
    # vote_source_class).
    ground_association: bool = False
    vote_source_class: bool = False  # Track.source_class_id: the source class with the most score over the hits
    ground_gate: float = 9.21  # chi-square, 2 degrees of freedom, 99 %
    # Added to the association cost when a detection's vehicle class (car, truck, bus) differs from the track's label;
    # 1.0 or more: classes never mix (every cost would exceed the gates).
    class_change_cost: float = 0.3  # leave-one-sequence-out on KITTI 0000-0010 (benchmarks/class_change_cost.py)
    existence_time_constant: float = 0.5  # s, memory of the existence estimate (see the module docstring)


@dataclass
class _TrackTable:
    """All live tracks as parallel arrays (one row per track) so filters run batched."""

    ids: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    hits: np.ndarray
    frames_since_update: np.ndarray
    birth: np.ndarray
    last_update: np.ndarray
    confirmed: np.ndarray
    box_means: np.ndarray  # (N, 8) cx, cy, w, h and their rates
    box_covariances: np.ndarray  # (N, 8, 8)
    has_ground: np.ndarray
    ground_means: np.ndarray  # (N, 4) x, y, vx, vy
    ground_covariances: np.ndarray  # (N, 4, 4)
    # the part of ground_covariances that is not the measurements' persistent error (see _correct_ground), and the
    # persistent position covariance of the latest ground measurement
    ground_frame_covariances: np.ndarray  # (N, 4, 4)
    ground_persistent: np.ndarray  # (N, 2, 2)
    class_scores: np.ndarray  # (N, number of classes) summed detection scores per ObjectClass
    existence: np.ndarray  # (N,) existence probability

    @classmethod
    def empty(cls) -> "_TrackTable":
        return cls(
            *(np.zeros(0, dtype) for dtype in (np.int64, np.int64, float, np.int64, np.int64, float, float, bool)),
            np.zeros((0, 8)),
            np.zeros((0, 8, 8)),
            np.zeros(0, bool),
            np.zeros((0, 4)),
            np.zeros((0, 4, 4)),
            np.zeros((0, 4, 4)),
            np.zeros((0, 2, 2)),
            np.zeros((0, _NUMBER_OF_CLASSES)),
            np.zeros(0),
        )

    def select(self, rows: np.ndarray) -> "_TrackTable":
        return _TrackTable(*(column[rows] for column in self.__dict__.values()))

    def extend(self, other: "_TrackTable") -> "_TrackTable":
        return _TrackTable(*(np.concatenate([a, b]) for a, b in zip(self.__dict__.values(), other.__dict__.values())))

    def boxes(self) -> np.ndarray:
        """Current boxes as x_min, y_min, x_max, y_max."""
        centre, size = self.box_means[:, :2], np.maximum(self.box_means[:, 2:4], 1e-3)
        return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


def _to_centre_size(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], axis=1)


class Tracker:
    """Assigns stable, never reused ids to detections over time; see the module docstring."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks = _TrackTable.empty()
        self._stamp: float | None = None
        self._next_id = 1
        self._source_votes: dict[int, dict[int, float]] = {}  # track id -> source class id -> summed score

    def reset(self) -> None:
        """Forget all tracks and the last stamp (e.g. when time jumps back); ids are still never reused."""
        self._tracks = _TrackTable.empty()
        self._stamp = None
        self._source_votes.clear()

    def warp_boxes(self, homography: np.ndarray) -> None:
        """Move every track's box centre by a 3x3 image homography (the camera's rotation since the last update,
        from odometry); sizes and rates stay."""
        centres = np.column_stack([self._tracks.box_means[:, :2], np.ones(len(self._tracks.ids))]) @ homography.T
        self._tracks.box_means[:, :2] = centres[:, :2] / centres[:, 2:3]

    def forget_ground(self) -> None:
        """Drop every ground state (the ground frame changed); tracks keep their ids and boxes, and restart their
        ground state at their next ground measurement."""
        self._tracks.has_ground[:] = False

    def update(
        self, detections: Detections, stamp: float, ground: GroundMeasurements | None = None
    ) -> list[Track]:
        """Advance to `stamp` (seconds, non-decreasing), associate `detections` and return the confirmed
        tracks matched at this stamp (with report_coasting, also the confirmed ones coasting without a match).
        `ground` holds the detections' ground positions, row for row."""
        if self._stamp is not None and stamp < self._stamp:
            raise ValueError(f"stamp {stamp} is earlier than the previous stamp {self._stamp}")
        first_update = self._stamp is None
        dt = 0.0 if first_update else stamp - self._stamp
        self._stamp = stamp
        previous = self._tracks  # tentative tracks die at their first miss, confirmed ones after max_coast_time
        alive = (previous.confirmed | (previous.frames_since_update == 0)) & (
            stamp - previous.last_update <= self.config.max_coast_time + 1e-9
        )
        tracks = previous.select(alive)
        if dt > 0:
            self._predict(tracks, dt)
        gain = 1.0 - np.exp(-dt / self.config.existence_time_constant)  # this frame's weight in the existence
        tracks.existence *= 1.0 - gain  # a miss counts as score 0; _correct adds the matched scores' share

        track_rows, detection_rows, births = self._associate(tracks, detections)
        if self.config.ground_association and ground is not None:
            track_rows, detection_rows, births = self._associate_on_ground(
                tracks, detections, ground, track_rows, detection_rows, births)
        tracks.frames_since_update += 1
        self._correct(tracks, track_rows, detections, detection_rows, ground, stamp, gain)
        if len(births):
            newborn = self._birth(detections.select(births), stamp, first_update)
            if ground is not None:
                self._correct_ground(newborn, np.arange(len(births)), ground.select(births))
            tracks = tracks.extend(newborn)
            self._vote(newborn.ids, detections.select(births))
        self._tracks = tracks
        if self.config.vote_source_class:
            alive_ids = set(tracks.ids.tolist())
            self._source_votes = {i: votes for i, votes in self._source_votes.items() if i in alive_ids}
        return self._confirmed_tracks(stamp)

    def _predict(self, tracks: _TrackTable, dt: float) -> None:
        c = self.config
        sizes = tracks.box_means[:, _WIDTH_HEIGHT_TWICE]
        variances = np.concatenate([(c.box_position_noise * sizes) ** 2, (c.box_velocity_noise * sizes) ** 2], 1)
        noise = variances[:, :, None] * (_EYE[8] * dt)
        tracks.box_means, tracks.box_covariances = kalman.predict(
            tracks.box_means, tracks.box_covariances, kalman.constant_velocity_transition(4, dt), noise
        )
        if tracks.has_ground.any():
            block = np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]]) * c.ground_acceleration_std**2
            noise = np.kron(block, np.eye(2))
            transition = kalman.constant_velocity_transition(2, dt)
            tracks.ground_means, tracks.ground_covariances = kalman.predict(
                tracks.ground_means, tracks.ground_covariances, transition, noise
            )
            _, tracks.ground_frame_covariances = kalman.predict(
                tracks.ground_means, tracks.ground_frame_covariances, transition, noise)

    def _associate(self, tracks: _TrackTable, detections: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return matched track rows, their detection rows, and the detection rows that start new tracks."""
        c = self.config
        scores = detections.scores
        high = np.flatnonzero(scores >= c.high_score)
        low = np.flatnonzero((scores > c.low_score) & (scores < c.high_score))
        track_boxes = tracks.boxes()
        det_boxes = detections.boxes.astype(float)

        class_cost = class_change_costs(tracks.labels, detections.labels, c.class_change_cost)

        def match(rows: np.ndarray, columns: np.ndarray, weigh_by_score: bool, max_cost: float):
            if len(rows) == 0 or len(columns) == 0:
                return rows[:0], columns[:0], rows, columns
            similarity = iou_matrix(track_boxes[rows], det_boxes[columns])
            if weigh_by_score:
                similarity *= scores[None, columns]
            matched_rows, matched_columns = assign(1.0 - similarity + class_cost[np.ix_(rows, columns)], max_cost)
            row_left = np.ones(len(rows), bool)
            row_left[matched_rows] = False
            column_left = np.ones(len(columns), bool)
            column_left[matched_columns] = False
            return rows[matched_rows], columns[matched_columns], rows[row_left], columns[column_left]

        confirmed = np.flatnonzero(tracks.confirmed)
        rows_1, dets_1, unmatched, high_left = match(confirmed, high, c.score_weighted_association, c.max_match_cost)
        recently_matched = unmatched[tracks.frames_since_update[unmatched] == 0]
        rows_2, dets_2, _, _ = match(recently_matched, low, False, c.max_low_match_cost)
        tentative = np.flatnonzero(~tracks.confirmed)
        rows_3, dets_3, _, births = match(tentative, high_left, c.score_weighted_association, c.max_match_cost)
        return np.concatenate([rows_1, rows_2, rows_3]), np.concatenate([dets_1, dets_2, dets_3]), births

    def _associate_on_ground(
        self, tracks: _TrackTable, detections: Detections, ground: GroundMeasurements, track_rows: np.ndarray,
        detection_rows: np.ndarray, births: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Match the confirmed tracks with a ground state that the box stages left unmatched to the would-be births
        with a valid ground position of the same source class, by Mahalanobis distance on the ground."""
        unmatched = np.ones(len(tracks.ids), bool)
        unmatched[track_rows] = False
        rows = np.flatnonzero(unmatched & tracks.confirmed & tracks.has_ground)
        columns = births[ground.valid[births]]
        if len(rows) == 0 or len(columns) == 0:
            return track_rows, detection_rows, births
        difference = ground.positions[columns][None, :, :] - tracks.ground_means[rows][:, None, :2]
        covariance = tracks.ground_covariances[rows][:, None, :2, :2] + ground.covariances[columns][None, :, :, :]
        distance = np.einsum("rci,rci->rc", difference, np.linalg.solve(covariance, difference[..., None])[..., 0])
        track_classes = np.array([self._source_class(i) for i in tracks.ids[rows].tolist()])
        same_class = track_classes[:, None] == detections.source_class_ids[columns][None, :]
        matched_rows, matched_columns = assign(np.where(same_class, distance, 1e9), self.config.ground_gate)
        return (np.concatenate([track_rows, rows[matched_rows]]),
                np.concatenate([detection_rows, columns[matched_columns]]),
                np.setdiff1d(births, columns[matched_columns]))

    def _correct(
        self,
        tracks: _TrackTable,
        rows: np.ndarray,
        detections: Detections,
        detection_rows: np.ndarray,
        ground: GroundMeasurements | None,
        stamp: float,
        existence_gain: float,
    ) -> None:
        if len(rows) == 0:
            return
        sizes = tracks.box_means[rows][:, _WIDTH_HEIGHT_TWICE]
        noise = (self.config.box_measurement_std * sizes) ** 2
        measured = _to_centre_size(detections.boxes[detection_rows].astype(float))
        means, covariances = kalman.update(
            tracks.box_means[rows], tracks.box_covariances[rows], measured, noise[:, :, None] * _EYE[4]
        )
        tracks.box_means[rows], tracks.box_covariances[rows] = means, covariances
        tracks.scores[rows] = detections.scores[detection_rows]
        tracks.existence[rows] += existence_gain * detections.scores[detection_rows]
        np.add.at(tracks.class_scores, (rows, detections.labels[detection_rows]), detections.scores[detection_rows])
        tracks.labels[rows] = tracks.class_scores[rows].argmax(axis=1)
        tracks.hits[rows] += 1
        tracks.frames_since_update[rows] = 0
        tracks.last_update[rows] = stamp
        tracks.confirmed[rows] |= tracks.hits[rows] >= self.config.confirm_hits
        self._vote(tracks.ids[rows], detections.select(detection_rows))
        if ground is not None:
            self._correct_ground(tracks, rows, ground.select(detection_rows))

    def _vote(self, track_ids: np.ndarray, detections: Detections) -> None:
        """Add each matched detection's score to its track's vote for the detection's source class."""
        if not self.config.vote_source_class:
            return
        for track_id, source, score in zip(track_ids.tolist(), detections.source_class_ids.tolist(),
                                           detections.scores.tolist()):
            votes = self._source_votes.setdefault(track_id, {})
            votes[source] = votes.get(source, 0.0) + score

    def _source_class(self, track_id: int) -> int:
        votes = self._source_votes.get(track_id)
        return max(votes, key=votes.get) if votes else -1

    def _correct_ground(self, tracks: _TrackTable, rows: np.ndarray, ground: GroundMeasurements) -> None:
        """Fuse valid ground measurements; tracks without a ground state start one at the measurement. The filter
        treats each measurement's error as independent of the others, which its persistent part (the same error in
        every frame of an object) is not: averaging cannot remove it. A constant measurement offset moves the
        filter's position by that offset, so the track reports the covariance of the rest of its error (frame noise
        through the filter's own gains, and motion) plus the latest measurement's persistent covariance."""
        rows, ground = rows[ground.valid], ground.select(ground.valid)
        tracks.ground_persistent[rows] = ground.persistent_covariances
        starting = ~tracks.has_ground[rows]
        start_rows = rows[starting]
        tracks.ground_means[start_rows] = np.column_stack([ground.positions[starting], np.zeros((len(start_rows), 2))])
        covariances = np.zeros((len(start_rows), 4, 4))
        covariances[:, :2, :2] = ground.covariances[starting]
        covariances[:, 2:, 2:] = np.eye(2) * self.config.ground_initial_speed_std**2
        tracks.ground_covariances[start_rows] = covariances
        covariances[:, :2, :2] -= ground.persistent_covariances[starting]
        tracks.ground_frame_covariances[start_rows] = covariances
        tracks.has_ground[start_rows] = True
        update_rows = rows[~starting]
        gains = kalman.gain(tracks.ground_covariances[update_rows], ground.covariances[~starting])
        tracks.ground_frame_covariances[update_rows] = kalman.updated_with_gain(
            tracks.ground_frame_covariances[update_rows], gains,
            ground.covariances[~starting] - ground.persistent_covariances[~starting])
        tracks.ground_means[update_rows], tracks.ground_covariances[update_rows] = kalman.update(
            tracks.ground_means[update_rows],
            tracks.ground_covariances[update_rows],
            ground.positions[~starting],
            ground.covariances[~starting],
        )

    def _birth(self, detections: Detections, stamp: float, first_update: bool) -> _TrackTable:
        c = self.config
        n = len(detections)
        ids = np.arange(self._next_id, self._next_id + n)
        self._next_id += n
        measured = _to_centre_size(detections.boxes.astype(float))
        sizes = measured[:, _WIDTH_HEIGHT_TWICE]
        stds = np.concatenate([2 * c.box_measurement_std * sizes, c.box_initial_velocity_std * sizes], axis=1)
        return _TrackTable(
            ids=ids,
            labels=detections.labels.astype(np.int64),
            scores=detections.scores.astype(float),
            hits=np.ones(n, np.int64),
            frames_since_update=np.zeros(n, np.int64),
            birth=np.full(n, stamp),
            last_update=np.full(n, stamp),
            confirmed=np.full(n, first_update or c.confirm_hits <= 1),
            box_means=np.concatenate([measured, np.zeros((n, 4))], axis=1),
            box_covariances=stds[:, :, None] ** 2 * _EYE[8],
            has_ground=np.zeros(n, bool),
            ground_means=np.zeros((n, 4)),
            ground_covariances=np.zeros((n, 4, 4)),
            ground_frame_covariances=np.zeros((n, 4, 4)),
            ground_persistent=np.zeros((n, 2, 2)),
            class_scores=np.eye(_NUMBER_OF_CLASSES)[detections.labels] * detections.scores[:, None],
            existence=detections.scores.astype(float),
        )

    def _confirmed_tracks(self, stamp: float) -> list[Track]:
        t = self._tracks
        t = t.select(t.confirmed & ((t.frames_since_update == 0) | self.config.report_coasting))
        grounds = [_ground_state(t, i) if has else None for i, has in enumerate(t.has_ground.tolist())]
        return [
            Track(
                track_id=track_id,
                label=_CLASSES[label],
                score=score,
                box=box,
                age=stamp - birth,
                hits=hits,
                frames_since_update=missed,
                ground=ground,
                class_probabilities=_probabilities(class_scores),
                existence_probability=existence,
                source_class_id=self._source_class(track_id),
            )
            for track_id, label, score, box, birth, hits, missed, ground, class_scores, existence in zip(
                t.ids.tolist(), t.labels.tolist(), t.scores.tolist(), t.boxes(), t.birth.tolist(), t.hits.tolist(),
                t.frames_since_update.tolist(), grounds, t.class_scores, t.existence.tolist()
            )
        ]


_CLASSES = {int(c): c for c in ObjectClass}
_NUMBER_OF_CLASSES = max(_CLASSES) + 1
_EYE = {n: np.eye(n) for n in (4, 8)}
_WIDTH_HEIGHT_TWICE = [2, 3, 2, 3]  # state columns giving the w, h, w, h scale of the box noises
VEHICLE_CLASSES = (ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS)


def class_change_costs(track_labels: np.ndarray, detection_labels: np.ndarray, vehicle_cost: float) -> np.ndarray:
    """(tracks, detections) association cost added for the classes: 0 for the same class, vehicle_cost between two
    vehicle classes, 1 (more than any gate admits: 1 - IoU is at least 0) between any other two."""
    same = track_labels[:, None] == detection_labels[None, :]
    vehicles = np.isin(track_labels, VEHICLE_CLASSES)[:, None] & np.isin(detection_labels, VEHICLE_CLASSES)[None, :]
    return np.where(same, 0.0, np.where(vehicles, min(vehicle_cost, 1.0), 1.0))


def _probabilities(class_scores: np.ndarray) -> dict[ObjectClass, float]:
    """The classes with a share of the summed scores, most probable first."""
    total = class_scores.sum()
    if total <= 0:  # detections of score 0 (e.g. from the sign node's threshold 0): the counts alone say nothing
        return {}
    order = np.argsort(-class_scores, kind="stable")
    return {_CLASSES[int(c)]: float(class_scores[c] / total) for c in order if class_scores[c] > 0}


def _ground_state(tracks: _TrackTable, row: int) -> GroundState:
    mean, covariance = tracks.ground_means[row], tracks.ground_covariances[row]
    position_covariance = tracks.ground_frame_covariances[row, :2, :2] + tracks.ground_persistent[row]
    return GroundState(mean[:2].copy(), mean[2:].copy(), position_covariance, covariance[2:, 2:].copy())
