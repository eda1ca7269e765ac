"""Tracker and predictor processes over DDS with a replayed Odometry stream (KITTI 0001: labelled boxes as
detections, the sequence's camera poses as odometry): odometry starts, pauses and stops during the run."""
import math

import numpy as np
import yaml
from conftest import diagnostic_count, diagnostic_values, latest_status
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo
from test_nodes_tracker_predictor import KITTI_CLASSES, graph_file, stamp, warm_up

from perception.datasets.kitti import read_calibration, read_objects, read_poses
from perception.datasets.kitti_rig import KittiRig
from perception.graph import load_graph
from perception.msg import BoundingBox2D, DetectedObject, DetectedObjects, ObjectClassification, PredictedObjects, \
    TrackedObjects
from perception.runtime.runner import GraphRunner
from perception.tracking.association import assign, iou_matrix
from perception.tracking.ego_motion import PlanarPose

SEQUENCE = "0001"  # residential street at ~11 m/s, parked cars on both sides
FRAMES = 66
ODOMETRY_FRAMES = range(5, 45)  # poses of these frames are published (one frame ahead of the images)
TRACKER = "/perception/kitti/tracker"


def frame_stamp(frame: int) -> tuple[int, int]:
    return 100 + frame // 10, (frame % 10) * 100_000_000


def odometry(pose: PlanarPose, frame: int) -> Odometry:
    message = Odometry(child_frame_id="base_link")
    message.header.frame_id = "odom"
    message.header.stamp.sec, message.header.stamp.nanosec = frame_stamp(frame)
    message.pose.pose.position.x, message.pose.pose.position.y = pose.x, pose.y
    message.pose.pose.orientation.z, message.pose.pose.orientation.w = math.sin(pose.yaw / 2), math.cos(pose.yaw / 2)
    return message


def detections(labels: list, frame: int) -> DetectedObjects:
    message = DetectedObjects()
    message.header.frame_id = "camera_kitti"
    message.header.stamp.sec, message.header.stamp.nanosec = frame_stamp(frame)
    for row in (r for r in labels if r.frame == frame):
        x_min, y_min, x_max, y_max = (float(v) for v in row.box)
        message.objects.append(DetectedObject(
            score=1.0, box=BoundingBox2D(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max),
            classification=[ObjectClassification(label=KITTI_CLASSES[row.type], probability=1.0)]))
    return message


def camera_info(kitti) -> CameraInfo:
    calibration = read_calibration(kitti / "calib" / f"{SEQUENCE}.txt")
    message = CameraInfo(width=1242, height=375, distortion_model="plumb_bob")
    message.k, message.p = calibration.intrinsics.ravel().tolist(), calibration.P2.ravel().tolist()
    message.header.frame_id = "camera_kitti"
    return message


def parked_cars(labels: list, odom_from_vehicle: np.ndarray, rig: KittiRig) -> dict[tuple[int, int], np.ndarray]:
    """(frame, label id) -> box of the cars standing still (truth speed over the ground below 0.3 m/s)."""
    odom = {(o.frame, o.track_id): (odom_from_vehicle[o.frame] @ np.append(rig.to_vehicle(o.location[None])[0], 1))[:2]
            for o in labels if o.type == "Car"}
    parked = {}
    for o in labels:
        before, after = odom.get((o.frame - 1, o.track_id)), odom.get((o.frame + 1, o.track_id))
        if before is not None and after is not None and np.linalg.norm(after - before) * 5 < 0.3:
            parked[o.frame, o.track_id] = o.box
    return parked


def test_odometry_puts_tracks_and_predictions_in_the_odom_frame_with_velocities_over_the_ground(
        ros, tmp_path, shared_data):
    kitti = shared_data / "tracking" / "kitti"
    calibration = read_calibration(kitti / "calib" / f"{SEQUENCE}.txt")
    rig = KittiRig.level(calibration)
    odom_from_vehicle = rig.odom_from_vehicle(read_poses(kitti / "poses_orbslam3" / f"{SEQUENCE}.txt"))
    labels = [o for o in read_objects(kitti / "label_02" / f"{SEQUENCE}.txt") if o.type in KITTI_CLASSES]
    path = graph_file(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["nodes"]["tracker"]["remappings"]["odometry"] = "/test/odom"
    path.write_text(yaml.safe_dump(document))
    with GraphRunner(load_graph(path)) as runner:
        runner.wait_until_up(timeout_s=60)
        info_publisher = ros.node.create_publisher(CameraInfo, "/test/kitti/camera_info", 10)
        detections_publisher = ros.node.create_publisher(DetectedObjects, "/perception/kitti/detections", 100)
        odometry_publisher = ros.node.create_publisher(Odometry, "/test/odom", 100)
        tracks = ros.collect(TrackedObjects, "/perception/kitti/tracks", 200)
        predictions = ros.collect(PredictedObjects, "/perception/kitti/predicted_objects", 200)
        diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
        assert ros.wait_for(lambda: detections_publisher.get_subscription_count() > 0
                            and odometry_publisher.get_subscription_count() > 0
                            and ros.node.count_subscribers("/perception/kitti/tracks") >= 2, 90)
        warm_up(ros, info_publisher, camera_info(kitti), detections_publisher, predictions)
        tracks.clear()
        predictions.clear()
        published = set()
        for frame in range(FRAMES):
            # Odometry runs one frame ahead of the images; frames 21 and 22 arrive swapped, frame 31 twice.
            ahead = [k for k in (frame, frame + 1) if frame in ODOMETRY_FRAMES and k in ODOMETRY_FRAMES]
            ahead = {20: [22, 21], 30: [31, 31]}.get(frame, ahead)
            for k in ahead:
                if k not in published or frame == 30:
                    odometry_publisher.publish(odometry(PlanarPose.from_matrix(odom_from_vehicle[k]), k))
                    published.add(k)
            if frame == 40:
                odometry_publisher.publish(odometry(PlanarPose(math.nan, 0.0, 0.0), 40))
            info_publisher.publish(camera_info(kitti))
            message = detections(labels, frame)
            detections_publisher.publish(message)
            # One frame at a time, so that a busy machine cannot reorder odometry and images beyond the stamps.
            assert ros.wait_for(lambda: tracks and stamp(tracks[-1]) == stamp(message), 30), f"no tracks for {frame}"

        # The tracker publishes /diagnostics once a second: wait for a report made after the last frame, whose
        # counters are final (an earlier one may predate the switch back to base_link).
        last_frame_done_ns = ros.node.get_clock().now().nanoseconds

        def tracker_reported_after_last_frame() -> bool:
            return any(Time.from_msg(array.header.stamp).nanoseconds > last_frame_done_ns
                       and any(status.name == TRACKER for status in array.status) for array in list(diagnostics))
        assert ros.wait_for(tracker_reported_after_last_frame, 10), diagnostic_values(diagnostics, TRACKER)
        runner.check()

    values = diagnostic_values(diagnostics, TRACKER)
    assert int(values["frames_without_odometry.stale_odometry"]) >= 10
    assert int(values["odometry_received"]) >= len(ODOMETRY_FRAMES)
    assert int(values["odometry_out_of_order"]) == 1
    assert diagnostic_count(diagnostics, TRACKER, "rejected.odometry_duplicate_stamp") == 1
    assert diagnostic_count(diagnostics, TRACKER, "rejected.bad_odometry") == 1
    assert "not finite" in values["last_rejection.bad_odometry"]
    assert int(values["frames_without_odometry.no_odometry"]) >= 5
    assert int(values["ground_frame_switches"]) == 2  # base_link -> odom when odometry starts, back after it stops
    status = latest_status(diagnostics, TRACKER)
    assert values["ground_frame_id"] == "base_link" and "no odometry" in status.message

    by_frame = {round((stamp(m) - 100) * 10): m for m in tracks}
    assert {m.camera_frame_id for m in tracks + predictions} == {"camera_kitti"}
    frames = [by_frame[frame].header.frame_id for frame in range(FRAMES)]
    assert frames[:5] == ["base_link"] * 5
    assert frames[6:45] == ["odom"] * 39
    assert frames[-5:] == ["base_link"] * 5  # more than odometry_timeout_s (1 s) after the last pose
    predicted_frames = {round((stamp(m) - 100) * 10): m.header.frame_id for m in predictions if m.objects}
    assert {frame for frame, frame_id in predicted_frames.items() if 10 <= frame < 45 and frame_id == "odom"}, \
        "no predictions in the odom frame"
    assert all(frame_id == "odom" for frame, frame_id in predicted_frames.items() if 10 <= frame < 45)

    # Parked cars stand still over the ground while we drive at ~11 m/s.
    ego_speed = np.linalg.norm(odom_from_vehicle[44, :2, 3] - odom_from_vehicle[20, :2, 3]) / 2.4
    parked = parked_cars(labels, odom_from_vehicle, rig)
    speeds = []
    for frame in range(25, 45):
        objects = [o for o in by_frame[frame].objects if o.has_kinematics and o.age > 1.0]
        boxes = [box for (f, _), box in parked.items() if f == frame]
        if not objects or not boxes:
            continue
        overlap = iou_matrix(np.array([[o.box.x_min, o.box.y_min, o.box.x_max, o.box.y_max] for o in objects]),
                             np.array(boxes))
        for row, _ in zip(*assign(1.0 - overlap, 0.5)):
            speeds.append(math.hypot(objects[row].velocity.x, objects[row].velocity.y))
    assert ego_speed > 8.0 and len(speeds) >= 20
    # Relative to the vehicle they would move at minus our speed; the accuracy itself is measured by eval-ego-motion.
    assert np.median(speeds) < 0.25 * ego_speed, f"parked cars move at {np.median(speeds):.2f} m/s over the ground"
