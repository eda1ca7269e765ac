"""Offline evaluation takes the camera's mounting pose from a bag's /tf_static (a vehicle's URDF chain base_link ->
camera link -> the images' optical frame), as the tracker node does live, and says so on /diagnostics."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation
from test_any_bag import FRAMES, HIGHWAY, decoded, diagnostic_values, perception

from perception.bags import McapFileWriter, perception_typestore, read_messages
from perception.runtime.video_to_bag import video_to_bag
from perception.tracking.ground_plane import BODY_FROM_OPTICAL

TF_MESSAGE = "tf2_msgs/msg/TFMessage"


def transform(typestore, parent: str, child: str, translation, rotation: np.ndarray):
    types = typestore.types
    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return types["geometry_msgs/msg/TransformStamped"](
        header=types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](0, 0), frame_id=parent),
        child_frame_id=child,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](*map(float, translation)),
            rotation=types["geometry_msgs/msg/Quaternion"](x, y, z, w)))


def with_tf_static(bag, out, transforms) -> None:
    """`bag` with one /tf_static message (as a recorder writes it, first) holding `transforms`."""
    typestore = perception_typestore()
    messages = list(read_messages(bag))
    with McapFileWriter(out, typestore) as writer:
        writer.add_topic("/tf_static", TF_MESSAGE)
        writer.write("/tf_static", messages[0].timestamp_ns,
                     typestore.serialize_cdr(typestore.types[TF_MESSAGE](transforms=transforms), TF_MESSAGE))
        for message in messages:
            writer.add_topic(message.topic, message.msgtype)
            writer.write(message.topic, message.timestamp_ns, message.raw)


def positions(messages) -> np.ndarray:
    return np.array([(o.position.x, o.position.y) for m in messages["/perception/front/tracks"] for o in m.objects
                     if o.has_kinematics])


def test_eval_takes_the_camera_pose_from_the_bags_tf_static(tmp_path, shared_data):
    plain = tmp_path / "plain.mcap"
    video_to_bag(shared_data / HIGHWAY, plain, camera_topic="/cam/image/compressed", info_topic="/cam/camera_info",
                 frame_id="cam_optical", max_frames=FRAMES)
    typestore = perception_typestore()
    # the camera mounted twice as high as the graph's camera pose says (1.2 m), looking down 3 degrees
    body = Rotation.from_euler("ZYX", [0.0, 0.052, 0.0]).as_matrix()
    tf_bag = tmp_path / "tf.mcap"
    with_tf_static(plain, tf_bag, [transform(typestore, "base_link", "cam_link", [1.0, 0.0, 2.4], body),
                                   transform(typestore, "cam_link", "cam_optical", [0.0, 0.0, 0.0],
                                             BODY_FROM_OPTICAL)])
    perception("eval", plain, "--out", tmp_path / "plain")
    perception("eval", tf_bag, "--out", tmp_path / "tf")
    without, with_tf = decoded(tmp_path / "plain" / "eval.mcap"), decoded(tmp_path / "tf" / "eval.mcap")
    assert diagnostic_values(without)["camera_pose"] == "parameters"
    source = diagnostic_values(with_tf)["camera_pose"]
    assert source.startswith("tf_static (base_link -> cam_link -> cam_optical: x=1.000 y=0.000 z=2.400 m, "
                             "roll=0.0000 pitch=0.0520 yaw=0.0000 rad"), source
    near, far = positions(without), positions(with_tf)
    assert len(near) and len(far) and not np.allclose(np.median(near[:, 0]), np.median(far[:, 0]), rtol=0.05)
