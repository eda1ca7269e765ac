"""The one parameter table: every node parameter of the graph, declared once (name, default, range, description).

The nodes declare their ROS parameters from these tables (perception.ros.parameters), offline and fleet evaluation
resolve the graph file's values against them (`node_parameters`), CLI options are made from them
(perception.cli.parameter_options), and docs/parameters.md is generated from them (`markdown_reference`).
config/perception.yaml is the deployed configuration: the table's default applies where the graph file says nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perception.detection.factory import BACKENDS, PRECISIONS
from perception.pipeline.fusion import FusionConfig
from perception.pipeline.stages import SIGN_TRACKER
from perception.signs.gtsdb import DEFAULT_IMGSZ
from perception.tracking.tracker import TrackerConfig

if TYPE_CHECKING:
    from pathlib import Path

    from perception.graph import Graph

RELIABILITY = ("reliable", "best_effort")


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = True  # most parameters take effect at start-up only

    def problem(self, value: Any) -> str | None:
        """Why `value` cannot be this parameter's value (type, range, choices); None when it can."""
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):  # as ROS 2 refuses it
            return f"{self.name}={value!r}: expected a floating-point number (write {value}.0)"
        if type(value) is not kind:
            return f"{self.name}={value!r}: expected {kind.__name__}"
        if kind is list and not all(isinstance(item, str) for item in value):  # the one list type: string arrays
            return f"{self.name}={value!r}: expected a list of strings"
        if self.min is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            if not (math.isfinite(value) and self.min <= value <= self.max):
                return f"{self.name}={value!r} is outside [{self.min:g}, {self.max:g}]"
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} is not one of {', '.join(self.choices)}"
        return None


# Camera body pose in the vehicle frame (REP 103), shared by the nodes that need it.
CAMERA_POSE = (
    ParameterSpec("vehicle_frame", "base_link", "frame of ground-plane positions (x forward, y left, z up)"),
    ParameterSpec("camera_x", 1.5, "camera position, metres forward of vehicle_frame", min=-50.0, max=50.0),
    ParameterSpec("camera_y", 0.0, "camera position, metres left of vehicle_frame", min=-50.0, max=50.0),
    ParameterSpec("camera_z", 1.4, "camera height above the ground, metres", min=0.05, max=20.0),
    ParameterSpec("camera_roll", 0.0, "camera roll, radians", min=-3.1416, max=3.1416),
    ParameterSpec("camera_pitch", 0.0, "camera pitch, radians (positive looks down)", min=-1.5708, max=1.5708),
    ParameterSpec("camera_yaw", 0.0, "camera yaw, radians (positive looks left)", min=-3.1416, max=3.1416),
)

# Intrinsics for a camera without (valid) CameraInfo; a valid CameraInfo replaces them.
FALLBACK_INTRINSICS = (
    ParameterSpec("camera_info_file", "", "camera_calibration / camera_info_manager YAML file with the intrinsics"),
    ParameterSpec("fov_deg", 0.0, "horizontal field of view for a pinhole guess of the intrinsics; 0: none",
                  min=0.0, max=179.0),
    ParameterSpec("image_width", 0, "image width in pixels, for the fov_deg guess", min=0, max=100000),
    ParameterSpec("image_height", 0, "image height in pixels, for the fov_deg guess", min=0, max=100000),
)

DETECTOR = (
    ParameterSpec("model", "", "model file: ultralytics .pt, ultralytics ONNX or TensorRT engine; empty = bundled yolov8n"),
    ParameterSpec("backend", "auto", "auto: TensorRT on a GPU, OpenVINO INT8 on a CPU (else ONNX Runtime float)",
                  choices=BACKENDS),
    ParameterSpec("precision", "auto", "auto: fp16 on TensorRT, INT8 on OpenVINO, else float32; fp32: the float model",
                  choices=PRECISIONS),
    ParameterSpec("fallback", True, "try the next backend (tensorrt -> torch -> onnxruntime) when one cannot run"),
    ParameterSpec("device", "", "torch/TensorRT device such as cuda:0; empty = automatic"),
    ParameterSpec("imgsz", 640, "network input size in pixels (multiple of 32)", min=32, max=2048),
    ParameterSpec("conf_threshold", 0.25, "minimum detection score", min=0.0, max=1.0),
    ParameterSpec("iou_threshold", 0.45, "IoU above which NMS suppresses a box of the same class", min=0.0, max=1.0),
    ParameterSpec("unknown_classes", "drop", "detector classes without a mapping in the class map",
                  choices=("drop", "keep")),
    ParameterSpec("image_transport", "compressed", "type of the image topic", choices=("raw", "compressed")),
    ParameterSpec("qos_reliability", "best_effort", "reliability of the image subscription", choices=RELIABILITY),
    ParameterSpec("qos_depth", 1, "queue depth of the image subscription", min=1, max=100),
    ParameterSpec("publish_annotated", False, "also publish detections/image with boxes drawn"),
)

TRACKER = CAMERA_POSE + FALLBACK_INTRINSICS + (
    ParameterSpec("high_score", TrackerConfig.high_score, "first-stage detection score", min=0.0, max=1.0),
    ParameterSpec("low_score", TrackerConfig.low_score, "lowest score used (second stage)", min=0.0, max=1.0),
    ParameterSpec("max_coast_time", TrackerConfig.max_coast_time,
                  "seconds a track survives without detections (keeps ids through detector restarts)",
                  min=0.0, max=60.0),
    ParameterSpec("class_change_cost", TrackerConfig.class_change_cost,
                  "association cost added when a detection's vehicle class (car, truck, bus) differs from the "
                  "track's most probable class; 1: vehicle classes never mix", min=0.0, max=1.0),
    ParameterSpec("report_coasting", True,
                  "also publish confirmed tracks without a detection in this frame (frames_since_update > 0)"),
    ParameterSpec("reset_after_backward_jump_s", 2.0, "stamps this far back reset the tracker (a bag restarting)",
                  min=0.0, max=3600.0),
    ParameterSpec("qos_reliability", "reliable", "reliability of the detections subscription", choices=RELIABILITY),
    ParameterSpec("qos_depth", 10, "queue depth of the detections subscription", min=1, max=1000),
    ParameterSpec("odometry_source", "topic",
                  "vehicle pose for the odom frame: the odometry topic, the odom -> vehicle_frame transform (tf, "
                  "needs tf2_ros) or none (ground positions in vehicle_frame)", choices=("topic", "tf", "none")),
    ParameterSpec("odom_frame", "", "expected frame of the odometry poses; empty: the first odometry's frame "
                  "(tf: 'odom')"),
    ParameterSpec("odometry_tolerance_s", 0.1, "farthest odometry stamp from an image stamp still used "
                  "(interpolated or extrapolated)", min=0.0, max=10.0),
    ParameterSpec("odometry_timeout_s", 1.0, "seconds without a pose after which ground tracking falls back to "
                  "vehicle_frame (until then the ground state coasts in the odom frame)", min=0.0, max=60.0),
    ParameterSpec("odometry_qos_reliability", "best_effort", "reliability of the odometry subscription (keep-last "
                  "100); best_effort connects to reliable and best-effort publishers, reliable only to reliable ones",
                  choices=RELIABILITY),
    ParameterSpec("track_signs", True, "also track the sign node's signs (input signs) and publish sign_tracks"),
    ParameterSpec("sign_max_coast_time", 2.5, "seconds a sign track lives without a sign: signs come at the sign "
                  "node's rate_hz (1 Hz), so a track outlives one sign frame without its sign", min=0.0, max=60.0),
)

PREDICTOR = (
    ParameterSpec("model", "", "predictor checkpoint (.pt); empty = bundled model"),
    ParameterSpec("horizon_s", 0.0, "how far ahead to predict, seconds; 0 = the model's trained horizon, longer is "
                  "extrapolated (PredictedPath.model_steps)", min=0.0, max=30.0),
    ParameterSpec("time_step_s", 0.1, "time between predicted positions, seconds", min=0.01, max=5.0),
    ParameterSpec("history_s", 3.0, "seconds of track history kept per track", min=0.1, max=60.0),
    ParameterSpec("reset_after_backward_jump_s", 2.0, "stamps this far back clear all histories", min=0.0, max=3600.0),
    ParameterSpec("qos_reliability", "reliable", "reliability of the tracks subscription", choices=RELIABILITY),
    ParameterSpec("qos_depth", 10, "queue depth of the tracks subscription", min=1, max=1000),
)

SIGNS = (
    ParameterSpec("detector_model", "", "sign detector (.pt or ONNX); empty = bundled models/signs one"),
    ParameterSpec("classifier_model", "", "sign classifier ONNX; empty = bundled models/signs one"),
    ParameterSpec("backend", "auto", "inference backend of the sign detector (auto: TensorRT on an NVIDIA GPU, falling "
                  "back; OpenVINO on a CPU, falling back to ONNX Runtime)", choices=BACKENDS),
    ParameterSpec("precision", "auto", "auto: fp16 on TensorRT, INT8 on OpenVINO (the bundled detector's Q/DQ copy), "
                  "else float32; fp32: the float model", choices=PRECISIONS),
    ParameterSpec("imgsz", DEFAULT_IMGSZ, "sign detector input long side at most (multiple of 32)", min=32, max=4096),
    ParameterSpec("upscale", False, "enlarge frames narrower than imgsz to it: finds more small, far signs at "
                  "(imgsz / width)^2 the cost (docs/signs.md)"),
    ParameterSpec("conf_threshold", 0.1, "minimum sign score (detector x classifier)", min=0.0, max=1.0),
    ParameterSpec("rate_hz", 1.0, "most frames processed per second (0 = every frame it can); offline evaluation "
                  "counts the seconds in image stamps", min=0.0, max=100.0),
    ParameterSpec("threads", 1, "CPU threads of the sign networks", min=1, max=64),
    ParameterSpec("nice", 10, "niceness added to the sign thread (Linux): CPU goes to the main detector first",
                  min=0, max=19),
    ParameterSpec("image_transport", "compressed", "type of the image topic", choices=("raw", "compressed")),
    ParameterSpec("qos_reliability", "best_effort", "reliability of the image subscription", choices=RELIABILITY),
)

VISUALIZER = CAMERA_POSE + (
    ParameterSpec("camera_frame", "camera_optical_frame", "frame_id of the camera images (optical frame)"),
)

FUSION = (
    ParameterSpec("cameras", [], "names of the cameras whose tracks and predictions are fused (their namespaces "
                  "under /perception); the graph file's cameras by `\"{cameras}\"`"),
    ParameterSpec("gate_probability", FusionConfig.gate_probability,
                  "chi-square (2 dof) probability within which two cameras' tracks of compatible classes become one "
                  "object", min=0.5, max=0.999999),
    ParameterSpec("keep_probability", FusionConfig.keep_probability,
                  "chi-square (2 dof) probability beyond which a linked camera track leaves its object (hysteresis: "
                  "not below gate_probability)", min=0.5, max=0.999999),
    ParameterSpec("max_age_s", FusionConfig.max_age_s, "a camera whose newest tracks are older than this is left "
                  "out of a cycle; tracks waiting this long for their predictions are given up (the tracker's "
                  "max_coast_time)", min=0.0, max=60.0),
    ParameterSpec("sync_window_s", FusionConfig.sync_window_s,
                  "cameras' outputs whose image stamps lie within this of each other make one cycle, one list "
                  "(cameras triggered together); keep it below every camera's frame period", min=0.0, max=0.05),
    ParameterSpec("sync_timeout_s", FusionConfig.sync_timeout_s,
                  "a cycle goes out at the latest this long after its first camera's output, without the expected "
                  "cameras still missing (counted as cycles_without_camera)", min=0.0, max=10.0),
    ParameterSpec("qos_reliability", "reliable", "reliability of the tracks and predicted_objects subscriptions",
                  choices=RELIABILITY),
    ParameterSpec("qos_depth", 10, "queue depth of the tracks and predicted_objects subscriptions", min=1, max=1000),
)

TABLES: dict[str, tuple[ParameterSpec, ...]] = {
    "detector": DETECTOR, "tracker": TRACKER, "predictor": PREDICTOR, "signs": SIGNS, "visualizer": VISUALIZER,
    "fusion": FUSION,
}


def defaults(executable: str) -> dict[str, Any]:
    """The table's defaults of a node executable."""
    return {spec.name: spec.default for spec in TABLES[executable]}


def resolve(executable: str, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A node's parameters from given `values` over the table's defaults, as the node would take them: a value that
    the table refuses (type, range, choices) is replaced by the default and named in the returned problems, and so is
    a name the node does not declare (ignored)."""
    table = {spec.name: spec for spec in TABLES[executable]}
    resolved, problems = defaults(executable), []
    for name, value in values.items():
        spec = table.get(name)
        if spec is None:
            problems.append(f"{executable}: unknown parameter {name!r} (ignored)")
        elif (reason := spec.problem(value)) is not None:
            problems.append(f"{executable}: {reason}; using the default {spec.default!r}")
        else:
            resolved[name] = value
    return resolved, problems


def node_parameters(graph: "Graph", executable: str, namespace: str) -> dict[str, Any]:
    """A node's parameters as the node would see them: the table's defaults updated by the graph file; a value the
    node would refuse raises ValueError (an evaluation must run what the vehicle runs, or say why it cannot)."""
    node = next((n for n in graph.nodes if n.executable == executable and n.namespace == namespace), None)
    if node is None:
        raise ValueError(f"the graph has no {executable} node in {namespace}")
    resolved, problems = resolve(executable, node.parameters)
    if problems:
        raise ValueError(f"{node.full_name}: " + "; ".join(problems))
    return resolved


def deployed_parameters(executable: str, config: "Path | None" = None, camera: str = "front") -> dict[str, Any]:
    """A node's parameters in the graph file `config` (default: the installed config/perception.yaml, the deployed
    configuration) for `camera`: what every evaluation and benchmark runs unless it says otherwise."""
    from perception.graph import load_graph
    from perception.resources import config_path

    return node_parameters(load_graph(config or config_path("perception.yaml")), executable, f"/perception/{camera}")


def markdown_reference() -> str:
    """docs/parameters.md: one table per node, from TABLES."""
    lines = ["# Node parameters", "",
             "Generated from `perception/pipeline/parameters.py` by `python -m perception.pipeline.parameters "
             "> docs/parameters.md`; a test fails when this file is stale. The defaults are the nodes' own; "
             "`config/perception.yaml` (the deployed graph) sets some of them differently.", ""]
    for executable, table in TABLES.items():
        lines += [f"## {executable}", "", "| parameter | default | range / choices | description |",
                  "|---|---|---|---|"]
        for spec in table:
            limits = (", ".join(spec.choices) if spec.choices
                      else f"{spec.min:g} .. {spec.max:g}" if spec.min is not None else "")
            read_only = "" if spec.read_only else " (can be changed at run time)"
            lines.append(f"| `{spec.name}` | `{spec.default!r}` | {limits} | {spec.description}{read_only} |")
        lines.append("")
    lines += ["## The sign tracker", "",
              "The tracker tracks the sign node's signs with its own parameters except these fixed settings "
              "(`perception.pipeline.stages.SIGN_TRACKER`):", "",
              *(f"- `{name}`: `{value!r}`" for name, value in SIGN_TRACKER.items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_reference(), end="")
