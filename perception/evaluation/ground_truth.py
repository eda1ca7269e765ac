"""Accuracy of a recorded run against MOTChallenge or KITTI ground truth (no ROS).

Frames are matched by order: the n-th camera image of the recording is MOT frame n + 1 or KITTI frame n.
Detection AP at IoU 0.5 per class; tracking HOTA / MOTA / IDF1 with TrackEval (perception.evaluation.tracking_metrics).
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from perception.bags import perception_typestore, read_messages
from perception.datasets.kitti import read_objects
from perception.datasets.mot import read_rows, read_seqinfo, write_results
from perception.datasets.tracking_results import mot_result_rows, write_kitti_results
from perception.evaluation.detection_metrics import FrameBoxes, detection_ap
from perception.evaluation.tracking_metrics import evaluate_kitti, evaluate_mot
from perception.imaging import ImageDecodeError, decode_image_message
from perception.message_decoding import tracks_from_msg
from perception.types import ObjectClass, Track

KITTI_TYPES = {"Car": ObjectClass.CAR, "Van": ObjectClass.CAR, "Pedestrian": ObjectClass.PEDESTRIAN,
               "Cyclist": ObjectClass.BICYCLE}
IMAGE_TYPES = ("sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Image")
DIAGNOSTICS_TOPIC = "/diagnostics"
IMAGES_LEFT_OUT = "images_left_out"  # an offline status value: the camera's corrupt images, by number in the bag


class CameraOutputs(NamedTuple):
    """Where a camera's scored outputs are in a recording (offline.scored_topics)."""

    detections: str  # its detector's topic (not the sign node's or the placed detections: the same message type)
    tracks: str  # its tracker's topic (not the sign tracks)
    status: str  # the /diagnostics status naming the images an offline run left out (IMAGES_LEFT_OUT)


def recorded_frames(recording: Path, outputs: CameraOutputs, topics: list[str] | None = None
                    ) -> tuple[list[int | None], dict[int, FrameBoxes], dict[int, list[Track]]]:
    """The camera's frames in order, as image stamps (of `topics` where given: one camera's; None for an image the
    run left out as corrupt, so that frame n stays the bag's n-th image), and its detections / tracks by image
    stamp (ns)."""
    typestore = perception_typestore()
    stamps, detections, tracks, left_out = [], {}, {}, []
    wanted = (outputs.detections, outputs.tracks, DIAGNOSTICS_TOPIC)
    for record in read_messages(recording, topics):
        if not (record.msgtype in IMAGE_TYPES or record.topic in wanted):
            continue
        message = typestore.deserialize_cdr(record.raw, record.msgtype)
        if record.topic == DIAGNOSTICS_TOPIC:
            values = [dict((kv.key, kv.value) for kv in s.values) for s in message.status if s.name == outputs.status]
            left_out += [int(n) for v in values for n in v.get(IMAGES_LEFT_OUT, "").split(",") if n]
            continue
        stamp = message.header.stamp.sec * 10**9 + message.header.stamp.nanosec
        if record.msgtype in IMAGE_TYPES:
            stamps.append(stamp)
        elif record.topic == outputs.detections:
            objects = message.objects
            detections[stamp] = FrameBoxes(
                np.array([[o.box.x_min, o.box.y_min, o.box.x_max, o.box.y_max] for o in objects]).reshape(-1, 4),
                np.array([o.classification[0].label for o in objects], int),
                np.array([o.score for o in objects], float))
        else:
            tracks[stamp] = tracks_from_msg(message)  # attribute access only: works on rosbags messages
    frames: list[int | None] = sorted(stamps)
    for number in sorted(left_out):
        frames.insert(number, None)
    return frames, detections, tracks


def recorded_image_size(recording: Path, topics: list[str] | None = None) -> tuple[int, int]:
    """(width, height) of the recording's first image (of `topics` where given) that decodes; ValueError if none."""
    typestore = perception_typestore()
    for record in (r for r in read_messages(recording, topics) if r.msgtype in IMAGE_TYPES):
        try:
            height, width = decode_image_message(typestore.deserialize_cdr(record.raw, record.msgtype)).shape[:2]
        except ImageDecodeError:
            continue
        return width, height
    raise ValueError(f"{recording}: no image that decodes, so no image size for the KITTI results")


def _truth_mot(sequence_dir: Path, frames: int) -> list[FrameBoxes]:
    rows = read_rows(sequence_dir / "gt" / "gt.txt")
    rows = rows[(rows[:, 6] == 1) & (rows[:, 7] == 1)]  # pedestrians to evaluate
    truth = []
    for number in range(1, frames + 1):
        own = rows[rows[:, 0] == number]
        boxes = np.column_stack([own[:, 2], own[:, 3], own[:, 2] + own[:, 4], own[:, 3] + own[:, 5]])
        truth.append(FrameBoxes(boxes.reshape(-1, 4), np.full(len(own), int(ObjectClass.PEDESTRIAN))))
    return truth


def _truth_kitti(label_file: Path, frames: int) -> list[FrameBoxes]:
    objects = [o for o in read_objects(label_file) if o.type in KITTI_TYPES]
    truth = []
    for number in range(frames):
        own = [o for o in objects if o.frame == number]
        truth.append(FrameBoxes(np.array([o.box for o in own]).reshape(-1, 4),
                                np.array([int(KITTI_TYPES[o.type]) for o in own], int)))
    return truth


def ground_truth_scores(recording: Path, ground_truth: Path, format: str, outputs: CameraOutputs,
                        topics: list[str] | None = None) -> tuple[dict[int, float], dict]:
    """Detection AP@0.5 by ObjectClass value, and TrackEval's COMBINED scores by class name (of the camera's
    detector and tracker `outputs` topics, its images among the recording's `topics` where given)."""
    stamps, detections, tracks = recorded_frames(recording, outputs, topics)
    empty = FrameBoxes(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0))
    found = [detections.get(stamp, empty) for stamp in stamps]
    with tempfile.TemporaryDirectory() as temporary:
        results = Path(temporary)
        if format == "mot":
            truth = _truth_mot(ground_truth, len(stamps))
            name = read_seqinfo(ground_truth / "seqinfo.ini").name
            write_results(results / f"{name}.txt",
                          mot_result_rows([(i + 1, tracks.get(s, [])) for i, s in enumerate(stamps)]))
            scores = {"pedestrian": evaluate_mot([ground_truth], {"perception": results})["perception"]}
        elif format == "kitti":
            truth = _truth_kitti(ground_truth, len(stamps))
            write_kitti_results(results / ground_truth.name, [(i, tracks.get(s, [])) for i, s in enumerate(stamps)],
                                recorded_image_size(recording, topics))
            scores = evaluate_kitti([ground_truth], {"perception": results})["perception"]
        else:
            raise ValueError(f"ground-truth format must be mot or kitti, got {format!r}")
    return detection_ap(found, truth), {name: per_sequence["COMBINED"] for name, per_sequence in scores.items()}


def evaluate_against_ground_truth(recording: Path, ground_truth: Path, format: str, outputs: CameraOutputs,
                                  topics: list[str] | None = None) -> list[str]:
    """Report lines: detection AP per class and tracking scores (of the camera the ground truth belongs to: its
    detector and tracker `outputs` topics, its images among the recording's `topics` where given)."""
    ap, scores = ground_truth_scores(recording, ground_truth, format, outputs, topics)
    lines = [f"detection AP@0.5 {ObjectClass(label).name.lower()}: {100 * value:.1f}"
             for label, value in sorted(ap.items())]
    for class_name, combined in scores.items():
        hota, mota, idf1 = ("-" if math.isnan(v) else f"{v:.1f}" for v in (combined.hota, combined.mota, combined.idf1))
        lines.append(f"tracking {class_name}: HOTA {hota}, MOTA {mota}, IDF1 {idf1}, "
                     f"ID switches {combined.id_switches}")
    return lines
