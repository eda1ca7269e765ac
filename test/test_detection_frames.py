"""read_ahead: the frames of a real video decoded by a thread of their own, in order, errors raised where they
occurred, the reader stopped when the caller stops."""
import itertools
import threading

import numpy as np
import pytest

from perception.detection.frames import read_ahead, read_frames

CLIP = "clips/udacity_solid_white_right_960x540.mp4"


def test_read_ahead_gives_the_frames_of_a_video_in_order(shared_data):
    direct = list(itertools.islice(read_frames(shared_data / CLIP), 12))
    ahead = list(itertools.islice(read_ahead(read_frames(shared_data / CLIP)), 12))
    assert [index for index, _ in ahead] == list(range(12))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(direct, ahead))


def test_read_ahead_raises_the_readers_error_after_the_items_before_it():
    def failing():
        yield 1
        yield 2
        raise ValueError("cannot decode frame 3")

    seen = []
    with pytest.raises(ValueError, match="frame 3"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_and_closes_the_reader():
    closed = threading.Event()

    def endless():
        try:
            yield from itertools.count()
        finally:
            closed.set()

    frames = read_ahead(endless(), depth=2)
    assert [next(frames) for _ in range(3)] == [0, 1, 2]
    frames.close()
    assert closed.is_set()
    assert not any(thread.name == "read-ahead" for thread in threading.enumerate())
