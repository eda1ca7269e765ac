"""Node `detector`: camera images in, DetectedObjects out (newest-frame policy, never a backlog).

Subscribes  image        sensor_msgs/Image or sensor_msgs/CompressedImage (parameter image_transport)
Publishes   detections   perception/DetectedObjects, header = the image's stamp and frame_id, image_width/height =
                         the decoded image's size
            detections/image  annotated sensor_msgs/Image (parameter publish_annotated)
            ~/processing_time_ms, ~/pipeline_latency_ms, /diagnostics
The work is perception.pipeline.detection.DetectionStage; parameters: docs/parameters.md.
"""
from __future__ import annotations

import time

from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from perception.msg import DetectedObjects
from perception.pipeline.detection import DetectionStage
from perception.ros.conversions import bgr_to_image, detections_to_msg, stamp_seconds
from perception.ros.diagnostics import NodeDiagnostics
from perception.ros.latest import NewestMessageWorker
from perception.ros.node_main import run_node
from perception.ros.parameters import declare_parameters
from perception.ros.qos import qos_profile
from perception.visualization.draw import draw_detections


class DetectorNode(Node):
    def __init__(self) -> None:
        super().__init__("detector")
        p = self.params = declare_parameters(self, "detector")
        self.diagnostics = NodeDiagnostics(self)
        self.stage = DetectionStage(p, self.diagnostics.health)
        self.detections_publisher = self.create_publisher(DetectedObjects, "detections", 10)
        self.annotated_publisher = (self.create_publisher(Image, "detections/image", 2)
                                    if p["publish_annotated"] else None)
        # Topics are advertised before the model loads (in the worker), so a long engine build does not
        # look like a dead node.
        self.worker = NewestMessageWorker("detector", self.diagnostics, self.process, setup=self.stage.load,
                                          unit="frames")
        image_type = CompressedImage if p["image_transport"] == "compressed" else Image
        self.create_subscription(image_type, "image", self.worker.submit,
                                 qos_profile(p["qos_reliability"], p["qos_depth"]))

    def process(self, message: Image | CompressedImage) -> None:
        start = time.perf_counter()
        output = self.stage.detect(message)
        if output is None:
            return
        image, detections = output
        height, width = image.shape[:2]
        self.detections_publisher.publish(detections_to_msg(detections, message.header, image_size=(width, height)))
        if self.annotated_publisher is not None:
            self.annotated_publisher.publish(bgr_to_image(draw_detections(image, detections), message.header))
        self.diagnostics.processed(start, stamp_seconds(message.header), counter="frames_processed")
        timings = self.stage.detector.last_timings
        self.get_logger().debug(
            f"preprocess {timings.preprocess_ms:.1f} ms, inference {timings.inference_ms:.1f}, "
            f"postprocess {timings.postprocess_ms:.1f}; {len(detections)} objects")

    def close(self) -> None:
        self.worker.close()


def main(args: list[str] | None = None) -> int:
    return run_node(DetectorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
