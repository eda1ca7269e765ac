"""Sign tracking (the tracker node's sign stage, without ROS): a real GTSDB speed-limit scene seen in five frames of
an approach is one track of type "speed limit 30", with a metric position from the plate's size; a sign whose box
jumps between sign frames keeps its track by its ground position and type."""
from dataclasses import replace

import cv2
import numpy as np
import pytest

from perception.signs.recognizer import SignRecognizer
from perception.pipeline.parameters import defaults
from perception.pipeline.stages import TrackingStage
from perception.tracking.ground_plane import GroundMeasurements
from perception.tracking.tracker import Tracker
from perception.types import Detections, ObjectClass

SCENE = "00494.jpg"  # gt.txt: 00494.jpg;1113;300;1211;395;1 (speed limit 30)
ZOOMS = (1.0, 1.03, 1.06, 1.09, 1.12)  # driving towards the sign: the scene magnified about its vanishing point
SIGN_FRAME_INTERVAL = 1.05  # s: the sign node at its default 1 Hz takes the first frame after each second (20 fps)
TRACKER_PARAMETERS = {
    **defaults("tracker"),
    "high_score": 0.25, "low_score": 0.1, "max_coast_time": 1.0, "report_coasting": True, "camera_x": 0.0,
    "camera_y": 0.0, "camera_z": 1.3, "camera_roll": 0.0, "camera_pitch": 0.0, "camera_yaw": 0.0,
    "reset_after_backward_jump_s": 2.0, "vehicle_frame": "base_link", "odometry_source": "none",
    "class_change_cost": 0.3,
}


def approach(image: np.ndarray, zoom: float, centre: tuple[float, float] = (680.0, 400.0)) -> np.ndarray:
    """The image magnified by `zoom` about `centre`, same size (what a camera driving forward sees, to first order)."""
    matrix = np.array([[zoom, 0.0, centre[0] * (1 - zoom)], [0.0, zoom, centre[1] * (1 - zoom)]])
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR)


@pytest.fixture(scope="module")
def sign_frames(shared_data):
    scene = cv2.imread(str(shared_data / "signs" / "gtsdb" / "train" / SCENE))
    recognizer = SignRecognizer(threads=1)
    frames = []
    for zoom in ZOOMS:
        signs = recognizer.recognize(approach(scene, zoom))
        frames.append(signs.select(signs.scores >= 0.1))  # the sign node's default conf_threshold
    return frames


def test_a_sign_seen_in_five_frames_is_one_object(sign_frames):
    stage = TrackingStage.from_parameters(TRACKER_PARAMETERS, signs=True)
    focal = 1200.0
    stage.set_intrinsics(np.array([[focal, 0, 680.0], [0, focal, 400.0], [0, 0, 1]]), (1360, 800))
    speed_limit_ids, last = set(), None
    for index, signs in enumerate(sign_frames):
        assert (signs.source_class_ids == 1).any(), f"frame {index}: {signs.source_class_ids} {signs.scores}"
        output = stage.process(signs, SIGN_FRAME_INTERVAL * index)
        matched = [t for t in output.tracks if t.frames_since_update == 0 and t.source_class_id == 1]
        speed_limit_ids |= {t.track_id for t in matched}
        if matched:
            last = matched[0]
    assert len(speed_limit_ids) == 1, speed_limit_ids
    assert last.label == ObjectClass.TRAFFIC_SIGN and last.hits == len(ZOOMS)
    # the plate (98 px high at zoom 1) is ~0.65 m: its depth ahead of the (level) camera is about focal * 0.65 /
    # pixel height (the filter lags a little behind the approach)
    pixel_height = last.box[3] - last.box[1]
    expected_depth = focal * 0.65 / pixel_height
    assert last.ground is not None
    assert abs(last.ground.position[0] - expected_depth) < 0.15 * expected_depth
    expected_lateral = -((last.box[0] + last.box[2]) / 2 - 680.0) / focal * expected_depth
    assert abs(last.ground.position[1] - expected_lateral) < 0.15 * abs(expected_lateral)


def test_a_misread_frame_does_not_change_the_type_or_split_the_track(sign_frames):
    stage = TrackingStage.from_parameters(TRACKER_PARAMETERS, signs=True)
    for index, signs in enumerate(sign_frames):
        misread = signs.select(np.arange(len(signs)))
        if index == 2:
            misread.source_class_ids = np.where(misread.source_class_ids == 1, 2, misread.source_class_ids)
        output = stage.process(misread, 0.1 * index)
    ids = {t.track_id: t.source_class_id for t in output.tracks if t.frames_since_update == 0}
    assert 1 in ids.values() and 2 not in ids.values(), ids


def sign_detections(boxes: list[list[float]], class_ids: list[int]) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(n, 4), np.full(n, 0.9, np.float32),
                      np.full(n, int(ObjectClass.TRAFFIC_SIGN)), np.array(class_ids, np.int64))


def ground_at(positions: list[list[float]], std: float = 2.0) -> GroundMeasurements:
    n = len(positions)
    return GroundMeasurements(np.array(positions, float).reshape(n, 2), np.tile(np.eye(2) * std**2, (n, 1, 1)),
                              np.ones(n, bool))


def test_a_static_sign_whose_box_jumps_stays_one_track_by_its_ground_position():
    # sign frames 1 s apart: the boxes no longer overlap, the ground positions (odom frame) agree
    sign_config = TrackingStage.from_parameters({**TRACKER_PARAMETERS, "report_coasting": False}, signs=True).config
    tracker = Tracker(sign_config)
    first = tracker.update(sign_detections([[600, 300, 640, 340]], [1]), 0.0, ground_at([[40.0, -5.0]]))
    # the same sign (box moved right and grew) + a give-way sign at the same place + a speed limit 30 m further on
    boxes = [[700, 280, 760, 340], [700, 350, 760, 410], [610, 330, 630, 350]]
    second = tracker.update(sign_detections(boxes, [1, 13, 1]), 1.0,
                            ground_at([[41.0, -5.5], [41.0, -5.5], [70.0, -5.0]]))
    matched = {t.track_id: t.source_class_id for t in second if t.frames_since_update == 0}
    assert len(matched) == 3
    assert matched[first[0].track_id] == 1  # kept its id through the jump
    assert sorted(matched.values()) == [1, 1, 13]
    # without the ground stage (the object tracker's setting) the jump starts a new track
    plain = Tracker(replace(sign_config, ground_association=False))
    plain.update(sign_detections([[600, 300, 640, 340]], [1]), 0.0, ground_at([[40.0, -5.0]]))
    ids = {t.track_id for t in plain.update(sign_detections(boxes[:1], [1]), 1.0, ground_at([[41.0, -5.5]]))}
    assert first[0].track_id not in ids
