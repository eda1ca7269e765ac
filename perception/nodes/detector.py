"""Node `detector`: camera images in, DetectedObjects out (newest-frame policy, never a backlog).

Subscribes  image        sensor_msgs/Image or sensor_msgs/CompressedImage (parameter image_transport)
Publishes   detections   perception/DetectedObjects, header = the image's stamp and frame_id
            detections/image  annotated sensor_msgs/Image (parameter publish_annotated)
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
"""
from __future__ import annotations

import time
import traceback

from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from perception.detection.errors import DetectorSetupError
from perception.detection.factory import BACKENDS, PRECISIONS, setup_failure_reason
from perception.imaging import ImageDecodeError, decode_image_message
from perception.msg import DetectedObjects
from perception.ros.conversions import bgr_to_image, detections_to_msg, stamp_seconds
from perception.ros.diagnostics import ERROR, OK, WARN, NodeDiagnostics
from perception.ros.latest import NewestMessageWorker
from perception.ros.node_main import run_node
from perception.ros.parameters import ParameterSpec, declare_parameters
from perception.ros.qos import RELIABILITY, qos_profile
from perception.pipeline.stages import detector_from_parameters
from perception.visualization.draw import draw_detections

PARAMETERS = [
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
    ParameterSpec("qos_reliability", "best_effort", "reliability of the image subscription",
                  choices=tuple(RELIABILITY)),
    ParameterSpec("qos_depth", 1, "queue depth of the image subscription", min=1, max=100),
    ParameterSpec("publish_annotated", False, "also publish detections/image with boxes drawn"),
]


class DetectorNode(Node):
    def __init__(self) -> None:
        super().__init__("detector")
        self.params = declare_parameters(self, PARAMETERS)
        self.diagnostics = NodeDiagnostics(self)
        self.detector = None
        self.detections_publisher = self.create_publisher(DetectedObjects, "detections", 10)
        self.annotated_publisher = (self.create_publisher(Image, "detections/image", 2)
                                    if self.params["publish_annotated"] else None)
        # Topics are advertised before the model loads (in the worker), so a long engine build does not
        # look like a dead node.
        self.worker = NewestMessageWorker("detector", self.diagnostics, self.process, setup=self.load_detector,
                                          unit="frames")
        image_type = CompressedImage if self.params["image_transport"] == "compressed" else Image
        self.create_subscription(image_type, "image", self.worker.submit,
                                 qos_profile(self.params["qos_reliability"], self.params["qos_depth"]))

    def load_detector(self) -> bool:
        self.diagnostics.set_status(WARN, "loading model")
        try:
            self.detector = detector_from_parameters(self.params, status_callback=self.report_setup)
        except Exception as error:  # whatever a backend raises, the node stays up and says why on /diagnostics
            reason = setup_failure_reason(error)
            self.get_logger().error(f"detector cannot start: {reason}")
            if not isinstance(error, (DetectorSetupError, ValueError, OSError)):
                self.get_logger().error(traceback.format_exc())
            self.diagnostics.set_status(ERROR, f"no detector: {reason}")
            return False
        self.diagnostics.extra["backend"] = self.detector.backend_name
        self.diagnostics.set_status(OK, f"running ({self.detector.backend_name})")
        self.get_logger().info(f"detector ready: backend {self.detector.backend_name}")
        return True

    def report_setup(self, message: str) -> None:
        self.get_logger().info(message)
        self.diagnostics.set_status(WARN, message)  # e.g. "building engine ..."

    def process(self, message: Image | CompressedImage) -> None:
        start = time.perf_counter()
        try:
            image = decode_image_message(message)
        except ImageDecodeError as error:
            self.diagnostics.reject("bad_image", str(error))
            return
        decoded = time.perf_counter()
        detections = self.detector.detect(image)
        self.detections_publisher.publish(detections_to_msg(detections, message.header))
        if self.annotated_publisher is not None:
            self.annotated_publisher.publish(bgr_to_image(draw_detections(image, detections), message.header))
        self.diagnostics.processed(start, stamp_seconds(message.header), counter="frames_processed")
        timings = self.detector.last_timings
        self.get_logger().debug(
            f"decode {(decoded - start) * 1e3:.1f} ms, preprocess {timings.preprocess_ms:.1f}, inference "
            f"{timings.inference_ms:.1f}, postprocess {timings.postprocess_ms:.1f}; {len(detections)} objects")

    def close(self) -> None:
        self.worker.close()


def main(args: list[str] | None = None) -> int:
    return run_node(DetectorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
