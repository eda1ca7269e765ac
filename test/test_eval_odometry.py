"""`perception eval` (offline) on a bag with odometry: the tracker's ground output is in the odom frame, and the
summary says so (a real clip; the Odometry stream is a vehicle driving straight at 10 m/s)."""

from nav_msgs.msg import Odometry
from rclpy.serialization import serialize_message

from perception.evaluation.run_summary import summarize_run
from perception.graph import load_graph
from perception.resources import config_path
from perception.bags import McapFileWriter, bag_topics, perception_typestore, read_messages
from perception.runtime.offline import run_offline
from perception.runtime.video_to_bag import video_to_bag

CAMERA, INFO, ODOMETRY = "/cam/image/compressed", "/cam/camera_info", "/odom"


def odometry(stamp_ns: int, x: float) -> bytes:
    message = Odometry(child_frame_id="base_link")
    message.header.frame_id = "odom"
    message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    message.pose.pose.position.x, message.pose.pose.orientation.w = x, 1.0
    return serialize_message(message)


def test_offline_eval_uses_recorded_odometry_for_the_odom_frame(tmp_path, shared_data):
    clip = tmp_path / "clip.mcap"
    video_to_bag(shared_data / "clips" / "udacity_highway_1280x720.mp4", clip, camera_topic=CAMERA,
                 info_topic=INFO, frame_id="cam", max_frames=12)
    bag = tmp_path / "with_odometry.mcap"
    topics = bag_topics(clip)
    with McapFileWriter(bag, perception_typestore()) as writer:
        for topic, msgtype in [*topics.items(), (ODOMETRY, "nav_msgs/msg/Odometry")]:
            writer.add_topic(topic, msgtype)
        start = None
        for record in read_messages(clip):
            writer.write(record.topic, record.timestamp_ns, record.raw)
            if record.topic == CAMERA:  # odometry at each image's log time (video_to_bag stamps = log times)
                start = record.timestamp_ns if start is None else start
                writer.write(ODOMETRY, record.timestamp_ns, odometry(record.timestamp_ns,
                                                                     10.0 * (record.timestamp_ns - start) / 1e9))
    graph = load_graph(config_path("perception.yaml"), {"front": {"image": CAMERA, "camera_info": INFO}})
    recording = run_offline(graph, {"front": (CAMERA, INFO)}, bag, tmp_path / "eval.mcap")

    summary = summarize_run(recording)
    assert summary.ground_frames.get("odom", 0) >= 10, summary.ground_frames
    assert "odom" in summary.ground_frame_note() and "over the ground" in summary.ground_frame_note()
    values = next(v for name, v in summary.diagnostics.items() if name.endswith("/offline"))
    assert int(values["odometry_received"]) == 12
    assert summary.topics[ODOMETRY].count == 12  # recorded with the inputs
