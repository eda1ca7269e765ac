"""Short real bags for tests: the first frames of a bag, with every other message up to them."""
from pathlib import Path

from perception.bags import McapFileWriter, bag_topics, perception_typestore, read_messages


def cut_bag(source: Path, out: Path, frames: int) -> Path:
    """The first `frames` camera frames of `source` (and every other message up to them)."""
    with McapFileWriter(out, perception_typestore()) as writer:
        for topic, msgtype in bag_topics(source).items():
            writer.add_topic(topic, msgtype)
        seen = 0
        for record in read_messages(source):
            seen += record.msgtype.endswith("CompressedImage")
            if seen > frames:
                break
            writer.write(record.topic, record.timestamp_ns, record.raw)
    return out
