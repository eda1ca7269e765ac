"""The fusion node's work (perception.pipeline.fusion_stage) on real camera outputs, through the messages the node
reads and writes: one camera's fused list is its predictions unchanged; tracks and predictions pair by stamp and
track id, unpaired ones are counted; a path predicted at an earlier stamp is moved to the cycle's."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from std_msgs.msg import Header
from virtual_cameras import FRAME_RATE, FRAMES, VirtualCamera, image_message

from perception.message_decoding import ground_frame_id, image_size, paths_from_msg, tracks_from_msg
from perception.pipeline.fusion import CameraTracks
from perception.pipeline.fusion_stage import FusionStage, advance_path
from perception.pipeline.models import ModelCache
from perception.ros.conversions import predictions_to_msg, stamp_seconds, tracks_to_msg

FRAME_ID = "camera_left_optical_frame"


def header(stamp: float, frame_id: str) -> Header:
    sec, nanosec = divmod(round(stamp * 1e9), 10**9)
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


@pytest.fixture(scope="module")
def messages(highway_frames):
    """The left virtual camera's tracks and predicted_objects messages, as its tracker and predictor publish them."""
    camera = VirtualCamera("left", 0, 1020)
    pipeline = camera.pipeline(ModelCache())
    published = []
    for index in FRAMES:
        stamp = 100.0 + index / FRAME_RATE
        result = pipeline.process(image_message(camera.image(highway_frames[index]), FRAME_ID), stamp)
        image_header = header(stamp, FRAME_ID)
        tracks = tracks_to_msg(result.tracks.tracks, image_header, result.tracks.ground_frame_id,
                               image_size=pipeline.tracking.camera_size)
        predictions = predictions_to_msg(result.predictions.tracks, result.predictions.paths, image_header,
                                         result.tracks.ground_frame_id)
        published.append((tracks, predictions))
    return published


def camera_tracks(message) -> CameraTracks:
    """What the fusion node makes of a TrackedObjects."""
    return CameraTracks(stamp_seconds(message.header), tracks_from_msg(message), ground_frame_id(message),
                        image_size(message))


def fused_message(stage: FusionStage, camera: str, tracks, predictions):
    """The fusion node's handling of one camera's pair: its PredictedObjects, or None."""
    stage.add_tracks(camera, camera_tracks(tracks), tracks.camera_frame_id)
    cycle = stage.add_predictions(camera, stamp_seconds(predictions.header), paths_from_msg(predictions))
    if cycle is None:
        return None
    return predictions_to_msg(cycle.tracks, cycle.paths, Header(stamp=predictions.header.stamp, frame_id=""),
                              cycle.fused.ground_frame_id, cycle.camera_frames)


def path_fields(path) -> tuple:
    return (path.model, path.time_step.sec, path.time_step.nanosec, path.confidence, path.model_steps,
            [(p.x, p.y, p.z) for p in path.positions], list(path.position_covariance_xy))


def object_fields(obj) -> tuple:
    return (obj.track_id, [(c.label, c.probability) for c in obj.classification], obj.existence_probability,
            (obj.position.x, obj.position.y, obj.position.z), (obj.velocity.x, obj.velocity.y, obj.velocity.z),
            list(obj.position_covariance), obj.camera_frame_id, [path_fields(p) for p in obj.paths])


def test_one_camera_fused_list_is_its_predictions(messages):
    stage = FusionStage()
    objects = 0
    for tracks, predictions in messages:
        fused = fused_message(stage, "left", tracks, predictions)
        assert fused is not None
        assert fused.header == predictions.header  # the image stamp, the ground frame
        assert fused.camera_frame_id == "" and predictions.camera_frame_id == FRAME_ID
        assert [object_fields(o) for o in fused.objects] == [object_fields(o) for o in predictions.objects]
        objects += len(fused.objects)
    assert objects > 0 and messages[-1][0].header.frame_id == "base_link"
    assert (messages[0][0].image_width, messages[0][0].image_height) == (VirtualCamera("left", 0, 1020).width, 720)
    assert stage.health.counters["pairs"] == len(messages)
    assert "tracks_without_predictions" not in stage.health.counters and not stage.health.rejections


def test_unpaired_messages_are_counted_not_dropped_silently(messages):
    stage = FusionStage()
    (t0, _), (t1, _), (t2, p2), (t3, p3), (t4, p4), (t5, p5), (t6, _) = messages[:7]
    for tracks in (t0, t1, t2):
        assert stage.add_tracks("left", camera_tracks(tracks), FRAME_ID) is None
    # the predictor skipped frames 0 and 1 (it always takes the newest tracks): given up when frame 2's paths come
    assert stage.add_predictions("left", stamp_seconds(p2.header), paths_from_msg(p2)) is not None
    assert stage.health.counters["tracks_without_predictions"] == 2
    # paths delivered before their tracks (two publishers) wait for them
    assert stage.add_predictions("left", stamp_seconds(p3.header), paths_from_msg(p3)) is None
    assert stage.health.counters["predictions_before_tracks"] == 1
    assert stage.add_tracks("left", camera_tracks(t3), FRAME_ID) is not None
    # paths naming a track its tracks message does not have (e.g. another tracker's)
    stage.add_tracks("left", camera_tracks(t4), FRAME_ID)
    paths = paths_from_msg(p4)
    assert paths, "frame 4 has predicted objects"
    paths[max(paths) + 1000] = paths[next(iter(paths))]
    assert stage.add_predictions("left", stamp_seconds(p4.header), paths) is None
    assert stage.health.rejections["predictions_of_unknown_tracks"] == 1
    # paths whose tracks never came: rejected when newer tracks arrive
    assert stage.add_predictions("left", stamp_seconds(p5.header), paths_from_msg(p5)) is None
    assert stage.add_tracks("left", camera_tracks(t6), FRAME_ID) is None
    assert stage.health.rejections["predictions_without_tracks"] == 1
    # tracks left waiting fall out after max_age_s from the camera's newest tracks, counted
    late = replace(camera_tracks(t6), stamp=stamp_seconds(t6.header) + stage.config.max_age_s + 0.01)
    stage.add_tracks("left", late, FRAME_ID)
    assert stage.health.counters["tracks_without_predictions"] == 3
    assert stage.health.counters["pairs"] == 2


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
