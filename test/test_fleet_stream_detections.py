"""A fleet stream's detections reach its tracking thread frame by frame, in index order, whatever order the workers
return them in; a frame that cannot come stops the tracker with the reason instead of leaving it waiting."""
import threading
from pathlib import Path

import numpy as np
import pytest

from perception.runtime.fleet import StreamDetections
from perception.runtime.offline import DetectedFrame
from perception.types import Detections

BAG = Path("fleet/bag0.mcap")


def frame(index: int) -> DetectedFrame:
    return DetectedFrame(1_000 + index, Detections.empty(), elapsed_ns=index)


def take_in_background(detections: StreamDetections, count: int) -> tuple[threading.Thread, list, list]:
    """A tracker stand-in that takes frames 0..count-1 in order; returns its thread, what it got, what it raised."""
    taken, errors = [], []

    def run() -> None:
        try:
            for index in range(count):
                taken.append(detections[index].timestamp_ns)
        except ValueError as error:
            errors.append(str(error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, taken, errors


def test_frames_returned_out_of_order_are_taken_in_order_as_they_arrive():
    detections = StreamDetections(BAG)
    thread, taken, errors = take_in_background(detections, 6)
    for index in (2, 3, 0):
        assert detections.add(index, frame(index))
    thread.join(0.2)
    assert taken == [1_000] and thread.is_alive()  # frame 1 is missing: the tracker waits for it
    for index in (5, 1, 4):
        assert detections.add(index, frame(index))
    detections.finish(6)
    thread.join(5)
    assert not thread.is_alive() and not errors
    assert taken == [1_000 + i for i in range(6)]
    assert detections.wait_until_read() == 6 and detections.taken == 6


def test_a_second_result_for_a_frame_is_refused_even_after_it_was_taken():
    detections = StreamDetections(BAG)
    assert detections.add(0, frame(0))
    assert not detections.add(0, frame(0))
    assert detections[0].timestamp_ns == 1_000
    assert not detections.add(0, frame(0))
    assert detections.taken == 1


def test_a_failed_bag_stops_a_waiting_tracker_with_its_reason():
    detections = StreamDetections(BAG)
    thread, taken, errors = take_in_background(detections, 3)
    detections.add(0, frame(0))
    thread.join(0.2)
    detections.fail("fleet/bag0.mcap: truncated chunk")
    thread.join(5)
    assert not thread.is_alive()
    assert taken == [1_000] and errors == ["fleet/bag0.mcap: truncated chunk"]
    with pytest.raises(ValueError, match="truncated chunk"):
        detections.wait_until_read()


def test_a_frame_beyond_the_bags_count_raises_instead_of_waiting():
    detections = StreamDetections(BAG)
    for index in range(2):
        detections.add(index, frame(index))
    detections.finish(2)
    assert [detections[i].elapsed_ns for i in range(2)] == [0, 1]
    with pytest.raises(ValueError, match=r"frame 2 was never sent for detection \(the bag gave 2 frames\)"):
        detections[2]


def test_taken_frames_are_released():
    detections = StreamDetections(BAG)
    for index in range(100):
        detections.add(index, DetectedFrame(index, Detections(
            boxes=np.zeros((1, 4), np.float32), scores=np.ones(1, np.float32), labels=np.zeros(1, int),
            source_class_ids=np.zeros(1, int)), 0))
    assert detections.held == 100
    for index in range(60):
        detections[index]
    assert detections.held == 40  # the driver holds only what the tracker has not taken
