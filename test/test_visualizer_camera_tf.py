"""The visualizer publishes its camera transform only where no other publisher (the vehicle's URDF) has one to the
same frame: which /tf_static transforms count as another's. (The node itself needs tf2_msgs, which the PyPI wheels
do not have: see docs/nodes.md.)"""
from __future__ import annotations

import numpy as np

from perception.nodes.visualizer import other_camera_transform
from perception.tracking.ground_plane import BODY_FROM_OPTICAL, StaticTransform

OURS = StaticTransform("base_link", "camera_optical_frame", np.array([1.5, 0.0, 1.4]), BODY_FROM_OPTICAL)


def test_only_a_different_transform_to_our_camera_frame_is_another_publishers():
    identical = StaticTransform("base_link", "camera_optical_frame", OURS.translation.copy(), OURS.rotation.copy())
    other_frame = StaticTransform("base_link", "lidar", np.zeros(3), np.eye(3))
    assert other_camera_transform([identical, other_frame], OURS) is None
    urdf = StaticTransform("camera_link", "camera_optical_frame", np.zeros(3), BODY_FROM_OPTICAL)
    assert other_camera_transform([other_frame, urdf], OURS) is urdf
    moved = StaticTransform("base_link", "camera_optical_frame", np.array([1.6, 0.0, 1.4]), BODY_FROM_OPTICAL)
    assert other_camera_transform([moved], OURS) is moved
