"""Decoding camera images into BGR arrays (no ROS): raw pixel buffers and compressed (JPEG/PNG) data."""
from __future__ import annotations

import cv2
import numpy as np


class ImageDecodeError(ValueError):
    """The image data cannot be turned into a picture; the message says why."""


# encoding -> (channels, dtype, OpenCV conversion to BGR or None)
RAW_ENCODINGS: dict[str, tuple[int, type, int | None]] = {
    "bgr8": (3, np.uint8, None),
    "rgb8": (3, np.uint8, cv2.COLOR_RGB2BGR),
    "bgra8": (4, np.uint8, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, np.uint8, cv2.COLOR_RGBA2BGR),
    "mono8": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "8UC3": (3, np.uint8, None),
    "mono16": (1, np.uint16, cv2.COLOR_GRAY2BGR),
    "bayer_rggb8": (1, np.uint8, cv2.COLOR_BayerRGGB2BGR),
    "bayer_bggr8": (1, np.uint8, cv2.COLOR_BayerBGGR2BGR),
    "bayer_gbrg8": (1, np.uint8, cv2.COLOR_BayerGBRG2BGR),
    "bayer_grbg8": (1, np.uint8, cv2.COLOR_BayerGRBG2BGR),
    "yuv422": (2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": (2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),
    "yuyv": (2, np.uint8, cv2.COLOR_YUV2BGR_YUYV),
}


def decode_raw(data: bytes | memoryview | np.ndarray, width: int, height: int, encoding: str, step: int,
               is_bigendian: bool = False) -> np.ndarray:
    """A sensor_msgs/Image payload as an (height, width, 3) uint8 BGR array."""
    if encoding not in RAW_ENCODINGS:
        raise ImageDecodeError(f"unsupported encoding {encoding!r}; supported: {', '.join(RAW_ENCODINGS)}")
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"empty image ({width}x{height})")
    channels, dtype, conversion = RAW_ENCODINGS[encoding]
    row_bytes = width * channels * np.dtype(dtype).itemsize
    if step < row_bytes:
        raise ImageDecodeError(f"step {step} is smaller than a row of {width} {encoding} pixels ({row_bytes} bytes)")
    buffer = np.frombuffer(data, np.uint8)
    if buffer.size < step * height:
        raise ImageDecodeError(f"data has {buffer.size} bytes, {encoding} {width}x{height} with step {step} "
                               f"needs {step * height}")
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(">" if is_bigendian else "<"))
    pixels = pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)
    if dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if conversion is None:
        return pixels if channels == 3 else pixels[..., :3]
    try:
        return cv2.cvtColor(pixels, conversion)
    except cv2.error as error:
        raise ImageDecodeError(f"cannot convert {width}x{height} {encoding} to BGR: {error.err}") from None


# Bayer pattern -> (row, column) of the red and of the blue sample in each 2x2 cell (greens fill the others)
_BAYER_CELLS = {"bayer_rggb8": ((0, 0), (1, 1)), "bayer_bggr8": ((1, 1), (0, 0)),
                "bayer_gbrg8": ((1, 0), (0, 1)), "bayer_grbg8": ((0, 1), (1, 0))}


ENCODABLE = ("bgr8", "rgb8", "bgra8", "rgba8", "mono8", "mono16", *_BAYER_CELLS)


def encode_raw(image: np.ndarray, encoding: str) -> tuple[bytes, int]:
    """A BGR uint8 array as a sensor_msgs/Image payload in `encoding` (what a camera driver would send):
    (data, step). Bayer encodings keep one colour sample per pixel; mono16 spreads 8 bits over 16."""
    if encoding == "bgr8":
        pixels = image
    elif encoding == "rgb8":
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif encoding == "bgra8":
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    elif encoding == "rgba8":
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
    elif encoding == "mono8":
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif encoding == "mono16":
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype("<u2") * 257
    elif encoding in _BAYER_CELLS:
        (red_row, red_column), (blue_row, blue_column) = _BAYER_CELLS[encoding]
        pixels = image[..., 1].copy()
        pixels[red_row::2, red_column::2] = image[red_row::2, red_column::2, 2]
        pixels[blue_row::2, blue_column::2] = image[blue_row::2, blue_column::2, 0]
    else:
        raise ImageDecodeError(f"cannot encode to {encoding!r}; supported: {', '.join(ENCODABLE)}")
    pixels = np.ascontiguousarray(pixels)
    return pixels.tobytes(), pixels.strides[0]


def decode_compressed(data: bytes | memoryview | np.ndarray) -> np.ndarray:
    """JPEG or PNG bytes (sensor_msgs/CompressedImage.data) as an (h, w, 3) uint8 BGR array."""
    buffer = np.frombuffer(data, np.uint8)
    if buffer.size == 0:
        raise ImageDecodeError("compressed image is empty")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        kind = "JPEG" if buffer[:2].tobytes() == b"\xff\xd8" else "data that is not JPEG or PNG"
        raise ImageDecodeError(f"cannot decode {buffer.size} bytes of {kind} (truncated or corrupt)")
    return image


def decode_image_message(message) -> np.ndarray:
    """A sensor_msgs Image or CompressedImage (rclpy or rosbags message: attribute access only) as a BGR array;
    raises ImageDecodeError."""
    if not hasattr(message, "encoding"):  # CompressedImage
        return decode_compressed(message.data)
    return decode_raw(message.data, message.width, message.height, message.encoding, message.step,
                      bool(message.is_bigendian))
