"""Virtual cameras cut from the shared 1280x720 highway clip (test_fusion.py, test_fusion_graph.py), and a bag of two
of them triggered together with the graph that runs them (test_fusion_graph.py, test_fleet_eval.py).

Each is the clip's camera (the deployed front camera pose, a 60 degree pinhole as `video_to_bag` assumes for this
clip) turned about the vehicle's vertical axis by its own mounting yaw, with its principal point at its image centre.
Its image is resampled from the clip's by the rotation homography K R K_virtual^-1, which is exact for a pure
rotation: a pixel of either virtual camera sees the same ray from the same centre as the clip's pixel it came from,
so both cameras (CameraInfo and yaw) put an object at the same ground point, as two real cameras on one mount would.
The same homography, between two virtual images, tells which tracks of two cameras are one physical object.
"""
from __future__ import annotations

import math
import types

import numpy as np

from perception.camera_calibration import CameraCalibration
from perception.graph import load_graph
from perception.pipeline.camera import CameraParameters, CameraPipeline
from perception.pipeline.models import ModelCache
from perception.resources import config_path
from perception.tracking.ground_plane import CameraPose

FOCAL = 640 / math.tan(math.radians(30))  # 60 degree field of view over 1280 columns
CLIP = CameraPose(1.0, 0.0, 1.2, pitch=-0.048)  # config/perception.yaml's front camera
FRAME_RATE = 25.0
FRAMES = range(0, 37, 2)  # every second frame of the clip (12.5 Hz): 19 frames
RIGHT_STARTS = 6  # the right camera's first frame
VIEWS = {"left": (0, 1020), "right": (560, 1280)}  # columns of the clip each virtual camera sees


def clip_matrix(width: float, height: float) -> np.ndarray:
    return np.array([[FOCAL, 0, width / 2], [0, FOCAL, height / 2], [0, 0, 1.0]])


class VirtualCamera:
    """The clip's camera turned by `yaw` so that it sees the clip's columns first..last (at the principal row)."""

    def __init__(self, name: str, first: float, last: float) -> None:
        left_angle, right_angle = (-math.atan((column - 640) / FOCAL) for column in (first, last))
        self.name = name
        self.yaw = (left_angle + right_angle) / 2
        self.width = round(2 * FOCAL * math.tan((left_angle - right_angle) / 2))
        self.matrix = clip_matrix(self.width, 720)
        pose = CameraPose(CLIP.x, CLIP.y, CLIP.z, CLIP.roll, CLIP.pitch, self.yaw)
        # clip pixel of each of this camera's pixels: K_clip R_(clip <- this) K^-1
        self.to_clip = (clip_matrix(1280, 720) @ CLIP.vehicle_from_optical.T @ pose.vehicle_from_optical
                        @ np.linalg.inv(self.matrix))

    def image(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.warpPerspective(frame, self.to_clip, (self.width, 720), flags=cv2.WARP_INVERSE_MAP)

    def calibration(self) -> CameraCalibration:
        return CameraCalibration(self.name, self.width, 720, self.matrix, "plumb_bob", np.zeros(5), np.eye(3),
                                 np.hstack([self.matrix, np.zeros((3, 1))]))

    def pipeline(self, models: ModelCache) -> CameraPipeline:
        """The deployed graph's front camera with this camera's yaw, a CameraInfo of its own, and, so that the white
        car's left track ends within the 1.5 s clip, max_coast_time 0.3 s (the deployed 1 s is most of the clip)."""
        parameters = CameraParameters.from_graph(load_graph(config_path("perception.yaml")), "front")
        parameters.tracker.update(camera_yaw=self.yaw, max_coast_time=0.3)
        pipeline = CameraPipeline(parameters, models=models)
        pipeline.load()
        pipeline.tracking.add_camera_info(self.calibration(), f"/{self.name}/camera_info")
        return pipeline


def image_message(image: np.ndarray, frame_id: str) -> types.SimpleNamespace:
    """A sensor_msgs/Image by attribute access (what CameraPipeline.process reads)."""
    height, width = image.shape[:2]
    return types.SimpleNamespace(header=types.SimpleNamespace(frame_id=frame_id), data=image.tobytes(), width=width,
                                 height=height, encoding="bgr8", step=width * 3, is_bigendian=False)


def covered(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection of every box in a with every box in b over the smaller one's area (a box cut at an image border
    lies within the whole box of the same object)."""
    a, b = boxes_a.T[:, :, None], boxes_b.T[:, None, :]
    width = np.maximum(np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]), 0.0)
    height = np.maximum(np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]), 0.0)
    return width * height / np.minimum((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def map_boxes(boxes: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Axis-aligned bounds of boxes (N, 4) carried through a 3x3 homography."""
    corners = np.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], axis=1)
    moved = np.concatenate([corners, np.ones((*corners.shape[:2], 1))], axis=2) @ homography.T
    moved = moved[..., :2] / moved[..., 2:]
    return np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)


START_S = 100  # header stamp of the clip's frame 0
LOG_SPACING_NS = 600_000_000  # frames are played 0.6 s apart (their stamps 80 ms apart): the CPU detectors keep up


def frame_id(camera: str) -> str:
    return f"camera_{camera}_optical_frame"


def stamp_of(index: int, start_s: float = START_S) -> tuple[int, int]:
    """The header stamp (sec, nanosec) of the clip's frame `index` in a bag whose frame 0 is at `start_s`."""
    sec, nanosec = divmod(round((start_s + index / FRAME_RATE) * 1e9), 10**9)
    return sec, nanosec


def image_topic(camera: str) -> str:
    return f"/test/{camera}/image/compressed"


def info_topic(camera: str) -> str:
    return f"/test/{camera}/camera_info"


def write_bag(path, cameras: dict[str, VirtualCamera], frames: list, indices=FRAMES, start_s: float = START_S
              ) -> None:
    """Each camera's CameraInfo and JPEG image at every clip frame of `indices`, all cameras with the frame's stamp
    (triggered together)."""
    import cv2
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CameraInfo, CompressedImage

    from perception.bags import McapFileWriter, perception_typestore

    with McapFileWriter(path, perception_typestore()) as writer:
        for name in cameras:
            writer.add_topic(info_topic(name), "sensor_msgs/msg/CameraInfo")
            writer.add_topic(image_topic(name), "sensor_msgs/msg/CompressedImage")
        for order, index in enumerate(indices):
            sec, nanosec = stamp_of(index, start_s)
            log_ns = order * LOG_SPACING_NS
            for name, camera in cameras.items():
                calibration = camera.calibration()
                info = CameraInfo(width=calibration.width, height=calibration.height,
                                  distortion_model=calibration.distortion_model, d=calibration.d.tolist(),
                                  k=calibration.k.ravel().tolist(), r=calibration.r.ravel().tolist(),
                                  p=calibration.p.ravel().tolist())
                image = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", camera.image(frames[index]))[1]
                                        .tobytes())
                for message in (info, image):
                    message.header.frame_id = frame_id(name)
                    message.header.stamp.sec, message.header.stamp.nanosec = sec, nanosec
                writer.write(info_topic(name), log_ns, serialize_message(info))
                writer.write(image_topic(name), log_ns + 1, serialize_message(image))


def graph_document(cameras: dict[str, VirtualCamera]) -> dict:
    """The deployed graph (config/perception.yaml) with the two virtual cameras, without the visualizer and the signs
    node."""
    import yaml

    document = yaml.safe_load(config_path("perception.yaml").read_text())
    document["cameras"] = {
        name: {"image": image_topic(name), "camera_info": info_topic(name),
               "frame_id": frame_id(name),
               "pose": {"x": CLIP.x, "y": CLIP.y, "z": CLIP.z, "roll": CLIP.roll, "pitch": CLIP.pitch,
                        "yaw": camera.yaw}}
        for name, camera in cameras.items()}
    del document["nodes"]["visualizer"]
    document["nodes"].pop("signs", None)  # enabled in some installs: not what the tests check, and CPU they need
    return document
