"""Camera intrinsics without ROS: checking a camera matrix, reading camera_calibration / camera_info_manager YAML
files, and a pinhole guess from the field of view when a camera has no calibration at all."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


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
        return camera_matrix(self.k, self.p, self.width, self.height)


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
        calibration.intrinsics
    except CalibrationError as error:
        raise CalibrationError(f"{path}: {error}") from None
    return calibration


NO_METRIC_POSITIONS = ("no: no valid CameraInfo, camera_info_file or fov_deg; detections and tracks in image space "
                       "only, no metric positions")


def fallback_intrinsics(p: dict) -> tuple[np.ndarray | None, tuple[int, int] | None, str]:
    """Intrinsics for a camera without (valid) CameraInfo, from the tracker parameters camera_info_file, else
    fov_deg with image_width and image_height: (matrix or None, image (width, height), where they come from, for
    /diagnostics)."""
    if p["camera_info_file"]:
        calibration = read_camera_info_yaml(p["camera_info_file"])
        return calibration.intrinsics, (calibration.width, calibration.height), f"yes: from {p['camera_info_file']}"
    if p["fov_deg"]:
        size = (p["image_width"], p["image_height"])
        return (pinhole_intrinsics(*size, p["fov_deg"]), size,
                f"yes: a pinhole guess from a {p['fov_deg']:g} degree field of view (not calibrated)")
    return None, None, NO_METRIC_POSITIONS
