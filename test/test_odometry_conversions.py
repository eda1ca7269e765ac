"""Odometry and tf messages -> planar vehicle poses (perception.ros.conversions), and the run summary's frame note."""
import math

import pytest
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry

from perception.evaluation.run_summary import RunSummary
from perception.ros.conversions import odometry_from_msg, pose_from_transform


def odometry(yaw: float, child: str = "base_link") -> Odometry:
    message = Odometry(child_frame_id=child)
    message.header.frame_id = "odom"
    message.header.stamp.sec, message.header.stamp.nanosec = 12, 500_000_000
    message.pose.pose.position.x, message.pose.pose.position.y, message.pose.pose.position.z = 3.0, -4.0, 0.2
    message.pose.pose.orientation.z, message.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return message


def test_odometry_gives_stamp_frame_and_planar_pose():
    stamp, frame, pose = odometry_from_msg(odometry(2.5), "base_link")
    assert (stamp, frame) == (12.5, "odom")
    assert (pose.x, pose.y) == (3.0, -4.0) and pose.yaw == pytest.approx(2.5)


def test_odometry_of_another_frame_or_with_a_broken_quaternion_is_rejected():
    with pytest.raises(ValueError, match="expected the vehicle frame 'base_link'"):
        odometry_from_msg(odometry(0.0, child="imu_link"), "base_link")
    broken = odometry(0.0)
    broken.pose.pose.orientation.w = 0.5
    with pytest.raises(ValueError, match="not a unit quaternion"):
        odometry_from_msg(broken, "base_link")
    assert odometry_from_msg(odometry(0.0, child=""), "base_link")[2].yaw == 0.0  # child frame not set: accepted


def test_transform_gives_the_same_pose_as_odometry():
    transform = TransformStamped()
    transform.header = odometry(1.0).header
    transform.transform.translation.x, transform.transform.translation.y = 3.0, -4.0
    transform.transform.rotation.z, transform.transform.rotation.w = math.sin(0.5), math.cos(0.5)
    assert pose_from_transform(transform) == odometry_from_msg(odometry(1.0), "base_link")


def test_run_summary_says_which_frame_positions_are_in():
    def note(frames: dict) -> str:
        return RunSummary({}, set(), {}, {}, frames).ground_frame_note()

    assert "relative to the moving vehicle, the recording has no odometry" in note({"base_link": 221})
    assert "odom (40 messages)" in note({"base_link": 5, "odom": 40}) and "over the ground" in note({"odom": 1})
    assert "image space only" in note({"": 3})
