"""The tracker's odometry subscription connects to reliable and best-effort odometry publishers alike (a state
estimator publishing at a high rate is often best-effort): cross-process, over DDS. A reliable subscription (the
old default, still a choice) would never connect to a best-effort publisher, silently."""
from __future__ import annotations

import importlib.util

from conftest import RunningGraph, diagnostic_values
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

GRAPH = {
    "cameras": {"front": {"odometry": "/test/odom_front", "reliability": "best_effort"},
                "rear": {"odometry": "/test/odom_rear", "reliability": "reliable"}},
    "nodes": {"tracker": {"per_camera": True, "remappings": {"odometry": "{odometry}"},
                          "parameters": {"odometry_qos_reliability": "{reliability}", "track_signs": False}}},
}
DEFAULT_GRAPH = {"cameras": {"front": {"odometry": "/test/odom_front"}},
                 "nodes": {"tracker": {"per_camera": True, "remappings": {"odometry": "{odometry}"}}}}


def publisher_qos(reliability: ReliabilityPolicy) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=reliability)


def odometry(stamp: float) -> Odometry:
    message = Odometry(child_frame_id="base_link")
    message.header.frame_id = "odom"
    message.header.stamp.sec, message.header.stamp.nanosec = int(stamp), round((stamp % 1) * 1e9)
    message.pose.pose.position.x = stamp
    message.pose.pose.orientation.w = 1.0
    return message


def received(diagnostics: list, node: str) -> int:
    return int(diagnostic_values(diagnostics, node).get("odometry_received", 0))


def test_reliable_and_best_effort_odometry_publishers_both_reach_the_default_tracker(ros, tmp_path):
    """The default graph's tracker (odometry_qos_reliability from the parameter table) gets both publishers' poses;
    /diagnostics says where its camera pose comes from."""
    with RunningGraph(tmp_path, DEFAULT_GRAPH):
        diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
        reliable = ros.node.create_publisher(Odometry, "/test/odom_front", publisher_qos(ReliabilityPolicy.RELIABLE))
        best_effort = ros.node.create_publisher(Odometry, "/test/odom_front",
                                                publisher_qos(ReliabilityPolicy.BEST_EFFORT))
        assert ros.wait_for(lambda: reliable.get_subscription_count() == 1
                            and best_effort.get_subscription_count() == 1, 60), \
            (reliable.get_subscription_count(), best_effort.get_subscription_count())
        node = "/perception/front/tracker"
        for index, publisher in enumerate((reliable, best_effort)):
            for k in range(10):
                publisher.publish(odometry(100.0 + index * 10 + k * 0.1))
                ros.wait_for(lambda: False, 0.02)
            # best-effort may drop a message on a busy machine; on loopback it practically never does
            assert ros.wait_for(lambda: received(diagnostics, node) >= 10 * index + 8, 15), \
                (index, diagnostic_values(diagnostics, node))
        camera_pose = diagnostic_values(diagnostics, node)["camera_pose"]
        if importlib.util.find_spec("tf2_msgs") is None:  # the PyPI ROS 2 wheels have none
            assert camera_pose == "parameters (tf2_msgs not installed: /tf_static not read)"
        else:
            assert camera_pose == "parameters"


def test_a_reliable_subscription_misses_a_best_effort_publisher(ros, tmp_path):
    with RunningGraph(tmp_path, GRAPH):
        publishers = {(topic, policy): ros.node.create_publisher(Odometry, topic, publisher_qos(policy))
                      for topic in ("/test/odom_front", "/test/odom_rear")
                      for policy in (ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT)}
        assert ros.wait_for(lambda: all(p.get_subscription_count() == 1 for (topic, policy), p in publishers.items()
                                        if topic == "/test/odom_front" or policy == ReliabilityPolicy.RELIABLE), 60)
        ros.wait_for(lambda: False, 2.0)  # discovery settled: the mismatch stays
        assert publishers["/test/odom_rear", ReliabilityPolicy.BEST_EFFORT].get_subscription_count() == 0
