"""Metric ground positions of detected objects from one camera, in the vehicle frame (x forward, y left).

Each box gives up to two estimates of how far away its nearest ground point is: (a) the ground contact of the box
bottom on flat ground, whose error grows with the square of the distance (camera pitch relative to the road), and
(b) the pixel height of the box with the class's typical height, whose error grows linearly with the distance. They
are fused by their information (inverse variances), once per height component of the class (a car may be a van),
and the components are weighed by how well the two cues agree under each; (c) the class's footprint then moves the
estimate from the visible near side to the object's centre on the ground, with the heading weighed by the box's
shape. The covariance is that of the fused estimate: along the viewing ray from the range terms, across it from the
pixel noise and the footprint's perspective. A box cut at a side border shows part of the object: its cues measure
the part in view, and the covariance covers where the rest may be (the footprint's depth extent, and the two cues'
disagreement where the part in view is lower than the object). Objects mounted above the ground (signs) have cue (b)
only.
The boxes are in raw image pixels; a camera model with lens distortion (perception.camera_calibration.CameraModel)
undistorts them into its rectified pinhole camera first (the border checks stay on the raw boxes).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from perception.camera_calibration import CameraModel
from perception.tracking.ground_plane import CameraPose, GroundMeasurements
from perception.types import ObjectClass


HEADINGS = 16  # footprint headings considered (the footprint is symmetric: over half a turn)


@dataclass(frozen=True)
class SizePrior:
    """Typical size of a class: height mean and std, footprint length and width and their stds (metres). A class made
    of several object types (car and van) keeps their heights as `components`: (share, height, height std) each."""

    height: float
    height_std: float
    length: float
    width: float
    components: tuple[tuple[float, float, float], ...] = ()
    length_std: float = 0.0
    width_std: float = 0.0

    @property
    def height_components(self) -> tuple[tuple[float, float, float], ...]:
        return self.components or ((1.0, self.height, self.height_std),)

    def footprint_corners(self, length: float | None = None, width: float | None = None) -> np.ndarray:
        """(HEADINGS, 4, 2) corners of the footprint (across, along the optical axis) relative to its centre, for
        headings spread uniformly over half a turn (a single camera does not know the heading). length, width:
        instead of the prior's (the corners are linear in them: with the stds, a corner's change per std)."""
        length = self.length if length is None else length
        width = self.width if width is None else width
        phi = (np.arange(HEADINGS) + 0.5) * np.pi / HEADINGS
        half = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]]) * [length / 2.0, width / 2.0]
        rotation = np.stack([np.stack([np.cos(phi), -np.sin(phi)], -1), np.stack([np.sin(phi), np.cos(phi)], -1)], -2)
        return np.einsum("gij,cj->gci", rotation, half)


def mixture(parts: list[tuple[float, SizePrior]]) -> SizePrior:
    """One prior for several object types, weighted by how often each occurs (heights as a Gaussian mixture)."""
    weights = np.array([w for w, _ in parts]) / sum(w for w, _ in parts)

    def moments(means: list[float], stds: list[float]) -> tuple[float, float]:
        mean = float(weights @ np.array(means))
        return mean, float(np.sqrt(weights @ (np.array(stds) ** 2 + (np.array(means) - mean) ** 2)))

    height, height_std = moments([p.height for _, p in parts], [p.height_std for _, p in parts])
    length, length_std = moments([p.length for _, p in parts], [p.length_std for _, p in parts])
    width, width_std = moments([p.width for _, p in parts], [p.width_std for _, p in parts])
    return SizePrior(
        height=height, height_std=height_std, length=length, width=width,
        components=tuple((float(w * share), h, s) for w, (_, p) in zip(weights, parts)
                         for share, h, s in p.height_components),
        length_std=length_std, width_std=width_std,
    )


# Means: KITTI 3D object training set (7,481 images; Qi et al., Frustum PointNets, 2018, `g_type_mean_size`), with
# the type counts of that set as mixture weights (Car 28,742, Van 2,914, Pedestrian 4,487, Person_sitting 222); a car
# keeps car and van as height components (median error within 30 m on KITTI 0000-0005 1.12 -> 0.97 m).
# Height stds are physical: passenger cars 1.4-1.7 m, vans 1.9-2.6 m, adult stature ~0.07 m within a sex and ~0.1 m
# across both (plus children), trucks from light (2.5 m) to the 4 m legal limit. BUS and MOTORCYCLE are not in KITTI:
# a 12 m city bus at the EU limits (2.55 m wide, ~3.2 m high) and a motorcycle with its rider.
# Footprint stds are physical too: passenger cars 3.5-5.0 m long and 1.6-1.9 m wide, vans 4.5-6 m, a walking person's
# stride and arms (0.5-1.2 m, 0.5-0.8 m), bicycles 1.6-1.9 m, trucks 6-16 m, buses 10.5-18 m (articulated).
KITTI_CAR = SizePrior(1.526, 0.14, 3.883, 1.629, length_std=0.4, width_std=0.1)
KITTI_VAN = SizePrior(2.205, 0.25, 5.068, 1.901, length_std=0.4, width_std=0.1)
KITTI_PEDESTRIAN = SizePrior(1.763, 0.10, 0.844, 0.661, length_std=0.2, width_std=0.1)
KITTI_PERSON_SITTING = SizePrior(1.275, 0.15, 0.801, 0.598, length_std=0.2, width_std=0.1)
CLASS_SIZE_PRIORS: dict[ObjectClass, SizePrior] = {
    ObjectClass.CAR: mixture([(28742, KITTI_CAR), (2914, KITTI_VAN)]),
    # one height for pedestrians: with sitting people as a component of their own (5 %), standing ones on uneven
    # ground were taken for sitting ones (median error 0.42 -> 0.51 m within 30 m on KITTI 0000-0005)
    ObjectClass.PEDESTRIAN: replace(mixture([(4487, KITTI_PEDESTRIAN), (222, KITTI_PERSON_SITTING)]), components=()),
    # KITTI Cyclist: the bicycle with its rider
    ObjectClass.BICYCLE: SizePrior(1.737, 0.10, 1.763, 0.597, length_std=0.1, width_std=0.1),
    ObjectClass.TRUCK: SizePrior(3.252, 0.40, 10.136, 2.585, length_std=2.5, width_std=0.1),  # KITTI Truck
    ObjectClass.BUS: SizePrior(3.2, 0.25, 12.0, 2.55, length_std=2.0, width_std=0.05),
    ObjectClass.MOTORCYCLE: SizePrior(1.5, 0.15, 2.1, 0.8, length_std=0.2, width_std=0.1),
    # The sign plate (a thin board): German signs (VwV-StVO sizes 1-3) are round 0.42 / 0.60 / 0.75 m, triangles
    # 0.55 / 0.78 / 1.09 m high (sides 0.63 / 0.90 / 1.26 m), squares 0.42 / 0.60 / 0.84 m; size 2 is the normal one.
    ObjectClass.TRAFFIC_SIGN: SizePrior(0.65, 0.15, 0.05, 0.65),
}
# Mounted above the ground: their box bottoms are no ground contact. They get a position from their size prior only
# (signs: the plate's size); those without one (traffic lights: housings of one to five lamps) get none.
OFF_THE_GROUND = (ObjectClass.TRAFFIC_LIGHT, ObjectClass.TRAFFIC_SIGN)


# Detectors end the boxes of objects cut by the image border a few pixels short of it: the PermaTrack boxes of the
# KITTI objects whose labels reach the bottom or right border end 3-5 px (median) and 11-12 px (99th percentile)
# inside it (0000-0010; a margin of 1 px took a third of the cars within 15 m for whole boxes, median error 2.7 m).
# Of the boxes of uncut objects, 0.3 % end this close to the border.
BORDER_MARGIN = 12.0


def border_cuts(boxes: np.ndarray, image_size: tuple[int, int] | None,
                margin: float = BORDER_MARGIN) -> tuple[np.ndarray, ...]:
    """Whether each of the (N, 4) boxes (raw image pixels) is cut by the left, right, top and bottom border of its
    (width, height) image: ends within `margin` pixels of it (unknown size: none is)."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    if image_size is None:
        return (np.zeros(len(boxes), bool),) * 4
    width, height = image_size
    return (boxes[:, 0] <= margin, boxes[:, 2] >= width - 1 - margin,
            boxes[:, 1] <= margin, boxes[:, 3] >= height - 1 - margin)


def cut_at_side(box: np.ndarray, image_size: tuple[int, int] | None) -> bool:
    """Whether one box is cut by its image's left or right border (border_cuts' margin: detectors end such boxes a
    few pixels short of the border; unknown size: no): part of the object is outside the camera's view."""
    left, right, _, _ = border_cuts(box, image_size)
    return bool(left[0] or right[0])


# Calibration of the covariance per class: the share of errors inside its 1- and 2-sigma ellipses matched to a
# Gaussian's (39.3 / 86.5 %) in the worst range bin, on the deployed tracker's output for the PermaTrack detections of
# KITTI tracking 0000-0010 (`perception fit-position-covariance`). Leaving one sequence out, the folds gave cars
# 0.67-0.89 and pedestrians 0.62-0.97, and the held-out runs came closer to a Gaussian's shares with the factors than
# without; cyclists (0.80-1.97: three quarters of them are in one sequence) came further from them, and keep the
# model's covariance, as do the classes not listed (docs/tracker.md).
COVARIANCE_SCALES: dict[ObjectClass, float] = {ObjectClass.CAR: 0.76, ObjectClass.PEDESTRIAN: 0.89}


@dataclass(frozen=True)
class PoseUncertainty:
    """How well the camera's pose relative to the road under an object is known, and the box corners' pixel noise.

    pitch_std: vehicle body pitch in normal driving (about +-1 degree at 2 sigma) and road grade changes.
    height_std: camera height above the road (suspension, load, road camber)."""

    pitch_std: float = np.deg2rad(0.6)
    height_std: float = 0.05
    pixel_std: float = 2.0


class MetricPositionEstimator:
    """Ground-plane centre positions of boxes with known classes; vectorised over the boxes of one frame."""

    def __init__(
        self,
        intrinsics: "np.ndarray | CameraModel",
        pose: CameraPose,
        image_size: tuple[int, int] | None = None,
        uncertainty: PoseUncertainty = PoseUncertainty(),
        priors: dict[ObjectClass, SizePrior] | None = None,
        min_depression: float = np.deg2rad(0.5),
        max_range: float = 150.0,
        border_margin: float = BORDER_MARGIN,
        covariance_scales: dict[ObjectClass, float] | None = None,
    ) -> None:
        """intrinsics: a 3x3 pinhole camera matrix, or a CameraModel (with lens distortion to remove from the boxes).
        image_size: (width, height) in pixels; boxes within border_margin pixels of its edges count as truncated
        (None: unknown, nothing counts as truncated). priors: class size priors (default CLASS_SIZE_PRIORS); a class
        without one gets the ground contact only. min_depression: the ground contact of rays less than this angle
        below the horizon is not used (its range blows up there). covariance_scales: factors on the covariances per
        class (default COVARIANCE_SCALES; {}: none)."""
        self._camera = intrinsics if isinstance(intrinsics, CameraModel) else CameraModel.pinhole(intrinsics)
        intrinsics = self._camera.matrix
        self._optical_from_pixel = np.linalg.inv(intrinsics)
        self._vehicle_from_optical = pose.vehicle_from_optical
        self._focal = intrinsics[0, 0], intrinsics[1, 1]
        self._centre = pose.position
        self._image_size = image_size
        self._uncertainty = uncertainty
        self._max_sine = -np.sin(min_depression)
        self._max_range = max_range
        self._margin = border_margin
        self._priors = _PriorTables(CLASS_SIZE_PRIORS if priors is None else priors)
        self._scales = np.ones(max(int(c) for c in ObjectClass) + 1)
        for object_class, factor in (COVARIANCE_SCALES if covariance_scales is None else covariance_scales).items():
            self._scales[int(object_class)] = factor

    def project_boxes(self, boxes: np.ndarray, labels: np.ndarray) -> GroundMeasurements:
        """Centres on the ground of (N, 4) x_min, y_min, x_max, y_max boxes with (N,) ObjectClass labels."""
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        labels = np.asarray(labels, int).reshape(-1)
        left, right, top, bottom = border_cuts(boxes, self._image_size, self._margin)
        if self._camera.distorted:
            boxes = self._camera.undistort_boxes(boxes)
        columns = (boxes[:, 0] + boxes[:, 2]) / 2.0
        rays = self._optical_rays(columns, boxes[:, 3])
        with np.errstate(invalid="ignore", divide="ignore"):
            footprint = self._footprint(boxes, labels, rays[:, 0], left | right | top | bottom)
            # cut at a side (not at the bottom, whose ground contact already spans every depth the object can start
            # at), the cues measure the part in view
            partial = (left | right) & ~bottom
            near, near_variance, near_persistent, valid = self._near_depth(boxes, labels, rays, top, bottom, partial,
                                                                           2 * footprint.offset_mean)
            depth = near + footprint.offset_mean
            # the part in view starts anywhere from the object's nearest corner to its farthest: the cues' depth lies
            # beyond the object's by U, uniform over the footprint's depth extent (twice the offset), whose second
            # moment (2 offset)^2 / 3 over the headings the covariance takes on
            hidden = np.where(partial, 4.0 / 3.0 * (footprint.offset_mean**2 + footprint.offset_variance), 0.0)
            depth_variance = near_variance + footprint.offset_variance + hidden
            depth_persistent = near_persistent + footprint.offset_variance + hidden
            # the centre column: where the box is cut at the left/right border, half the footprint's extent inside
            # the edge that is in the image; otherwise the box centre less its perspective shift
            pixels_per_metre = self._focal[0] / depth
            columns = np.where(left & ~right, boxes[:, 2] - pixels_per_metre * footprint.half_extent_mean,
                               np.where(right & ~left, boxes[:, 0] + pixels_per_metre * footprint.half_extent_mean,
                                        columns - pixels_per_metre * footprint.shift_mean(depth)))
            column_persistent = pixels_per_metre**2 * np.where(
                left | right, footprint.half_extent_variance, footprint.shift_variance(depth))
            column_variance = self._uncertainty.pixel_std**2 + column_persistent
        horizontal = self._optical_rays(columns, boxes[:, 3]) @ self._vehicle_from_optical[:2].T  # per unit depth
        scale = np.linalg.norm(horizontal, axis=1)
        along = horizontal / scale[:, None]
        across = np.column_stack([-along[:, 1], along[:, 0]])
        positions = self._centre[:2] + depth[:, None] * horizontal
        along_outer = along[:, :, None] * along[:, None, :]
        across_outer = across[:, :, None] * across[:, None, :]
        across_scale = (depth * scale / self._focal[0]) ** 2

        def covariance(depth_part: np.ndarray, column_part: np.ndarray) -> np.ndarray:
            return ((depth_part * scale**2)[:, None, None] * along_outer
                    + (column_part * across_scale)[:, None, None] * across_outer)

        distances = np.linalg.norm(positions - self._centre[:2], axis=1)
        with np.errstate(invalid="ignore"):
            valid &= (depth > 0) & (distances <= self._max_range)
        factor = self._scales[self._priors.rows(labels)][:, None, None]
        return GroundMeasurements(positions, factor * covariance(depth_variance, column_variance), valid,
                                  factor * covariance(depth_persistent, column_persistent))

    def _near_depth(
        self, boxes: np.ndarray, labels: np.ndarray, rays: np.ndarray, top: np.ndarray, bottom: np.ndarray,
        partial: np.ndarray, extent: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Fused depth (along the optical axis) of the boxes' nearest ground points, its variance, the persistent
        part of that variance (all but the pixel noise), and whether any cue gave one. partial: boxes that show part
        of their object (cut at a side border); extent: the footprints' expected extent in depth."""
        unc, camera_height = self._uncertainty, self._centre[2]
        # (a) ground contact of the box bottom on flat ground. Cut off at the bottom border, the contact lies
        # anywhere between the camera and the ground seen at the border (uniform: half of it, std 1 / sqrt 12).
        vehicle_z = rays @ self._vehicle_from_optical[2]
        off_the_ground = np.isin(labels, [int(c) for c in OFF_THE_GROUND])
        below = (vehicle_z < self._max_sine * np.linalg.norm(rays, axis=1)) & ~off_the_ground
        ground_depth = -camera_height / np.where(below, vehicle_z, -1.0)
        cut_variance = np.where(bottom, ground_depth**2 / 12.0, 0.0)
        ground_depth = np.where(bottom, ground_depth / 2.0, ground_depth)
        # (b) box height: the depth at which the class's typical height spans the box's pixel height. An object on
        # the ground lower than the camera shows the far edge of its top (extent deeper): solve
        # pixel_height / f = camera_height / t - (camera_height - height) / (t + extent) for t (level camera).
        pixel_height = boxes[:, 3] - boxes[:, 1]
        angular_height = pixel_height / self._focal[1]
        usable_height = ~top & ~bottom & (pixel_height > 0)

        def ground_variance(depth: np.ndarray, persistent: bool = False) -> np.ndarray:
            angle_variance = unc.pitch_std**2 + (0.0 if persistent else (unc.pixel_std / self._focal[1]) ** 2)
            slope = (depth**2 + camera_height**2) / camera_height  # d depth / d depression angle
            return slope**2 * angle_variance + (depth * unc.height_std / camera_height) ** 2 + cut_variance

        # per height component (car / van): information-weighted fusion (a second pass evaluates both variances at
        # the fused depth of the first), and how well the two cues agree under that component
        nears, variances, persistents, evidence = [], [], [], []
        for share, height, height_std in self._priors.height_components(labels):
            has_height = ~np.isnan(height) & usable_height & (share > 0)
            top_extent = np.where((height < camera_height) & ~off_the_ground, extent, 0.0)
            linear = angular_height * top_extent - height
            height_depth = (np.sqrt(linear**2 + 4.0 * angular_height * camera_height * top_extent) - linear) / (
                2.0 * angular_height)

            def height_variance(depth: np.ndarray, persistent: bool = False) -> np.ndarray:
                pixel = 0.0 if persistent else 2.0 * (unc.pixel_std / pixel_height) ** 2
                return depth**2 * ((height_std / height) ** 2 + pixel)

            near, _ = _fuse(ground_depth, ground_variance(ground_depth), below,
                            height_depth, height_variance(height_depth), has_height)
            near, variance = _fuse(ground_depth, ground_variance(near), below, height_depth, height_variance(near),
                                   has_height)
            # the fused depth's persistent variance: each cue's persistent part through its fusion weight
            ground_weight = np.where(below, variance / ground_variance(near), 0.0)
            height_weight = np.where(has_height, variance / height_variance(near), 0.0)
            both = below & has_height
            # a box cut at a side may end above the object's top (the part in view can be lower than the object,
            # the detector may cut it short): its two cues may measure different things, and the fused depth is
            # as uncertain as the spread of the two about it, each weighed by its share of the fusion
            partial_cues = np.where(partial & both, ground_weight * height_weight * (ground_depth - height_depth) ** 2,
                                    0.0)
            variance = variance + partial_cues
            persistents.append(np.where(below, ground_weight**2 * ground_variance(near, True), 0.0)
                               + np.where(has_height, height_weight**2 * height_variance(near, True), 0.0)
                               + partial_cues)
            disagreement = ground_variance(near) + height_variance(near)
            evidence.append(np.log(share) + np.where(
                both, -0.5 * (ground_depth - height_depth) ** 2 / disagreement - 0.5 * np.log(disagreement), 0.0))
            nears.append(near)
            variances.append(variance)
        nears, variances, persistents = np.array(nears), np.array(variances), np.array(persistents)
        evidence = np.array(evidence)
        posterior = np.exp(evidence - evidence.max(axis=0))
        posterior /= posterior.sum(axis=0)
        near = np.nansum(posterior * nears, axis=0)
        spread = (nears - near) ** 2  # which height component: the same for every frame of the object
        variance = np.nansum(posterior * (variances + spread), axis=0)
        persistent = np.nansum(posterior * (persistents + spread), axis=0)
        has_any_height = ~np.isnan(self._priors.heights(labels)[0]) & usable_height
        valid = below | has_any_height
        return np.where(valid, near, np.nan), variance, persistent, valid

    def _footprint(self, boxes: np.ndarray, labels: np.ndarray, tangent: np.ndarray, cut: np.ndarray) -> "_Footprint":
        width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        aspect = np.where(cut, np.nan, width / height * self._focal[1] / self._focal[0])
        aspect_std = np.sqrt(2.0) * self._uncertainty.pixel_std * aspect * np.hypot(1.0 / width, 1.0 / height)
        return _Footprint(self._priors.corners(labels), self._priors.spread_corners(labels), tangent,
                          *self._priors.heights(labels), aspect, aspect_std)

    def _optical_rays(self, columns: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(N, 3) optical-frame rays with unit depth through the pixels (columns, rows)."""
        return np.column_stack([columns, rows, np.ones(len(columns))]) @ self._optical_from_pixel.T


class _PriorTables:
    """Class priors as arrays indexed by ObjectClass value; classes without a prior have a NaN height and a
    point footprint."""

    def __init__(self, priors: dict[ObjectClass, SizePrior]) -> None:
        size = max(int(c) for c in ObjectClass) + 1
        self._heights = np.full((size, 2), np.nan)
        most = max((len(p.height_components) for p in priors.values()), default=1)
        self._components = np.zeros((size, most, 3))
        self._components[:, 0] = 1.0, np.nan, np.nan  # no prior: one component without a height
        self._corners = np.zeros((size, HEADINGS, 4, 2))
        self._spread_corners = np.zeros((size, 2, HEADINGS, 4, 2))
        for object_class, prior in priors.items():
            self._heights[int(object_class)] = prior.height, prior.height_std
            self._components[int(object_class)] = 0.0
            self._components[int(object_class), :len(prior.height_components)] = prior.height_components
            self._corners[int(object_class)] = prior.footprint_corners()
            self._spread_corners[int(object_class)] = (prior.footprint_corners(prior.length_std, 0.0),
                                                       prior.footprint_corners(0.0, prior.width_std))

    def rows(self, labels: np.ndarray) -> np.ndarray:
        """Row of each label in the tables (UNKNOWN for values outside ObjectClass)."""
        return np.where((labels >= 0) & (labels < len(self._heights)), labels, int(ObjectClass.UNKNOWN))

    def heights(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self._heights[self.rows(labels)]
        return rows[:, 0], rows[:, 1]

    def height_components(self, labels: np.ndarray) -> np.ndarray:
        """(K, 3, N): share, height and height std of each class's height components (share 0: none)."""
        return self._components[self.rows(labels)].transpose(1, 2, 0)

    def corners(self, labels: np.ndarray) -> np.ndarray:
        """(N, headings, 4, 2) footprint corners (across, along the optical axis)."""
        return self._corners[self.rows(labels)]

    def spread_corners(self, labels: np.ndarray) -> np.ndarray:
        """(N, 2, headings, 4, 2) the corners' change for one std of the length and of the width."""
        return self._spread_corners[self.rows(labels)]


class _Footprint:
    """What a class's footprint does to a box, averaged over the headings the box's shape allows: the centre lies
    `offset` deeper than the nearest corner (which makes the box bottom); the box centre column is shifted by
    perspective; a box cut at a side border ends `half_extent` (lateral metres at the centre's depth) from the
    centre. First order in size / depth. The variances hold the heading's spread and the size's (spread: the
    corners' change for one std of length and of width). tangent: the azimuth's tangent (optical x / z) of the box's
    ray; aspect: the box's width / height, or NaN where the box cannot tell (cut at a border)."""

    def __init__(self, corners: np.ndarray, spread: np.ndarray, tangent: np.ndarray, height: np.ndarray,
                 height_std: np.ndarray, aspect: np.ndarray, aspect_std: np.ndarray) -> None:
        across, depth = corners[..., 0], corners[..., 1]  # (N, headings, 4)
        nearest = depth.argmin(axis=2)[..., None]
        offsets = -depth.min(axis=2)
        image_coordinate = across - tangent[:, None, None] * depth  # u ~ f (across - tangent * depth) / z
        extreme = image_coordinate.argmax(axis=2)[..., None]  # the corner making the box's far side
        # the same corners of footprints one std longer and wider: how much the offset and half extent change
        spread_depth = spread[..., 1]  # (N, 2, headings, 4)
        spread_image = spread[..., 0] - tangent[:, None, None, None] * spread_depth
        offset_spread = (np.take_along_axis(spread_depth, nearest[:, None], 3)[..., 0] ** 2).sum(axis=1)
        extent_spread = (np.take_along_axis(spread_image, extreme[:, None], 3)[..., 0] ** 2).sum(axis=1)
        far_across = np.take_along_axis(across, extreme, 2)[..., 0]
        far_depth = np.take_along_axis(depth, extreme, 2)[..., 0]
        half_extents = image_coordinate.max(axis=2)
        # the box centre column (u_max + u_min) / 2 is the centre's seen `shift_numerator / depth` metres aside
        shift_numerators = -far_across * far_depth + tangent[:, None] * far_depth**2
        # heading likelihood from the box's shape: width / height ~ 2 half_extent / height, relative noise from the
        # class's height spread and the pixel noise
        expected_aspect = 2.0 * half_extents / height[:, None]
        relative_std = np.sqrt((height_std / height) ** 2 + (aspect_std / aspect) ** 2)[:, None]
        log_likelihood = -0.5 * (np.log(aspect[:, None] / expected_aspect) / relative_std) ** 2
        usable = np.isfinite(log_likelihood).all(axis=1, keepdims=True)
        log_likelihood = np.where(usable, log_likelihood, 0.0)
        weights = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        self.offset_mean, self.offset_variance = _moments(offsets, weights)
        self.offset_variance += (weights * offset_spread).sum(axis=1)
        self.half_extent_mean, self.half_extent_variance = _moments(half_extents, weights)
        self.half_extent_variance += (weights * extent_spread).sum(axis=1)
        self._shift_mean, self._shift_variance = _moments(shift_numerators, weights)

    def shift_mean(self, depth: np.ndarray) -> np.ndarray:
        return self._shift_mean / depth

    def shift_variance(self, depth: np.ndarray) -> np.ndarray:
        return self._shift_variance / depth**2


def _moments(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and variance along axis 1."""
    mean = (weights * values).sum(axis=1)
    return mean, (weights * (values - mean[:, None]) ** 2).sum(axis=1)


def _fuse(
    first: np.ndarray, first_variance: np.ndarray, first_valid: np.ndarray,
    second: np.ndarray, second_variance: np.ndarray, second_valid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-variance weighted mean of two estimates, each used where valid (NaN where neither is)."""
    first_information = np.where(first_valid, 1.0 / first_variance, 0.0)
    second_information = np.where(second_valid, 1.0 / second_variance, 0.0)
    information = first_information + second_information
    mean = (first_information * np.where(first_valid, first, 0.0)
            + second_information * np.where(second_valid, second, 0.0)) / information
    return mean, 1.0 / information
