"""Node `signs`: camera images in, traffic signs (DetectedObjects with sign_class_id / sign_name) out.

Runs the sign recognizer (perception/signs) on at most `rate_hz` frames a second, newest frame first, in a thread
of lower CPU priority (`nice`), so that it does not starve the main detector of CPU.

Subscribes  image   sensor_msgs/Image or sensor_msgs/CompressedImage (parameter image_transport)
Publishes   signs   perception/DetectedObjects (TRAFFIC_SIGN), header = the image's stamp and frame_id,
                    image_width/height = the decoded image's size
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics (frames_skipped_by_rate counts the
            frames left out to keep the rate)
The work is perception.pipeline.detection.SignStage; parameters: docs/parameters.md.
"""
from __future__ import annotations

import time

from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from perception.msg import DetectedObjects
from perception.pipeline.detection import SignStage
from perception.ros.conversions import signs_to_msg, stamp_seconds
from perception.ros.diagnostics import NodeDiagnostics
from perception.ros.latest import NewestMessageWorker
from perception.ros.node_main import run_node
from perception.ros.parameters import declare_parameters
from perception.ros.qos import qos_profile


class SignNode(Node):
    def __init__(self) -> None:
        super().__init__("signs")
        p = self.params = declare_parameters(self, "signs")
        self.diagnostics = NodeDiagnostics(self)
        self.stage = SignStage(p, self.diagnostics.health)
        self.publisher = self.create_publisher(DetectedObjects, "signs", 10)
        self.worker = NewestMessageWorker("signs", self.diagnostics, self.process, setup=self.setup, unit="frames")
        image_type = CompressedImage if p["image_transport"] == "compressed" else Image
        self.create_subscription(image_type, "image", self.submit, qos_profile(p["qos_reliability"], 1))

    def setup(self) -> bool:
        """In the worker thread: lower its CPU priority, then load the models (their threads inherit it)."""
        self.stage.lower_thread_priority()
        return self.stage.load()

    def submit(self, message: Image | CompressedImage) -> None:
        """Pass a frame on when the rate allows (wall time); the others are counted."""
        if self.stage.due(time.monotonic()):
            self.worker.submit(message)

    def process(self, message: Image | CompressedImage) -> None:
        start = time.perf_counter()
        output = self.stage.recognize(message)
        if output is None:
            return
        image, signs = output
        height, width = image.shape[:2]
        self.publisher.publish(signs_to_msg(signs, message.header, (width, height)))
        self.diagnostics.processed(start, stamp_seconds(message.header), counter="frames_processed")

    def close(self) -> None:
        self.worker.close()


def main(args: list[str] | None = None) -> int:
    return run_node(SignNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
