"""Ego-motion core (no ROS): pose buffer, interpolation, verdicts, and the tracker stage in the odom frame."""
import math

import numpy as np
import pytest

from perception.pipeline.stages import TrackingStage
from perception.tracking.ego_motion import (
    EgoMotion, OdometryVerdict, PlanarPose, PoseBuffer, PoseVerdict, ground_to_odom, interpolate,
    rotation_homography, wrap_angle, yaw_from_quaternion,
)
from perception.tracking.ground_plane import CameraPose, GroundMeasurements
from perception.tracking.tracker import TrackerConfig
from perception.types import Detections, ObjectClass

INTRINSICS = np.array([[700.0, 0.0, 640.0], [0.0, 700.0, 360.0], [0.0, 0.0, 1.0]])
CAMERA = CameraPose(x=0.0, y=0.0, z=1.5)


def test_yaw_interpolates_along_the_shorter_turn_across_pi():
    a, b = PlanarPose(0.0, 0.0, math.radians(170)), PlanarPose(2.0, 4.0, math.radians(-170))
    middle = interpolate(a, b, 0.5)
    assert (middle.x, middle.y) == (1.0, 2.0)
    assert math.isclose(abs(middle.yaw), math.pi, abs_tol=1e-9)
    assert math.isclose(interpolate(a, b, 0.25).yaw, math.radians(175), abs_tol=1e-9)
    assert wrap_angle(3 * math.pi) == pytest.approx(-math.pi)
    assert yaw_from_quaternion(0.0, 0.0, math.sin(0.3), math.cos(0.3)) == pytest.approx(0.6)


def test_pose_buffer_interpolates_extrapolates_and_says_when_it_cannot():
    buffer = PoseBuffer(tolerance_s=0.1)
    assert buffer.pose_at(1.0).verdict is PoseVerdict.NO_ODOMETRY
    for k in range(5):  # 10 Hz, driving 10 m/s forward
        assert buffer.add(1.0 + 0.1 * k, PlanarPose(1.0 * k, 0.0, 0.0)) is OdometryVerdict.ACCEPTED
    lookup = buffer.pose_at(1.25)
    assert lookup.verdict is PoseVerdict.INTERPOLATED and lookup.pose.x == pytest.approx(2.5)
    assert buffer.pose_at(1.2).pose.x == pytest.approx(2.0)
    lookup = buffer.pose_at(1.45)  # 50 ms after the newest pose
    assert lookup.verdict is PoseVerdict.EXTRAPOLATED and lookup.pose.x == pytest.approx(4.5)
    assert buffer.pose_at(1.55).verdict is PoseVerdict.STALE  # the newest pose is 150 ms old
    assert buffer.pose_at(0.85).verdict is PoseVerdict.STALE


def test_out_of_order_odometry_is_inserted_in_order_duplicates_and_too_old_are_rejected():
    buffer = PoseBuffer(tolerance_s=0.1, max_poses=4)
    for stamp in (1.0, 1.2, 1.3):
        buffer.add(stamp, PlanarPose(10 * stamp, 0.0, 0.0))
    assert buffer.add(1.1, PlanarPose(11.0, 0.0, 0.0)) is OdometryVerdict.OUT_OF_ORDER
    assert buffer.pose_at(1.15).pose.x == pytest.approx(11.5)  # between the inserted 1.1 and 1.2
    assert buffer.add(1.2, PlanarPose(0.0, 0.0, 0.0)) is OdometryVerdict.DUPLICATE
    assert buffer.add(0.9, PlanarPose(9.0, 0.0, 0.0)) is OdometryVerdict.TOO_OLD  # full, older than all kept
    assert len(buffer) == 4
    assert buffer.add(-5.0, PlanarPose(0.0, 0.0, 0.0)) is OdometryVerdict.TIME_JUMPED_BACK  # a bag starting over
    assert len(buffer) == 1


def test_memory_is_bounded_by_history_and_count():
    buffer = PoseBuffer(history_s=1.0, max_poses=50)
    for k in range(10_000):
        buffer.add(0.01 * k, PlanarPose(0.0, 0.0, 0.0))
    assert len(buffer) == 50
    buffer = PoseBuffer(history_s=1.0, max_poses=1000)
    for k in range(10_000):
        buffer.add(0.01 * k, PlanarPose(0.0, 0.0, 0.0))
    assert len(buffer) == 101  # the newest second at 100 Hz


def test_measurements_move_into_odom_with_rotated_covariances():
    ground = GroundMeasurements(np.array([[10.0, 0.0]]), np.array([np.diag([4.0, 0.25])]), np.array([True]))
    moved = ground_to_odom(ground, PlanarPose(100.0, 50.0, math.pi / 2))
    np.testing.assert_allclose(moved.positions, [[100.0, 60.0]])
    np.testing.assert_allclose(moved.covariances[0], np.diag([0.25, 4.0]), atol=1e-12)  # range error now along y
    back = PlanarPose(100.0, 50.0, math.pi / 2).to_vehicle(moved.positions)
    np.testing.assert_allclose(back, [[10.0, 0.0]], atol=1e-12)


def test_odometry_in_another_frame_or_not_finite_is_rejected():
    ego = EgoMotion("base_link", odom_frame="odom")
    with pytest.raises(ValueError, match="expected 'odom'"):
        ego.add_odometry(1.0, "map", PlanarPose(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="not finite"):
        ego.add_odometry(1.0, "odom", PlanarPose(math.nan, 0.0, 0.0))
    with pytest.raises(ValueError, match="vehicle frame"):
        EgoMotion("base_link").add_odometry(1.0, "base_link", PlanarPose(0.0, 0.0, 0.0))


def test_frames_coast_in_odom_while_odometry_pauses_then_fall_back_to_the_vehicle_frame_and_return():
    ego = EgoMotion("base_link", tolerance_s=0.05, timeout_s=0.5)
    first = ego.at(0.0)
    assert first.ground_frame_id == "base_link" and first.pose is None and not first.frame_changed
    for k in range(1, 4):
        ego.add_odometry(0.1 * k, "odom", PlanarPose(float(k), 0.0, 0.0))
    motion = ego.at(0.2)
    assert motion.ground_frame_id == "odom" and motion.frame_changed and motion.pose.x == pytest.approx(2.0)
    paused = [ego.at(stamp) for stamp in (0.4, 0.6, 0.8)]  # odometry stopped after 0.3
    assert [m.ground_frame_id for m in paused] == ["odom", "odom", "base_link"]
    assert [m.frame_changed for m in paused] == [False, False, True] and all(m.pose is None for m in paused)
    ego.add_odometry(1.0, "odom", PlanarPose(10.0, 0.0, 0.0))
    back = ego.at(1.0)
    assert back.ground_frame_id == "odom" and back.frame_changed
    assert ego.counters["frames_without_odometry.stale_odometry"] == 3
    assert ego.counters["frames_without_odometry.no_odometry"] == 1
    assert ego.counters["ground_frame_switches"] == 3


def _detections(box: list[float]) -> Detections:
    # UNKNOWN: no class size prior, so the position is the box bottom on the ground (where _box_of_ground_point puts it)
    return Detections(np.array([box], np.float32), np.array([0.9], np.float32),
                      np.array([int(ObjectClass.UNKNOWN)]), np.array([-1]))


def _box_of_ground_point(x: float, y: float, width: float = 60.0) -> list[float]:
    """A box whose bottom centre projects to (x, y) on the ground (camera at the origin, 1.5 m high, level)."""
    u = 640.0 - 700.0 * y / x
    v = 360.0 + 700.0 * 1.5 / x
    return [u - width / 2, v - 80.0, u + width / 2, v]


def _run(stage: TrackingStage, ego_speed: float, yaw_rate: float, frames: int = 30):
    """A parked object at (40, 3) in odom, seen from a vehicle driving and turning; odometry at 10 Hz."""
    pose = PlanarPose(0.0, 0.0, 0.0)
    outputs = []
    for k in range(frames):
        stamp = 0.1 * k
        pose = PlanarPose(ego_speed * stamp * math.cos(yaw_rate * stamp / 2),
                          ego_speed * stamp * math.sin(yaw_rate * stamp / 2), yaw_rate * stamp)
        if stage.ego_motion is not None:
            stage.ego_motion.add_odometry(stamp, "odom", pose)
        x, y = pose.to_vehicle(np.array([[40.0, 3.0]]))[0]
        outputs.append(stage.process(_detections(_box_of_ground_point(x, y)), stamp))
    return outputs


def test_a_parked_object_seen_while_driving_and_turning_stands_still_in_odom():
    config = TrackerConfig(high_score=0.5, confirm_hits=1)
    with_odometry = TrackingStage(config, CAMERA, ego_motion=EgoMotion("base_link"))
    with_odometry.set_intrinsics(INTRINSICS)
    outputs = _run(with_odometry, ego_speed=10.0, yaw_rate=0.1)
    last = outputs[-1]
    assert last.ground_frame_id == "odom" and len(last.tracks) == 1
    ground = last.tracks[0].ground
    assert np.linalg.norm(ground.position - [40.0, 3.0]) < 0.3
    assert np.linalg.norm(ground.velocity) < 0.3  # over the ground: parked

    without = TrackingStage(config, CAMERA)
    without.set_intrinsics(INTRINSICS)
    last = _run(without, ego_speed=10.0, yaw_rate=0.1)[-1]
    assert last.ground_frame_id == "base_link"
    assert last.tracks[0].ground.velocity[0] < -9.0  # relative to the vehicle: minus our speed


def test_odometry_stopping_mid_run_coasts_then_restarts_the_ground_state_in_the_vehicle_frame():
    stage = TrackingStage(TrackerConfig(high_score=0.5, confirm_hits=1), CAMERA,
                          ego_motion=EgoMotion("base_link", tolerance_s=0.05, timeout_s=0.3))
    stage.set_intrinsics(INTRINSICS)
    _run(stage, ego_speed=10.0, yaw_rate=0.0, frames=10)  # odometry until 0.9 s, the vehicle at x = 9 m
    box = _box_of_ground_point(31.0, 3.0)  # the parked object, seen from where the vehicle stopped
    frames = [stage.process(_detections(box), 1.0 + 0.1 * k) for k in range(6)]
    assert [f.ground_frame_id for f in frames] == ["odom"] * 3 + ["base_link"] * 3
    assert len({t.track_id for f in frames for t in f.tracks}) == 1  # image tracking goes on
    coasting = frames[2].tracks[0].ground  # no measurement used: the odom state only predicted
    assert np.linalg.norm(coasting.position - [40.0, 3.0]) < 0.5
    restarted = frames[3].tracks[0].ground
    np.testing.assert_allclose(restarted.velocity, [0.0, 0.0])  # a new state, from this frame's measurement
    assert np.linalg.norm(restarted.position - [31.0, 3.0]) < 0.5
    assert stage.ego_motion.counters["frames_without_odometry.stale_odometry"] == 6


def test_turning_left_moves_far_pixels_right_by_the_rotation():
    homography = rotation_homography(INTRINSICS, CAMERA, math.radians(5))
    u, v, w = homography @ [640.0, 360.0, 1.0]
    assert u / w == pytest.approx(640.0 + 700.0 * math.tan(math.radians(5))) and v / w == pytest.approx(360.0)
    np.testing.assert_allclose(rotation_homography(INTRINSICS, CAMERA, 0.0), np.eye(3), atol=1e-12)


def test_track_boxes_follow_the_camera_rotation_from_odometry():
    """A standing object far ahead while the vehicle turns in place: its image box sweeps sideways; with odometry the
    predicted box moves with it and the track keeps its id, without it the id is lost."""
    def run(stage: TrackingStage) -> set[int]:
        ids = set()
        for k in range(6):
            yaw = math.radians(4) * k
            if stage.ego_motion is not None:
                stage.ego_motion.add_odometry(0.1 * k, "odom", PlanarPose(0.0, 0.0, yaw))
            x, y = PlanarPose(0.0, 0.0, yaw).to_vehicle(np.array([[60.0, 0.0]]))[0]
            ids |= {t.track_id for t in stage.process(_detections(_box_of_ground_point(x, y, width=30.0)), 0.1 * k).tracks}
        return ids

    config = TrackerConfig(high_score=0.5, confirm_hits=1)
    with_odometry = TrackingStage(config, CAMERA, ego_motion=EgoMotion("base_link"))
    without = TrackingStage(config, CAMERA)
    for stage in (with_odometry, without):
        stage.set_intrinsics(INTRINSICS)
    assert len(run(with_odometry)) == 1
    assert len(run(without)) > 1
