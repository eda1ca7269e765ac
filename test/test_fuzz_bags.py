"""Fuzzing bag reading: a small MCAP written here, truncated or with random bytes overwritten, reads or raises
BagReadError (naming the file) within seconds; it never hangs and never leaks another exception type."""
import re
import signal
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perception.bags import BagReadError, McapFileWriter, bag_topics, perception_typestore, read_messages

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TOPICS = {"/camera/compressed": "sensor_msgs/msg/CompressedImage", "/detections": "perception/msg/DetectedObjects"}


@pytest.fixture(scope="module")
def small_bag(tmp_path_factory) -> bytes:
    """20 CompressedImage and 20 DetectedObjects messages in one MCAP file, as bytes."""
    typestore = perception_typestore()
    image_type = typestore.types["sensor_msgs/msg/CompressedImage"]
    objects_type = typestore.types["perception/msg/DetectedObjects"]
    header_type, time_type = typestore.types["std_msgs/msg/Header"], typestore.types["builtin_interfaces/msg/Time"]
    path = tmp_path_factory.mktemp("bag") / "small.mcap"
    with McapFileWriter(path, typestore) as writer:
        for topic, msgtype in TOPICS.items():
            writer.add_topic(topic, msgtype)
        for i in range(20):
            header = header_type(stamp=time_type(sec=i, nanosec=0), frame_id="camera")
            image = image_type(header=header, format="jpeg", data=np.full(64, i, np.uint8))
            writer.write("/camera/compressed", i * 10**8, typestore.serialize_cdr(image, image_type.__msgtype__))
            objects = objects_type(header=header, ground_frame_id="", image_width=8, image_height=8,
                                   objects=[])  # DetectedObjects
            writer.write("/detections", i * 10**8 + 1, typestore.serialize_cdr(objects, objects_type.__msgtype__))
    data = path.read_bytes()
    assert len(list(read_messages(path))) == 40 and bag_topics(path) == TOPICS
    return data


@contextmanager
def time_limit(seconds: int):
    def hang(signum, frame):
        raise TimeoutError(f"bag reading did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_or_clear_error(path) -> None:
    with time_limit(5):
        try:
            topics = bag_topics(path)
            messages = list(read_messages(path))
        except BagReadError as error:
            assert str(path) in str(error)
            return
    # a corrupt byte may turn a topic name into another valid one, so only the form of the names is known
    assert all(re.fullmatch(r"(/[A-Za-z_][A-Za-z0-9_]*)+", topic) for topic in topics), topics
    assert all(m.topic in topics for m in messages)


@SETTINGS
@given(length=st.integers(0, 10_000))
def test_truncated_bag_reads_or_raises_bag_read_error(small_bag, tmp_path, length):
    path = tmp_path / "truncated.mcap"
    path.write_bytes(small_bag[: length % (len(small_bag) + 1)])
    read_or_clear_error(path)


@SETTINGS
@given(changes=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_bag_reads_or_raises_bag_read_error(small_bag, tmp_path, changes):
    data = bytearray(small_bag)
    for position, value in changes:
        data[position % len(data)] = value
    path = tmp_path / "corrupted.mcap"
    path.write_bytes(bytes(data))
    read_or_clear_error(path)


def test_missing_bag_raises_bag_read_error(tmp_path):
    with pytest.raises(BagReadError, match="no such bag"):
        bag_topics(tmp_path / "missing.mcap")
    with pytest.raises(BagReadError, match="no such bag"):
        list(read_messages(tmp_path / "missing.mcap"))


def test_topic_name_made_invalid_by_corruption_raises_bag_read_error(small_bag, tmp_path):
    """Found by the fuzz test above: one byte, the first of a topic name in its channel record, set to 0."""
    path = tmp_path / "corrupted.mcap"
    path.write_bytes(small_bag.replace(b"/camera/compressed", b"\x00camera/compressed"))
    for read in (bag_topics, lambda bag: list(read_messages(bag))):
        with pytest.raises(BagReadError, match=r"invalid topic name '\\x00camera/compressed'") as error:
            read(path)
        assert str(path) in str(error.value)

