"""`perception convert-bag IN.bag OUT.mcap`: a ROS 1 bag as one ROS 2 MCAP file (Foxglove, rosbags, our replay)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from perception.bags import BagReadError, McapFileWriter, bag_topics, is_ros1_bag, perception_typestore, read_messages


def convert_bag(source: str | Path, out: str | Path) -> dict[str, int]:
    """Write every message of a ROS 1 bag, converted to its ROS 2 type (rosbags' converter), to `out`;
    returns messages per topic. Nothing is left at `out` when the source cannot be read."""
    source, out = Path(source), Path(out)
    if not is_ros1_bag(source):
        raise BagReadError(f"{source}: not a ROS 1 .bag file (ROS 2 bags play and evaluate as they are)")
    topics = bag_topics(source)  # a missing or unreadable bag fails here, before anything is written
    typestore = perception_typestore()
    counts: Counter[str] = Counter({topic: 0 for topic in topics})
    with McapFileWriter(out, typestore) as writer:  # a bag that fails to read leaves no output
        for message in read_messages(source, typestore=typestore):
            writer.add_topic(message.topic, message.msgtype)
            writer.write(message.topic, message.timestamp_ns, message.raw)
            counts[message.topic] += 1
    return dict(counts)
