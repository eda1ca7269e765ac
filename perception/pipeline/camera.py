"""One camera's whole pipeline without ROS: image messages, CameraInfo and odometry in; detections, tracks, signs,
sign tracks and predictions out. Offline evaluation, the fleet and the benchmarks run this object; the nodes run
its stages, one per process (perception/nodes), with the same parameters (perception.pipeline.parameters)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from perception.pipeline.detection import DetectionStage, SignStage
from perception.pipeline.health import Health, Log, no_log
from perception.pipeline.models import ModelCache
from perception.pipeline.parameters import node_parameters
from perception.pipeline.prediction import CameraPrediction
from perception.pipeline.stages import SKIPPED, StageOutput
from perception.pipeline.tracking import CameraTracking
from perception.types import Detections

if TYPE_CHECKING:
    from perception.graph import Graph


class PipelineSetupError(RuntimeError):
    """A stage's model cannot be loaded (the reason is the stage's status)."""


@dataclass
class FrameResult:
    """What one camera frame gave, with the CPU time from its decode to each output (ns)."""

    detections: Detections | None = None  # None: the image could not be decoded (rejected.bad_image)
    image_size: tuple[int, int] | None = None  # (width, height) of the decoded image
    detected_ns: int = 0
    tracks: StageOutput | None = None  # None after a bad image; a SKIPPED verdict (bad stamp) carries no tracks
    tracked_ns: int = 0
    predictions: StageOutput | None = None
    predicted_ns: int = 0
    signs: Detections | None = None  # only on the frames the sign rate picks
    sign_tracks: StageOutput | None = None
    signs_ns: int = 0

    @property
    def processed(self) -> bool:
        return self.predictions is not None and self.predictions.verdict not in SKIPPED


@dataclass
class CameraParameters:
    """The parameters of one camera's nodes, from the parameter table and the graph file."""

    detector: dict[str, Any]
    tracker: dict[str, Any]
    predictor: dict[str, Any]
    signs: dict[str, Any] | None = None  # None: the graph runs no sign node for this camera
    namespace: str = ""

    @classmethod
    def from_graph(cls, graph: "Graph", camera: str) -> "CameraParameters":
        namespace = f"/perception/{camera}"
        has_signs = any(n.executable == "signs" and n.namespace == namespace for n in graph.nodes)
        return cls(*(node_parameters(graph, executable, namespace) for executable in ("detector", "tracker",
                                                                                       "predictor")),
                   node_parameters(graph, "signs", namespace) if has_signs else None, namespace)


@dataclass
class CameraPipeline:
    """The stages of one camera in one process, sharing one Health (counters and rejections of all of them).

    models: where the models come from (a fleet worker keeps them for all its bags); detector_options: backend
    options of the detector (e.g. threads=1 in a one-CPU worker)."""

    parameters: CameraParameters
    log: Log = no_log
    models: ModelCache = field(default_factory=ModelCache)
    detector_options: dict[str, Any] = field(default_factory=dict)
    health: Health = field(init=False)

    def __post_init__(self) -> None:
        p = self.parameters
        self.health = Health(self.log)
        self.detection = DetectionStage(p.detector, self.health, self.models, **self.detector_options)
        self.tracking = CameraTracking(p.tracker, self.health)
        self.prediction = CameraPrediction(p.predictor, self.health, self.models)
        self.signs = SignStage(p.signs, self.health, self.models) if p.signs is not None else None
        self.tracks_signs = self.signs is not None and self.tracking.signs is not None

    def load(self) -> None:
        """Load every model; PipelineSetupError with the reason when one cannot run."""
        for stage in (self.detection, self.prediction, self.signs):
            if stage is not None and not stage.load():
                raise PipelineSetupError(f"{self.parameters.namespace}: {self.health.message}")

    def prepare(self, image_size: tuple[int, int]) -> None:
        """Run the loaded detector and sign recognizer once on a blank frame of `image_size` (width, height), so that
        a backend that compiles per input size (OpenVINO) does it now rather than in the first frame. Nothing is
        tracked or counted; a size of 0 does nothing."""
        width, height = image_size
        if width <= 0 or height <= 0:
            return
        blank = np.zeros((height, width, 3), np.uint8)
        self.detection.detector.detect(blank)
        if self.signs is not None:
            self.signs.recognizer.recognize(blank)

    def process(self, message: Any, stamp: float) -> FrameResult:
        """One image message (Image or CompressedImage, rclpy or rosbags) with its header stamp in seconds."""
        self.health.count("frames_received")
        start = time.perf_counter()  # outputs' times count from the decode
        output = self.detection.detect(message)
        result = FrameResult(detections=None if output is None else output[1], detected_ns=_since(start))
        if result.detections is None:
            return result
        image = output[0]  # the image's size checks the intrinsics', its frame_id selects the camera pose
        result.image_size = (image.shape[1], image.shape[0])
        result.tracks = self.tracking.track(result.detections, stamp, result.image_size, message.header.frame_id)
        result.tracked_ns = _since(start)
        if result.tracks.verdict in SKIPPED:
            return result
        result.predictions = self.prediction.predict(result.tracks.tracks, stamp, result.tracks.ground_frame_id)
        result.predicted_ns = _since(start)
        if result.processed:
            self.health.count("frames_processed")
        if self.signs is not None and self.signs.due(stamp):
            self._recognize_signs(image, message.header.frame_id, stamp, result)
        return result

    def _recognize_signs(self, image: Any, frame_id: str, stamp: float, result: FrameResult) -> None:
        """The frame's signs from its image as the detector decoded it (not decoded twice)."""
        start = time.perf_counter()
        result.signs = self.signs.recognize_image(image)
        result.signs_ns = _since(start)
        if self.tracks_signs:
            result.sign_tracks = self.tracking.track_signs(result.signs, stamp, frame_id, result.image_size)


def _since(start: float) -> int:
    return round((time.perf_counter() - start) * 1e9)
