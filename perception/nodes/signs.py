"""Node `signs`: camera images in, traffic signs (DetectedObjects with sign_class_id / sign_name) out.

Runs the sign recognizer (perception/signs) on at most `rate_hz` frames a second, newest frame first, in a thread
of lower CPU priority (`nice`), so that it does not starve the main detector of CPU.

Subscribes  image   sensor_msgs/Image or sensor_msgs/CompressedImage (parameter image_transport)
Publishes   signs   perception/DetectedObjects (TRAFFIC_SIGN), header = the image's stamp and frame_id
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics (frames_skipped_by_rate counts the
            frames left out to keep the rate)
"""
from __future__ import annotations

import os
import threading
import time
import traceback

from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from perception.detection.factory import BACKENDS, setup_failure_reason
from perception.imaging import ImageDecodeError, decode_image_message
from perception.msg import DetectedObjects
from perception.ros.conversions import signs_to_msg, stamp_seconds
from perception.ros.diagnostics import ERROR, OK, WARN, NodeDiagnostics
from perception.ros.latest import NewestMessageWorker
from perception.ros.node_main import run_node
from perception.ros.parameters import ParameterSpec, declare_parameters
from perception.ros.qos import RELIABILITY, qos_profile
from perception.signs.gtsdb import DEFAULT_IMGSZ

PARAMETERS = [
    ParameterSpec("detector_model", "", "sign detector (.pt or ONNX); empty = bundled models/signs one"),
    ParameterSpec("classifier_model", "", "sign classifier ONNX; empty = bundled models/signs one"),
    ParameterSpec("backend", "auto", "inference backend of the sign detector (auto: TensorRT on an NVIDIA GPU, falling "
                  "back; ONNX Runtime on a CPU)", choices=BACKENDS),
    ParameterSpec("imgsz", DEFAULT_IMGSZ, "sign detector input long side (multiple of 32)", min=32, max=4096),
    ParameterSpec("conf_threshold", 0.1, "minimum sign score (detector x classifier)", min=0.0, max=1.0),
    ParameterSpec("rate_hz", 2.0, "most frames processed per second (0 = every frame it can)", min=0.0, max=100.0),
    ParameterSpec("threads", 1, "CPU threads of the sign networks", min=1, max=64),
    ParameterSpec("nice", 10, "niceness added to the sign thread (Linux): CPU goes to the main detector first",
                  min=0, max=19),
    ParameterSpec("image_transport", "compressed", "type of the image topic", choices=("raw", "compressed")),
    ParameterSpec("qos_reliability", "best_effort", "reliability of the image subscription",
                  choices=tuple(RELIABILITY)),
]


class SignNode(Node):
    def __init__(self) -> None:
        super().__init__("signs")
        self.params = declare_parameters(self, PARAMETERS)
        self.diagnostics = NodeDiagnostics(self)
        self.recognizer = None
        self.next_time = 0.0
        self.publisher = self.create_publisher(DetectedObjects, "signs", 10)
        self.worker = NewestMessageWorker("signs", self.diagnostics, self.process, setup=self.load, unit="frames")
        image_type = CompressedImage if self.params["image_transport"] == "compressed" else Image
        self.create_subscription(image_type, "image", self.submit, qos_profile(self.params["qos_reliability"], 1))

    def load(self) -> bool:
        from perception.signs.recognizer import SignRecognizer

        self.lower_priority()
        self.diagnostics.set_status(WARN, "loading sign models")
        try:
            self.recognizer = SignRecognizer(
                self.params["detector_model"] or None, self.params["classifier_model"] or None,
                self.params["backend"], self.params["imgsz"], self.params["conf_threshold"], self.params["threads"])
        except Exception as error:  # the node stays up and says why on /diagnostics
            reason = setup_failure_reason(error)
            self.get_logger().error(f"sign recognizer cannot start: {reason}\n{traceback.format_exc()}")
            self.diagnostics.set_status(ERROR, f"no sign recognizer: {reason}")
            return False
        self.diagnostics.set_status(OK, "running")
        return True

    def lower_priority(self) -> None:
        """Add `nice` to this (the worker) thread's niceness; the networks run in it (one thread) or in threads it
        starts, which inherit it. Where the OS refuses, the node runs at normal priority and says so."""
        thread = threading.get_native_id()
        try:
            niceness = min(19, os.getpriority(os.PRIO_PROCESS, thread) + self.params["nice"])
            os.setpriority(os.PRIO_PROCESS, thread, niceness)
        except (AttributeError, OSError) as error:
            self.get_logger().warning(f"sign thread keeps its CPU priority: {error}")
            return
        self.diagnostics.extra["thread_niceness"] = str(niceness)

    def submit(self, message: Image | CompressedImage) -> None:
        """Pass a frame on when the rate allows; count the others."""
        now = time.monotonic()
        if now < self.next_time:
            self.diagnostics.count("frames_skipped_by_rate")
            return
        rate = self.params["rate_hz"]
        self.next_time = now + (1.0 / rate if rate > 0 else 0.0)
        self.worker.submit(message)

    def process(self, message: Image | CompressedImage) -> None:
        start = time.perf_counter()
        try:
            image = decode_image_message(message)
        except ImageDecodeError as error:
            self.diagnostics.reject("bad_image", str(error))
            return
        signs = self.recognizer.recognize(image)
        signs = signs.select(signs.scores >= self.params["conf_threshold"])
        self.publisher.publish(signs_to_msg(signs, message.header))
        self.diagnostics.processed(start, stamp_seconds(message.header), counter="frames_processed")

    def close(self) -> None:
        self.worker.close()


def main(args: list[str] | None = None) -> int:
    return run_node(SignNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
