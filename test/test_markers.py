"""Visualizer output: marker content, stamps, frames, fading paths, DELETE of vanished objects, camera TF, signs."""
import numpy as np
from geometry_msgs.msg import Point
from scipy.spatial.transform import Rotation
from visualization_msgs.msg import Marker

from perception.msg import (
    ObjectClassification, PredictedObject, PredictedObjects, PredictedPath, TrackedObject, TrackedObjects,
)
from perception.ros.conversions import camera_transform
from perception.ros.markers import MarkerBuilder, SignMarkerBuilder
from perception.signs.gtsdb import sign_name
from perception.tracking.ground_plane import CameraPose
from perception.visualization.style import CLASS_COLORS, CLASS_SIZES
from perception.types import ObjectClass


def predicted(track_ids_and_labels, sec=5, model_steps=10) -> PredictedObjects:
    message = PredictedObjects(camera_frame_id="camera_front_optical_frame")
    message.header.stamp.sec, message.header.frame_id = sec, "base_link"
    for track_id, label in track_ids_and_labels:
        path = PredictedPath(model="rnn", confidence=1.0, model_steps=model_steps,
                             positions=[Point(x=10.0 + k, y=2.0, z=0.0) for k in range(1, 11)])
        obj = PredictedObject(track_id=track_id, paths=[path],
                              classification=[ObjectClassification(label=label, probability=0.9)])
        obj.position.x, obj.position.y = 10.0, 2.0
        obj.velocity.x = 10.0
        message.objects.append(obj)
    return message


def test_markers_show_each_object_with_class_style_text_and_fading_path():
    markers = MarkerBuilder().build(predicted([(7, ObjectClass.CAR), (9, ObjectClass.PEDESTRIAN)])).markers
    assert {(m.ns, m.type) for m in markers} == {("objects", Marker.CUBE), ("labels", Marker.TEXT_VIEW_FACING),
                                                 ("paths", Marker.LINE_STRIP)}
    assert all(m.header.frame_id == "base_link" and m.header.stamp.sec == 5 for m in markers)
    car_box = next(m for m in markers if m.ns == "objects" and m.scale.x == CLASS_SIZES[ObjectClass.CAR][0])
    assert (car_box.color.r, car_box.color.g, car_box.color.b) == tuple(np.float32(CLASS_COLORS[ObjectClass.CAR]))
    assert car_box.pose.position.x == 10.0 and car_box.pose.position.z == CLASS_SIZES[ObjectClass.CAR][2] / 2
    texts = sorted(m.text for m in markers if m.ns == "labels")
    assert texts == ["#7 car 36 km/h", "#9 pedestrian 36 km/h"]
    strip = next(m for m in markers if m.ns == "paths")
    assert len(strip.points) == 11 and strip.points[0].x == 10.0 and strip.points[-1].x == 20.0
    alphas = [c.a for c in strip.colors]
    assert alphas[0] == 1.0 and all(np.diff(alphas) < 0)


def test_positions_past_the_trained_horizon_are_drawn_fainter():
    full = MarkerBuilder().build(predicted([(7, ObjectClass.CAR)])).markers
    extrapolated = MarkerBuilder().build(predicted([(7, ObjectClass.CAR)], model_steps=6)).markers
    full_alphas, alphas = ([c.a for c in m.colors] for ms in (full, extrapolated) for m in ms if m.ns == "paths")
    np.testing.assert_allclose(alphas[:7], full_alphas[:7])  # the current position and 6 model steps
    np.testing.assert_allclose(alphas[7:], np.maximum(0.1, np.array(full_alphas[7:]) * 0.5), rtol=1e-6)


def test_vanished_objects_get_delete_markers():
    builder = MarkerBuilder()
    first = builder.build(predicted([(7, ObjectClass.CAR), (9, ObjectClass.PEDESTRIAN)]))
    second = builder.build(predicted([(9, ObjectClass.PEDESTRIAN)], sec=6)).markers
    deleted = [(m.ns, m.id) for m in second if m.action == Marker.DELETE]
    expected = [(m.ns, m.id) for m in first.markers if m.id != second[0].id]
    assert sorted(deleted) == sorted(expected) and len(deleted) == 3
    assert all(m.header.stamp.sec == 6 for m in second)


def test_camera_transform_points_the_optical_axis_forward_and_down():
    pose = CameraPose(1.0, 0.0, 1.2, pitch=0.1)
    transform = camera_transform(pose, "base_link", "camera_front_optical_frame")
    assert (transform.header.frame_id, transform.child_frame_id) == ("base_link", "camera_front_optical_frame")
    assert (transform.transform.translation.x, transform.transform.translation.z) == (1.0, 1.2)
    q = transform.transform.rotation
    optical_z_in_vehicle = Rotation.from_quat([q.x, q.y, q.z, q.w]).apply([0.0, 0.0, 1.0])
    np.testing.assert_allclose(optical_z_in_vehicle, [np.cos(0.1), 0.0, -np.sin(0.1)], atol=1e-9)


def sign_tracks(signs, sec=5) -> TrackedObjects:
    """TrackedObjects of sign tracks: (track id, sign class id, has a position)."""
    message = TrackedObjects(camera_frame_id="camera_front_optical_frame")
    message.header.stamp.sec, message.header.frame_id = sec, "odom"
    for track_id, class_id, positioned in signs:
        obj = TrackedObject(track_id=track_id, sign_class_id=class_id, sign_name=sign_name(class_id),
                            has_kinematics=positioned,
                            classification=[ObjectClassification(label=ObjectClass.TRAFFIC_SIGN, probability=1.0)])
        obj.position.x, obj.position.y = 25.0, -4.0
        message.objects.append(obj)
    return message


def test_sign_markers_show_the_plate_by_category_with_id_and_type():
    builder = SignMarkerBuilder()
    markers = builder.build(sign_tracks([(3, 1, True), (4, 13, True), (5, 38, False)])).markers
    assert sorted((m.ns, m.type) for m in markers) == [
        ("sign_labels", Marker.TEXT_VIEW_FACING)] * 2 + [("signs", Marker.CYLINDER)] * 2
    assert all(m.header.frame_id == "odom" and m.header.stamp.sec == 5 for m in markers)
    assert sorted(m.text for m in markers if m.ns == "sign_labels") == ["#3 speed limit 30", "#4 give way"]
    plates = {m.id: m for m in markers if m.ns == "signs"}
    assert all((m.pose.position.x, m.pose.position.y) == (25.0, -4.0) for m in plates.values())
    colors = {(m.color.r, m.color.g, m.color.b) for m in plates.values()}
    assert len(colors) == 2  # prohibitory and danger differ
    # the sign without a position (no intrinsics) is not drawn; a vanished sign is deleted
    later = builder.build(sign_tracks([(4, 13, True)], sec=6)).markers
    assert sorted(m.ns for m in later if m.action == Marker.DELETE) == ["sign_labels", "signs"]
