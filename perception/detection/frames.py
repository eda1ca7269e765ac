"""Read BGR frames from image files and videos; read_ahead decodes the next ones while the caller works."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
Item = TypeVar("Item")
_END = object()


def read_frames(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR image) for an image file (one frame) or every frame of a video."""
    if not path.is_file():
        raise FileNotFoundError(f"no such image or video: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode image {path}")
        yield 0, image
        return
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"cannot open video {path}")
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield index, frame
            index += 1
    finally:
        capture.release()


def read_ahead(items: Iterable[Item], depth: int = 2) -> Iterator[Item]:
    """`items` in order, produced by a thread of their own up to `depth` ahead of the caller: the next video frame
    decodes (OpenCV releases the GIL) while the caller detects objects in this one. An exception of `items` is raised
    here, after the items before it; stopping early stops and closes `items`."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(value: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer((item, None)):
                    return
            offer((_END, None))
        except Exception as error:  # handed to the caller, raised there
            offer((_END, error))
        finally:
            getattr(iterator, "close", lambda: None)()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()
