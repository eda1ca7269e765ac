"""The fusion node's work (perception.pipeline.fusion_stage) on real camera outputs, through the messages the node
reads and writes (perception.ros.fusion_messages): one camera's fused list is its predictions unchanged; tracks and
predictions pair by stamp and track id, unpaired ones are counted; a path predicted at an earlier stamp is moved to
the cycle's; two cameras triggered together give one list per stamp, whatever order their messages come in, and a
camera that stops or lags delays a list by at most sync_timeout_s, counted."""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from std_msgs.msg import Header
from virtual_cameras import FRAME_RATE, FRAMES, VIEWS, VirtualCamera, frame_id, image_message

from perception.message_decoding import ground_frame_id, image_size, paths_from_msg, tracks_from_msg
from perception.pipeline.fusion import CameraTracks, FusionConfig
from perception.pipeline.fusion_cycles import CycleSync
from perception.pipeline.fusion_stage import FusionStage, advance_path
from perception.pipeline.health import OK, WARN, Health
from perception.pipeline.models import ModelCache
from perception.ros.conversions import predictions_to_msg, stamp_seconds, tracks_to_msg
from perception.ros.fusion_messages import FusionMessages

FRAME_ID = "camera_left_optical_frame"


def header(stamp: float, frame_id: str) -> Header:
    sec, nanosec = divmod(round(stamp * 1e9), 10**9)
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


@pytest.fixture(scope="module")
def published(highway_frames) -> dict[str, list]:
    """Each virtual camera's (tracks, predicted_objects) messages at every frame, as its tracker and predictor publish
    them; both cameras triggered together (the same image stamps)."""
    models, published = ModelCache(), {}
    for name, columns in VIEWS.items():
        camera = VirtualCamera(name, *columns)
        pipeline = camera.pipeline(models)
        published[name] = []
        for index in FRAMES:
            stamp = 100.0 + index / FRAME_RATE
            result = pipeline.process(image_message(camera.image(highway_frames[index]), frame_id(name)), stamp)
            image_header = header(stamp, frame_id(name))
            tracks = tracks_to_msg(result.tracks.tracks, image_header, result.tracks.ground_frame_id,
                                   image_size=pipeline.tracking.camera_size)
            predictions = predictions_to_msg(result.predictions.tracks, result.predictions.paths, image_header,
                                             result.tracks.ground_frame_id)
            published[name].append((tracks, predictions))
    return published


@pytest.fixture(scope="module")
def messages(published) -> list:
    """The left camera's messages."""
    return published["left"]


def camera_tracks(message) -> CameraTracks:
    """What the fusion node makes of a TrackedObjects."""
    return CameraTracks(stamp_seconds(message.header), tracks_from_msg(message), ground_frame_id(message),
                        image_size(message))


def fused_messages(fusion: FusionMessages, camera: str, tracks, predictions) -> list:
    """The fusion node's handling of one camera's pair: the PredictedObjects it publishes."""
    return fusion.tracks(camera, tracks) + fusion.predictions(camera, predictions)


def path_fields(path) -> tuple:
    return (path.model, path.time_step.sec, path.time_step.nanosec, path.confidence, path.model_steps,
            [(p.x, p.y, p.z) for p in path.positions], list(path.position_covariance_xy))


def object_fields(obj) -> tuple:
    return (obj.track_id, [(c.label, c.probability) for c in obj.classification], obj.existence_probability,
            (obj.position.x, obj.position.y, obj.position.z), (obj.velocity.x, obj.velocity.y, obj.velocity.z),
            list(obj.position_covariance), obj.camera_frame_id, [path_fields(p) for p in obj.paths])


def test_one_camera_fused_list_is_its_predictions(messages):
    stage = FusionStage(cameras=["left"])
    fusion, objects = FusionMessages(stage), 0
    for tracks, predictions in messages:
        (fused,) = fused_messages(fusion, "left", tracks, predictions)  # one list per pair, at once
        assert fused.header == predictions.header  # the image stamp, the ground frame
        assert fused.camera_frame_id == "" and predictions.camera_frame_id == FRAME_ID
        assert [object_fields(o) for o in fused.objects] == [object_fields(o) for o in predictions.objects]
        objects += len(fused.objects)
    assert objects > 0 and messages[-1][0].header.frame_id == "base_link"
    assert (messages[0][0].image_width, messages[0][0].image_height) == (VirtualCamera("left", 0, 1020).width, 720)
    assert stage.health.counters["pairs"] == stage.health.counters["cycles"] == len(messages)
    assert "tracks_without_predictions" not in stage.health.counters and not stage.health.rejections
    assert "cycles_without_camera" not in stage.health.counters and not stage.sync.pending


def test_unpaired_messages_are_counted_not_dropped_silently(messages):
    stage = FusionStage()
    (t0, _), (t1, _), (t2, p2), (t3, p3), (t4, p4), (t5, p5), (t6, p6) = messages[:7]
    for tracks in (t0, t1, t2):
        assert stage.add_tracks("left", camera_tracks(tracks), FRAME_ID) == []
    # the predictor skipped frames 0 and 1 (it always takes the newest tracks): given up when frame 2's paths come
    assert stage.add_predictions("left", stamp_seconds(p2.header), paths_from_msg(p2)) != []
    assert stage.health.counters["tracks_without_predictions"] == 2
    # paths delivered before their tracks (two publishers) wait for them
    assert stage.add_predictions("left", stamp_seconds(p3.header), paths_from_msg(p3)) == []
    assert stage.health.counters["predictions_before_tracks"] == 1
    assert stage.add_tracks("left", camera_tracks(t3), FRAME_ID) != []
    # paths naming a track its tracks message does not have (e.g. another tracker's)
    stage.add_tracks("left", camera_tracks(t4), FRAME_ID)
    paths = paths_from_msg(p4)
    assert paths, "frame 4 has predicted objects"
    paths[max(paths) + 1000] = paths[next(iter(paths))]
    assert stage.add_predictions("left", stamp_seconds(p4.header), paths) == []
    assert stage.health.rejections["predictions_of_unknown_tracks"] == 1
    # paths whose tracks never came: rejected when newer tracks arrive
    assert stage.add_predictions("left", stamp_seconds(p5.header), paths_from_msg(p5)) == []
    assert stage.add_tracks("left", camera_tracks(t6), FRAME_ID) == []
    assert stage.health.rejections["predictions_without_tracks"] == 1
    # tracks left waiting fall out after max_age_s from the camera's newest tracks, counted
    late = replace(camera_tracks(t6), stamp=stamp_seconds(t6.header) + stage.config.max_age_s + 0.01)
    stage.add_tracks("left", late, FRAME_ID)
    assert stage.health.counters["tracks_without_predictions"] == 3
    assert stage.health.counters["pairs"] == 2
    # the planner got no list for them: the status says so until a cycle goes out again
    assert stage.health.level == WARN and stage.health.message == (
        "left: tracks got no predictions within max_age_s (1 s): is its predictor running?")
    assert stage.add_predictions("left", late.stamp, paths_from_msg(p6)) != []
    assert stage.health.level == OK


def test_a_path_is_moved_to_the_cycle_stamp(messages):
    """Half a time step later: each position lies halfway between two of the path's (the track's own position at
    time 0), the last one half a step beyond the path's end along its last step, out of the model's horizon."""
    tracks, predictions = messages[-1]
    track_list = {t.track_id: t for t in tracks_from_msg(tracks)}
    track_id, (path,) = next(iter(paths_from_msg(predictions).items()))
    track = track_list[track_id]
    assert advance_path(path, 0.0, track) is path
    moved = advance_path(path, path.time_step / 2, track)
    before = np.vstack([track.ground.position, path.positions])  # at 0, 1, ..., T time steps
    after = np.vstack([before[2:], 2 * before[-1] - before[-2]])
    np.testing.assert_allclose(moved.positions, (before[1:] + after) / 2, atol=1e-9)
    assert len(moved.covariances) == len(path.covariances)
    assert moved.model_steps == path.model_steps - 1 and moved.confidence == path.confidence


class Clock:
    """The stage's clock, set by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def two_camera_fusion(clock: Clock | None = None) -> tuple[FusionStage, FusionMessages]:
    stage = FusionStage(cameras=list(VIEWS), clock=clock or Clock())
    return stage, FusionMessages(stage)


def list_fields(message) -> tuple:
    return stamp_key(message), message.header.frame_id, [object_fields(o) for o in message.objects]


def stamp_key(message) -> tuple[int, int]:
    return message.header.stamp.sec, message.header.stamp.nanosec


def test_cameras_triggered_together_give_one_list_per_stamp(published):
    """In the graph's order (left, then right; tracks before predictions) and in the reverse order with each
    camera's predictions before its tracks: the same one list per stamp, each with objects of both cameras."""
    stage, fusion = two_camera_fusion()
    in_order = []
    for index in range(len(FRAMES)):
        for name in VIEWS:
            lists = fused_messages(fusion, name, *published[name][index])
            assert len(lists) == (name == "right"), f"frame {index}, {name}: {len(lists)} lists"
            in_order += lists
    assert [stamp_key(m) for m in in_order] == [stamp_key(p) for _, p in published["left"]]
    assert stage.health.counters["cycles"] == len(FRAMES) and stage.health.counters["pairs"] == 2 * len(FRAMES)
    assert "cycles_without_camera" not in stage.health.counters
    assert "outputs_after_their_cycle" not in stage.health.counters
    frames = [{o.camera_frame_id for o in m.objects} for m in in_order]
    assert sum(f == {frame_id(n) for n in VIEWS} for f in frames) >= len(FRAMES) // 2, frames

    stage, fusion = two_camera_fusion()
    reversed_order = []
    for index in range(len(FRAMES)):
        for name in reversed(VIEWS):
            tracks, predictions = published[name][index]
            reversed_order += fusion.predictions(name, predictions) + fusion.tracks(name, tracks)
    assert [list_fields(m) for m in reversed_order] == [list_fields(m) for m in in_order]


def test_a_camera_that_stops_or_lags_costs_one_timeout(published):
    """The right camera stops after frame 5: the next list waits sync_timeout_s for it, goes out without it
    (counted), and the lists after go out at once. It comes back late at frame 9 (after its cycle went out): no
    second list of that stamp, and the next cycle waits for it again."""
    clock = Clock()
    stage, fusion = two_camera_fusion(clock)
    timeout = stage.config.sync_timeout_s
    stamps = []
    for index in range(6):
        for name in VIEWS:
            stamps += [stamp_key(m) for m in fused_messages(fusion, name, *published[name][index])]
    assert len(stamps) == 6
    clock.now = 10.0
    assert fused_messages(fusion, "left", *published["left"][6]) == []  # waits for the right camera
    clock.now = 10.0 + 0.9 * timeout
    assert fusion.poll() == []
    clock.now = 10.0 + timeout
    (timed_out,) = fusion.poll()
    assert stamp_key(timed_out) == stamp_key(published["left"][6][1])
    assert stage.health.counters["cycles_without_camera"] == stage.health.counters["cycles_without_camera.right"] == 1
    for index in (7, 8, 9):  # the right camera is no longer expected: each left pair goes out at once
        (fused,) = fused_messages(fusion, "left", *published["left"][index])
        assert stamp_key(fused) == stamp_key(published["left"][index][1])
    assert fused_messages(fusion, "right", *published["right"][9]) == []  # late: kept, no list of its own
    assert stage.health.counters["outputs_after_their_cycle"] == 1
    assert fused_messages(fusion, "left", *published["left"][10]) == []  # the right camera is expected again
    (both,) = fused_messages(fusion, "right", *published["right"][10])
    assert {o.camera_frame_id for o in both.objects} == {frame_id("left"), frame_id("right")}
    assert stage.health.counters["cycles_without_camera"] == 1
    assert stage.health.counters["cycles"] == 11


def test_cameras_not_triggered_together_do_not_wait(published):
    """The right camera's stamps half a frame later: its first output ends the partnership (the first list went
    out without it, counted once); after that every output is a list of its own, at once."""
    stage, fusion = two_camera_fusion()
    half = round(0.5e9 / FRAME_RATE)
    lists = []
    for index in range(8):
        lists += fused_messages(fusion, "left", *published["left"][index])
        later = copy.deepcopy(published["right"][index])
        for message in later:
            sec, nanosec = divmod(message.header.stamp.sec * 10**9 + message.header.stamp.nanosec + half, 10**9)
            message.header.stamp.sec, message.header.stamp.nanosec = sec, nanosec
        lists += fused_messages(fusion, "right", *later)
    assert len(lists) == 16 and len({stamp_key(m) for m in lists}) == 16
    assert stage.health.counters["cycles_without_camera"] == 1


def restamped(message, stamp: float):
    """A copy of a camera's message at another image stamp."""
    moved = copy.deepcopy(message)
    moved.header.stamp = header(stamp, "").stamp
    return moved


def fuse_at(fusion: FusionMessages, camera: str, published_pair, stamp: float) -> list:
    return fused_messages(fusion, camera, *(restamped(m, stamp) for m in published_pair))


def assert_cycles_in_order(lists: list, window: float) -> None:
    """The CycleSync guarantee: stamp order, each more than the window after the one before."""
    stamps = [stamp_seconds(m.header) for m in lists]
    assert all(b - a > window for a, b in zip(stamps, stamps[1:])), stamps


def test_a_trigger_spread_wider_than_the_window_makes_late_outputs(published):
    """Three cameras whose outputs spread 15 ms (window 10 ms): left and right make a cycle, the front camera's
    output, within the window after it, is late (counted, fused into the next cycle), never a cycle behind."""
    stage = FusionStage(cameras=["left", "right", "front"], clock=Clock())
    fusion, window = FusionMessages(stage), stage.config.sync_window_s
    lists = []
    for index in range(6):
        base = 100.0 + 0.08 * index
        for camera, source, offset in (("left", "left", 0.0), ("right", "right", 0.008), ("front", "left", 0.015)):
            lists += fuse_at(fusion, camera, published[source][index], base + offset)
    lists += fusion.flush()
    assert_cycles_in_order(lists, window)
    assert [round(stamp_seconds(m.header), 3) for m in lists] == [round(100.008 + 0.08 * i, 3) for i in range(6)]
    assert stage.health.counters["outputs_after_their_cycle"] == 6 and not stage.sync.pending


def test_a_cycle_that_waited_behind_an_older_one_goes_late(published):
    """Window 50 ms: left at 100.00 and 100.06 are two cycles; right at 100.04 completes the first, so the second,
    within its window, is late; right at 100.12 makes the next cycle."""
    stage = FusionStage(FusionConfig(sync_window_s=0.05), cameras=["left", "right"], clock=Clock())
    fusion = FusionMessages(stage)
    lists = []
    for camera, index, stamp in (("left", 0, 100.0), ("left", 1, 100.06), ("right", 0, 100.04), ("right", 1, 100.12)):
        lists += fuse_at(fusion, camera, published[camera][index], stamp)
    lists += fusion.flush()
    assert [stamp_key(m) for m in lists] == [(100, 40_000_000), (100, 120_000_000)]
    assert_cycles_in_order(lists, 0.05)
    assert stage.health.counters["outputs_after_their_cycle"] == 1


def test_a_late_output_releases_the_cycles_that_timed_out():
    """Offline there is no timer: a late output at a clock time past a waiting cycle's timeout lets it go out."""
    sync = CycleSync(["left", "right"], 0.01, 0.1, Health())
    assert sync.add("left", 100.0, "l0", 0.0) == [] and len(sync.add("right", 100.0, "r0", 0.0)) == 1
    assert sync.add("left", 100.08, "l1", 1.0) == []  # waits for the right camera
    late, timed_out = sync.add("right", 100.005, "r-late", 1.2)
    assert late.late and late.outputs == {"right": (100.005, "r-late")}
    assert not timed_out.late and timed_out.outputs == {"left": (100.08, "l1")}


def test_stamps_a_window_apart_are_one_cycle():
    """100.01 - 100.0 > 0.01 in float seconds: still within the window."""
    sync = CycleSync(["left", "right"], 0.01, 0.1, Health())
    assert sync.add("left", 100.0, "l", 0.0) == []
    (cycle,) = sync.add("right", 100.01, "r", 0.0)
    assert set(cycle.outputs) == {"left", "right"} and not sync.pending
    (late,) = sync.add("left", 100.02, "l", 0.0)  # the window after the cycle's stamp: late
    assert late.late and sync.health.counters["outputs_after_their_cycle"] == 1
