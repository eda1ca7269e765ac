"""ROS 2 bag access with rosbags (sqlite3 or MCAP), including our own message types (no rclpy)."""
from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

MSG_PACKAGE = "perception"


def perception_typestore(msg_dir: Path | None = None) -> Typestore:
    """The ROS 2 Jazzy typestore plus perception/msg/* (from the installed share folder by default)."""
    if msg_dir is None:
        from perception.resources import share_dir

        msg_dir = share_dir() / "msg"
    typestore = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for msg_file in sorted(Path(msg_dir).glob("*.msg")):
        types.update(get_types_from_msg(msg_file.read_text(), f"{MSG_PACKAGE}/msg/{msg_file.stem}"))
    typestore.register(types)
    return typestore


@dataclass
class BagMessage:
    topic: str
    msgtype: str  # e.g. sensor_msgs/msg/CompressedImage
    timestamp_ns: int  # log time in the bag
    raw: bytes  # CDR bytes


class BagReadError(RuntimeError):
    """A bag that cannot be read: missing, corrupt or truncated; the message names the file and the reason."""


# What rosbags raises, besides its ReaderError, on corrupt or truncated files (found by test/test_fuzz_bags.py).
_CORRUPT_DATA_ERRORS = (ReaderError, UnicodeDecodeError, OverflowError, MemoryError, TypeError, ValueError,
                        KeyError, IndexError, EOFError, struct.error)


def _bag_error(path: Path, error: BaseException) -> BagReadError:
    if isinstance(error, FileNotFoundError) or not path.exists():
        return BagReadError(f"{path}: no such bag")
    detail = str(error) or type(error).__name__
    return BagReadError(f"{path}: cannot read the bag (corrupt or truncated?): {type(error).__name__}: {detail}")


# a fully qualified ROS 2 topic name, as bags store them: /token[/token...], tokens not starting with a digit
_TOPIC_NAME = re.compile(r"(/[A-Za-z_][A-Za-z0-9_]*)+")


def _checked_topic(path: Path, topic: str) -> str:
    """The topic name; BagReadError where a corrupt bag gives a name no ROS 2 topic can have."""
    if not _TOPIC_NAME.fullmatch(topic):
        raise BagReadError(f"{path}: cannot read the bag (corrupt?): invalid topic name {topic!r}")
    return topic


def read_messages(path: str | Path, topics: list[str] | None = None) -> Iterator[BagMessage]:
    """Messages of a bag (directory, .mcap or .db3) in log-time order; raises BagReadError on a bad bag."""
    path = Path(path)
    try:
        with Reader(path) as reader:
            for connection in reader.connections:
                _checked_topic(path, connection.topic)
            connections = [c for c in reader.connections if not topics or c.topic in topics]
            for connection, timestamp, raw in reader.messages(connections=connections):
                yield BagMessage(connection.topic, connection.msgtype, timestamp, bytes(raw))
    except (OSError, *_CORRUPT_DATA_ERRORS) as error:
        raise _bag_error(path, error) from error


def bag_topics(path: str | Path) -> dict[str, str]:
    """Topic name -> message type of a bag; raises BagReadError on a bad bag."""
    path = Path(path)
    try:
        with Reader(path) as reader:
            return {_checked_topic(path, c.topic): c.msgtype for c in reader.connections}
    except (OSError, *_CORRUPT_DATA_ERRORS) as error:
        raise _bag_error(path, error) from error


class McapFileWriter:
    """Writes one self-contained .mcap file (what Foxglove opens) through rosbags' rosbag2 writer.

    rosbags writes a bag folder; while recording it lives at OUT.mcap.partial/ and on close its
    MCAP file becomes OUT.mcap.
    """

    def __init__(self, path: str | Path, typestore: Typestore) -> None:
        self.path = Path(path)
        if self.path.suffix != ".mcap":
            raise ValueError(f"{self.path}: the output file must end in .mcap")
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists already, not overwriting")
        self.folder = self.path.with_name(self.path.name + ".partial")
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.typestore = typestore
        self.writer = Writer(self.folder, version=9, storage_plugin=StoragePlugin.MCAP)
        self.connections: dict[str, object] = {}
        self.message_count = 0

    def __enter__(self) -> "McapFileWriter":
        self.writer.open()
        return self

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=self.typestore)

    def write(self, topic: str, timestamp_ns: int, raw: bytes) -> None:
        self.writer.write(self.connections[topic], timestamp_ns, raw)
        self.message_count += 1

    def close(self) -> None:
        self.writer.close()
        (mcap_file,) = self.folder.glob("*.mcap")
        mcap_file.replace(self.path)
        shutil.rmtree(self.folder)

    def __exit__(self, *exc_info: object) -> None:
        self.close()
