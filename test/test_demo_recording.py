"""What `perception demo` records besides the graph's messages: the visualizer's markers and the cameras' /tf_static,
so that Foxglove's 3D view shows our objects."""
import shutil

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from perception.cli.runtime import topic_counts

from perception.graph import load_graph
from perception.resources import config_path, data_path
from perception.bags import perception_typestore, read_messages
from perception.runtime.demo import STATIC_TF_TOPIC, add_static_tf, bag_subscribers, recorded_topics


def test_demo_records_markers_and_writes_the_camera_transform_first(tmp_path):
    graph = load_graph(config_path("perception.yaml"))
    bag = tmp_path / "demo.mcap"
    shutil.copy(data_path("sample_highway_960x540.mcap"), bag)
    assert "/perception/front/markers" in recorded_topics(graph, bag)
    before = [(m.topic, m.timestamp_ns, m.raw) for m in read_messages(bag)]

    add_static_tf(bag, graph)

    after = list(read_messages(bag))
    assert after[0].topic == STATIC_TF_TOPIC and after[0].timestamp_ns == min(stamp for _, stamp, _ in before)
    assert [(m.topic, m.timestamp_ns, m.raw) for m in after[1:]] == before
    (transform,) = perception_typestore().deserialize_cdr(after[0].raw, after[0].msgtype).transforms
    assert (transform.header.frame_id, transform.child_frame_id) == ("base_link", "camera_front_optical_frame")
    translation = transform.transform.translation
    assert (translation.x, translation.y, translation.z) == (1.0, 0.0, 1.2)  # config/perception.yaml, camera pose
    rotation = transform.transform.rotation
    optical_z = Rotation.from_quat([rotation.x, rotation.y, rotation.z, rotation.w]).apply([0.0, 0.0, 1.0])
    assert optical_z[0] > 0.99 and optical_z[2] > 0  # looks forward, pitched up by 0.048 rad
    assert np.isclose(np.arcsin(optical_z[2]), 0.048, atol=1e-6)


def test_the_bag_plays_once_every_subscriber_of_its_topics_is_matched():
    """The replay waits, per bag topic, for the graph's nodes remapped to it and the recorder: with the sign node on,
    two nodes and the recorder on the images (it waited for two in all, so the detector could be matched after the
    first frames had gone)."""
    graph = load_graph(config_path("perception.yaml"))
    counts = bag_subscribers(graph, data_path("sample_highway_960x540.mcap"))
    assert counts == {"/sensing/camera/front/image_raw/compressed": 2, "/sensing/camera/front/camera_info": 1}
    assert topic_counts(["/a=3", "/b/c=1"]) == {"/a": 3, "/b/c": 1}
    with pytest.raises(ValueError, match="TOPIC=N"):
        topic_counts(["/a"])
