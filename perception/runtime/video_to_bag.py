"""Turn a video file into a ROS 2 bag: CompressedImage (JPEG) or raw Image frames, with or without CameraInfo,
at the video's frame rate."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from perception.bags import McapFileWriter, perception_typestore
from perception.camera_calibration import pinhole_intrinsics
from perception.imaging import ENCODABLE, encode_raw


class VideoReadError(ValueError):
    """A video that cannot be read (missing, not a video, no frame rate, no frames); the message names the file."""


def video_to_bag(
    video: str | Path,
    out: str | Path,
    *,
    camera_topic: str,
    info_topic: str | None,
    frame_id: str,
    horizontal_fov_deg: float = 60.0,
    jpeg_quality: int = 80,
    encoding: str | None = None,
    start_time_ns: int = 1_700_000_000_000_000_000,
    max_frames: int | None = None,
) -> int:
    """Write every frame of `video` to an MCAP file; returns the number of frames written.

    encoding None: JPEG CompressedImage; else a raw Image in that encoding (perception.imaging.encode_raw).
    info_topic None: no CameraInfo (a pinhole guess from `horizontal_fov_deg` otherwise).
    """
    if encoding is not None and encoding not in ENCODABLE:
        raise VideoReadError(f"cannot write images in encoding {encoding!r}; supported: {', '.join(ENCODABLE)}")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise VideoReadError(f"{video}: cannot open as a video")
    fps = capture.get(cv2.CAP_PROP_FPS)
    if not fps or fps <= 0:
        raise VideoReadError(f"{video}: unknown frame rate (not a video?)")
    ok, image = capture.read()
    if not ok:
        raise VideoReadError(f"{video}: no frames could be decoded")
    typestore = perception_typestore()
    CompressedImage = typestore.types["sensor_msgs/msg/CompressedImage"]
    Image = typestore.types["sensor_msgs/msg/Image"]
    CameraInfo = typestore.types["sensor_msgs/msg/CameraInfo"]
    Header = typestore.types["std_msgs/msg/Header"]
    Time = typestore.types["builtin_interfaces/msg/Time"]
    RegionOfInterest = typestore.types["sensor_msgs/msg/RegionOfInterest"]
    frames = 0
    with McapFileWriter(out, typestore) as writer:
        writer.add_topic(camera_topic, "sensor_msgs/msg/Image" if encoding else "sensor_msgs/msg/CompressedImage")
        if info_topic:
            writer.add_topic(info_topic, "sensor_msgs/msg/CameraInfo")
        while ok and (max_frames is None or frames < max_frames):
            stamp_ns = start_time_ns + round(frames * 1e9 / fps)
            header = Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame_id)
            height, width = image.shape[:2]
            if info_topic:  # first, so that the first frame already has its calibration
                k = pinhole_intrinsics(width, height, horizontal_fov_deg)
                projection = np.hstack([k, np.zeros((3, 1))])
                info = CameraInfo(
                    header=header, height=height, width=width, distortion_model="plumb_bob",
                    d=np.zeros(5), k=k.ravel(), r=np.eye(3).ravel(), p=projection.ravel(),
                    binning_x=0, binning_y=0,
                    roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
                )
                writer.write(info_topic, stamp_ns, typestore.serialize_cdr(info, CameraInfo.__msgtype__))
            if encoding:
                data, step = encode_raw(image, encoding)
                message = Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
                                step=step, data=np.frombuffer(data, np.uint8))
            else:
                ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                message = CompressedImage(header=header, format="bgr8; jpeg compressed bgr8", data=jpeg.ravel())
            writer.write(camera_topic, stamp_ns, typestore.serialize_cdr(message, type(message).__msgtype__))
            frames += 1
            ok, image = capture.read()
    capture.release()
    return frames
