"""Bag access with rosbags (no rclpy): ROS 2 bags (sqlite3 or MCAP), including our own message types, and
ROS 1 `.bag` files, whose messages are converted to ROS 2 (CDR) as they are read."""
from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rosbags.convert.converter import STATIC_MSGTYPE_RENAMES, generate_message_converter
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.rosbag1 import ReaderError as Ros1ReaderError
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


class BagWriteError(RuntimeError):
    """An output bag that cannot be written (exists already, or not an .mcap name); the message says why."""


# What rosbags raises, besides its ReaderError, on corrupt or truncated files (found by test/test_fuzz_bags.py).
_CORRUPT_DATA_ERRORS = (ReaderError, Ros1ReaderError, AnyReaderError, UnicodeDecodeError, OverflowError, MemoryError,
                        TypeError, ValueError, KeyError, IndexError, EOFError, struct.error)
BAG_SUFFIXES = (".mcap", ".db3", ".bag")


def _bag_error(path: Path, error: BaseException) -> BagReadError:
    if not path.exists():
        return BagReadError(f"{path}: no such bag")
    if path.is_dir() and not (path / "metadata.yaml").exists():
        return BagReadError(f"{path}: a folder without metadata.yaml is not a ROS 2 bag")
    if path.is_file() and path.suffix not in BAG_SUFFIXES:
        return BagReadError(f"{path}: not a bag (expected a .mcap, .db3 or ROS 1 .bag file, or a ROS 2 bag folder)")
    detail = str(error) or type(error).__name__
    return BagReadError(f"{path}: cannot read the bag (corrupt or truncated?): {type(error).__name__}: {detail}")


# a fully qualified ROS 2 topic name, as bags store them: /token[/token...], tokens not starting with a digit
_TOPIC_NAME = re.compile(r"(/[A-Za-z_][A-Za-z0-9_]*)+")


def _checked_topic(path: Path, topic: str) -> str:
    """The topic name; BagReadError where a corrupt bag gives a name no ROS 2 topic can have."""
    if not _TOPIC_NAME.fullmatch(topic):
        raise BagReadError(f"{path}: cannot read the bag (corrupt?): invalid topic name {topic!r}")
    return topic


def is_ros1_bag(path: str | Path) -> bool:
    return Path(path).suffix == ".bag"


@contextmanager
def _open_reader(path: Path) -> Iterator[Reader | AnyReader]:
    """rosbags' rosbag2 reader, or its AnyReader for a ROS 1 .bag (which parses the bag's message definitions)."""
    reader = AnyReader([path]) if is_ros1_bag(path) else Reader(path)
    with reader:
        yield reader


def _ros2_msgtype(msgtype: str) -> str:
    """The ROS 2 name of a (normalised) ROS 1 message type, e.g. tf/msg/tfMessage -> tf2_msgs/msg/TFMessage."""
    return STATIC_MSGTYPE_RENAMES.get(msgtype, msgtype)


def _ros1_converters(reader: AnyReader, typestore: Typestore) -> dict[str, Callable[[bytes], memoryview]]:
    """ROS 1 message type -> function turning its serialized bytes into ROS 2 CDR (rosbags' own converter).

    Standard types (sensor_msgs/Image, CameraInfo, ...) map onto the ROS 2 Jazzy definitions; types that ROS 2
    does not have are registered in `typestore` from the bag's own definitions.
    """
    converters = {}
    for connection in reader.connections:
        msgtype = _ros2_msgtype(connection.msgtype)
        if msgtype not in typestore.fielddefs:
            text = reader.typestore.generate_msgdef(connection.msgtype, ros_version=2)[0]
            types = get_types_from_msg(text, msgtype)
            types.pop("std_msgs/msg/Header", None)
            typestore.register(types)
        converters[connection.msgtype] = generate_message_converter(
            reader.typestore, typestore, connection.msgtype, msgtype, {}, src_is2=False, dst_is2=True)
    return converters


def read_messages(path: str | Path, topics: list[str] | None = None,
                  typestore: Typestore | None = None) -> Iterator[BagMessage]:
    """Messages of a bag (directory, .mcap, .db3 or ROS 1 .bag) in log-time order, as ROS 2 CDR bytes;
    raises BagReadError on a bad bag. `typestore` learns the types of a ROS 1 bag that ROS 2 does not have."""
    path = Path(path)
    try:
        with _open_reader(path) as reader:
            for connection in reader.connections:
                _checked_topic(path, connection.topic)
            connections = [c for c in reader.connections if not topics or c.topic in topics]
            if isinstance(reader, AnyReader):
                converters = _ros1_converters(reader, typestore or get_typestore(Stores.ROS2_JAZZY))
                for connection, timestamp, raw in reader.messages(connections=connections):
                    yield BagMessage(connection.topic, _ros2_msgtype(connection.msgtype), timestamp,
                                     bytes(converters[connection.msgtype](raw)))
                return
            for connection, timestamp, raw in reader.messages(connections=connections):
                yield BagMessage(connection.topic, connection.msgtype, timestamp, bytes(raw))
    except (OSError, *_CORRUPT_DATA_ERRORS) as error:
        raise _bag_error(path, error) from error


@dataclass
class TopicInfo:
    topic: str
    msgtype: str  # the ROS 2 type
    count: int
    rate_hz: float  # mean rate over the bag's duration


def topic_infos(path: str | Path) -> list[TopicInfo]:
    """Each topic of a bag with its type, message count and mean rate, from the bag's index (no message is read)."""
    path = Path(path)
    try:
        with _open_reader(path) as reader:
            counts: dict[tuple[str, str], int] = {}
            for c in reader.connections:
                key = (_checked_topic(path, c.topic), _ros2_msgtype(c.msgtype))
                counts[key] = counts.get(key, 0) + c.msgcount
            duration_s = reader.duration / 1e9 if reader.message_count > 1 else 0.0
    except (OSError, *_CORRUPT_DATA_ERRORS) as error:
        raise _bag_error(path, error) from error
    return [TopicInfo(topic, msgtype, count, (count - 1) / duration_s if duration_s > 0 and count > 1 else 0.0)
            for (topic, msgtype), count in sorted(counts.items())]


def bag_topics(path: str | Path) -> dict[str, str]:
    """Topic name -> (ROS 2) message type of a bag; raises BagReadError on a bad bag."""
    return {info.topic: info.msgtype for info in topic_infos(path)}


class McapFileWriter:
    """Writes one self-contained .mcap file (what Foxglove opens) through rosbags' rosbag2 writer.

    rosbags writes a bag folder; while recording it lives at OUT.mcap.partial/ and on close its
    MCAP file becomes OUT.mcap.
    """

    def __init__(self, path: str | Path, typestore: Typestore) -> None:
        self.path = Path(path)
        if self.path.suffix != ".mcap":
            raise BagWriteError(f"{self.path}: the output file must end in .mcap")
        if self.path.exists():
            raise BagWriteError(f"{self.path} exists already, not overwriting")
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

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        """Finish the file; after an error, discard it instead (no partial recording is left)."""
        if exc_type is None:
            self.close()
            return
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 -- e.g. a full disk: the error that ended the recording is the one to raise
            pass
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
