"""Camera intrinsics without ROS: checking a camera matrix, the camera model of a CameraInfo (its lens distortion
removed with OpenCV), reading camera_calibration / camera_info_manager YAML files, and a pinhole guess from the field
of view when a camera has no calibration at all."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

# The distortion models of sensor_msgs/CameraInfo (sensor_msgs/distortion_models.hpp) OpenCV handles, with the numbers
# of coefficients accepted: plumb_bob (k1, k2, p1, p2[, k3]) and rational_polynomial (k1, k2, p1, p2, k3, k4, k5,
# k6[, s1..s4[, tx, ty]]) are OpenCV's pinhole model, equidistant (k1..k4) its fisheye model ("fisheye": some drivers'
# name for it).
PINHOLE_MODELS = {"plumb_bob": (4, 5), "rational_polynomial": (8, 12, 14)}
FISHEYE_MODELS = {"equidistant": (4,), "fisheye": (4,)}
# Undistortion iterates: as many steps and as close as needed for strong wide-angle lenses (OpenCV's default, 5
# steps, leaves pixels of error at their image corners).
UNDISTORT_CRITERIA = (3, 100, 1e-10)  # cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, steps, epsilon


class CalibrationError(ValueError):
    """Intrinsics that cannot describe a pinhole camera, or a calibration file that cannot be read."""


def camera_matrix(k, p, width: int, height: int) -> np.ndarray:
    """The 3x3 camera matrix (rectified P if set, else K), checked for NaN, zero focal lengths and a zero size."""
    projection = np.asarray(p, dtype=float).reshape(3, 4)
    matrix = projection[:, :3] if projection[0, 0] > 0 else np.asarray(k, dtype=float).reshape(3, 3)
    if not np.all(np.isfinite(matrix)):
        raise CalibrationError("camera matrix contains NaN or infinity")
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise CalibrationError(f"focal lengths must be > 0, got fx={matrix[0, 0]}, fy={matrix[1, 1]}")
    if width == 0 or height == 0:
        raise CalibrationError("image size is zero")
    return matrix


class CameraModel:
    """How the pixels of the camera's (raw) images map to the rectified pinhole camera `matrix` that the geometry
    uses: the 3x3 of P (else K), after removing the lens distortion of `distortion_model` with coefficients `d`
    (camera matrix `k`, rectification `r`), as image_proc's rectification would. Without distortion (no
    coefficients, or all zero) pixels are used as they are: the image is taken as rectified."""

    def __init__(self, matrix: np.ndarray, distortion_model: str = "", d=(), k=None, r=None) -> None:
        self.matrix = np.asarray(matrix, dtype=float).reshape(3, 3)
        self.distortion_model = distortion_model
        self.d = np.asarray(d, dtype=float).ravel()
        self.k = self.matrix if k is None else np.asarray(k, dtype=float).reshape(3, 3)
        r = np.eye(3) if r is None else np.asarray(r, dtype=float).reshape(3, 3)
        self.r = np.eye(3) if not r.any() else r  # an all-zero R (some drivers send it): no rectification
        self.distorted = bool(self.d.any())
        if not self.distorted:
            return
        if not np.all(np.isfinite(self.d)):
            raise CalibrationError("distortion coefficients contain NaN or infinity")
        counts = {**PINHOLE_MODELS, **FISHEYE_MODELS}.get(distortion_model)
        if counts is None:
            raise CalibrationError(f"distortion model {distortion_model!r} is not one of "
                                   f"{', '.join({**PINHOLE_MODELS, **FISHEYE_MODELS})}")
        if self.d.size not in counts:
            raise CalibrationError(f"{distortion_model} needs {' or '.join(map(str, counts))} distortion "
                                   f"coefficients, got {self.d.size}")
        if not np.all(np.isfinite(self.k)) or self.k[0, 0] <= 0 or self.k[1, 1] <= 0:
            raise CalibrationError(f"K must have focal lengths > 0 to undistort, got fx={self.k[0, 0]}, "
                                   f"fy={self.k[1, 1]}")

    @classmethod
    def pinhole(cls, matrix: np.ndarray) -> "CameraModel":
        """A camera without distortion."""
        return cls(matrix)

    @property
    def fisheye(self) -> bool:
        return self.distortion_model in FISHEYE_MODELS

    def describe(self) -> str:
        """For /diagnostics and logs: the model and its coefficients, or that pixels are taken as they are."""
        if not self.distorted:
            return "no distortion"
        return f"{self.distortion_model} distortion ({', '.join(f'{v:.4g}' for v in self.d)}) removed"

    def same_as(self, other: "CameraModel | None") -> bool:
        return (other is not None and self.distortion_model == other.distortion_model
                and self.d.shape == other.d.shape and np.allclose(self.matrix, other.matrix)
                and np.allclose(self.d, other.d) and np.allclose(self.k, other.k) and np.allclose(self.r, other.r))

    def undistort_points(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) raw pixels -> (N, 2) pixels of the rectified camera `matrix` (unchanged without distortion)."""
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        if not self.distorted or not len(points):
            return points
        import cv2  # only cameras with distortion need OpenCV here

        source = np.ascontiguousarray(points.reshape(-1, 1, 2))
        if self.fisheye:
            result = cv2.fisheye.undistortPoints(source, self.k, self.d, R=self.r, P=self.matrix,
                                                 criteria=UNDISTORT_CRITERIA)
        else:
            result = cv2.undistortPointsIter(source, self.k, self.d, self.r, self.matrix, UNDISTORT_CRITERIA)
        return result.reshape(-1, 2)

    def undistort_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) x_min, y_min, x_max, y_max boxes of raw pixels -> boxes in the rectified camera: the bottom-centre
        (the ground contact) and top-centre pixels undistorted exactly, the width that of the undistorted left and
        right edge midpoints, centred on the bottom-centre's column (unchanged without distortion)."""
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        if not self.distorted or not len(boxes):
            return boxes
        x_centre, y_centre = (boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0
        points = np.concatenate([np.column_stack([x_centre, boxes[:, 3]]), np.column_stack([x_centre, boxes[:, 1]]),
                                 np.column_stack([boxes[:, 0], y_centre]), np.column_stack([boxes[:, 2], y_centre])])
        bottom, top, left, right = self.undistort_points(points).reshape(4, -1, 2)
        half_width = (right[:, 0] - left[:, 0]) / 2.0
        return np.column_stack([bottom[:, 0] - half_width, top[:, 1], bottom[:, 0] + half_width, bottom[:, 1]])


def pinhole_intrinsics(width: int, height: int, horizontal_fov_deg: float) -> np.ndarray:
    """An undistorted pinhole camera with this horizontal field of view, principal point at the image centre."""
    if not 0 < horizontal_fov_deg < 180:
        raise CalibrationError(f"field of view must lie in (0, 180) degrees, got {horizontal_fov_deg}")
    if width <= 0 or height <= 0:
        raise CalibrationError(f"a field-of-view guess needs the image size, got {width}x{height}")
    focal = (width / 2) / math.tan(math.radians(horizontal_fov_deg) / 2)
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])


@dataclass
class CameraCalibration:
    """The content of a camera_info_manager YAML file (what `camera_calibration` writes)."""

    camera_name: str
    width: int
    height: int
    k: np.ndarray  # 3x3
    distortion_model: str
    d: np.ndarray
    r: np.ndarray  # 3x3
    p: np.ndarray  # 3x4

    @property
    def intrinsics(self) -> np.ndarray:
        """The 3x3 camera matrix of the geometry (rectified P if set, else K), checked."""
        return camera_matrix(self.k, self.p, self.width, self.height)

    @property
    def camera_model(self) -> CameraModel:
        """The camera matrix with the lens distortion to remove from raw pixels; CalibrationError when either
        cannot be used."""
        return CameraModel(self.intrinsics, self.distortion_model, self.d, self.k, self.r)


def _matrix(document: dict, key: str, path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """document[key]["data"] as an array of `shape` (flat when None)."""
    entry = document.get(key)
    if not isinstance(entry, dict) or "data" not in entry:
        raise CalibrationError(f"{path}: no {key} (rows, cols, data)")
    try:
        data = np.asarray(entry["data"], dtype=float).ravel()
    except (TypeError, ValueError):
        raise CalibrationError(f"{path}: {key}.data must be a list of numbers") from None
    if shape is not None and data.size != shape[0] * shape[1]:
        raise CalibrationError(f"{path}: {key} has {data.size} values, expected {shape[0]}x{shape[1]}")
    return data.reshape(shape) if shape else data


def read_camera_info_yaml(path: str | Path) -> CameraCalibration:
    """Read a camera_info_manager YAML file; CalibrationError names the file and what is wrong with it."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CalibrationError(f"{path}: cannot read the calibration file: {type(error).__name__}: "
                               f"{str(error).splitlines()[0] if str(error) else ''}") from None
    if not isinstance(document, dict):
        raise CalibrationError(f"{path}: not a camera_info YAML file (expected image_width, camera_matrix, ...)")
    try:
        width, height = int(document["image_width"]), int(document["image_height"])
    except (KeyError, TypeError, ValueError):
        raise CalibrationError(f"{path}: image_width and image_height must be integers") from None
    calibration = CameraCalibration(
        camera_name=str(document.get("camera_name", "")), width=width, height=height,
        k=_matrix(document, "camera_matrix", path, (3, 3)),
        distortion_model=str(document.get("distortion_model", "plumb_bob")),
        d=_matrix(document, "distortion_coefficients", path),
        r=_matrix(document, "rectification_matrix", path, (3, 3)) if "rectification_matrix" in document
        else np.eye(3),
        p=_matrix(document, "projection_matrix", path, (3, 4)) if "projection_matrix" in document
        else np.zeros((3, 4)),
    )
    try:
        calibration.camera_model
    except CalibrationError as error:
        raise CalibrationError(f"{path}: {error}") from None
    return calibration


NO_METRIC_POSITIONS = ("no: no valid CameraInfo, camera_info_file or fov_deg; detections and tracks in image space "
                       "only, no metric positions")


def fallback_intrinsics(p: dict) -> tuple[CameraModel | None, tuple[int, int] | None, str]:
    """Intrinsics for a camera without (valid) CameraInfo, from the tracker parameters camera_info_file, else
    fov_deg with image_width and image_height: (camera model or None, image (width, height), where they come from,
    for /diagnostics)."""
    if p["camera_info_file"]:
        calibration = read_camera_info_yaml(p["camera_info_file"])
        return (calibration.camera_model, (calibration.width, calibration.height),
                f"yes: from {p['camera_info_file']}")
    if p["fov_deg"]:
        size = (p["image_width"], p["image_height"])
        return (CameraModel.pinhole(pinhole_intrinsics(*size, p["fov_deg"])), size,
                f"yes: a pinhole guess from a {p['fov_deg']:g} degree field of view (not calibrated)")
    return None, None, NO_METRIC_POSITIONS
