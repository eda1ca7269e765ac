"""Accuracy of a recorded run against MOTChallenge or KITTI ground truth (no ROS).

Frames are matched by order: the n-th camera image of the recording is MOT frame n + 1 or KITTI frame n.
Detection AP at IoU 0.5 per class; tracking HOTA / MOTA / IDF1 with TrackEval (perception.evaluation.tracking_metrics).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from perception.bags import perception_typestore, read_messages
from perception.datasets.kitti import labelled_image_size, read_objects
from perception.datasets.mot import read_rows, read_seqinfo, write_results
from perception.datasets.tracking_results import mot_result_rows, write_kitti_results
from perception.evaluation.detection_metrics import FrameBoxes, detection_ap
from perception.evaluation.tracking_metrics import evaluate_kitti, evaluate_mot
from perception.message_decoding import tracks_from_msg
from perception.types import ObjectClass, Track

KITTI_TYPES = {"Car": ObjectClass.CAR, "Van": ObjectClass.CAR, "Pedestrian": ObjectClass.PEDESTRIAN,
               "Cyclist": ObjectClass.BICYCLE}
IMAGE_TYPES = ("sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Image")


def recorded_frames(recording: Path, outputs: tuple[str, str], topics: list[str] | None = None
                    ) -> tuple[list[int], dict[int, FrameBoxes], dict[int, list[Track]]]:
    """Image stamps in order (of `topics` where given: one camera's), and the detections / tracks by image stamp (ns)
    of the camera's `outputs` topics (its detector's detections, its tracker's tracks: offline.scored_topics; not
    its signs, sign tracks or placed detections, which have the same message types)."""
    typestore = perception_typestore()
    stamps, detections, tracks = [], {}, {}
    for record in read_messages(recording, topics):
        if not (record.msgtype in IMAGE_TYPES or record.topic in outputs):
            continue
        message = typestore.deserialize_cdr(record.raw, record.msgtype)
        stamp = message.header.stamp.sec * 10**9 + message.header.stamp.nanosec
        if record.msgtype in IMAGE_TYPES:
            stamps.append(stamp)
        elif record.topic == outputs[0]:
            objects = message.objects
            detections[stamp] = FrameBoxes(
                np.array([[o.box.x_min, o.box.y_min, o.box.x_max, o.box.y_max] for o in objects]).reshape(-1, 4),
                np.array([o.classification[0].label for o in objects], int),
                np.array([o.score for o in objects], float))
        else:
            tracks[stamp] = tracks_from_msg(message)  # attribute access only: works on rosbags messages
    return sorted(stamps), detections, tracks


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


def ground_truth_scores(recording: Path, ground_truth: Path, format: str, outputs: tuple[str, str],
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
                                labelled_image_size(read_objects(ground_truth)))
            scores = evaluate_kitti([ground_truth], {"perception": results})["perception"]
        else:
            raise ValueError(f"ground-truth format must be mot or kitti, got {format!r}")
    return detection_ap(found, truth), {name: per_sequence["COMBINED"] for name, per_sequence in scores.items()}


def evaluate_against_ground_truth(recording: Path, ground_truth: Path, format: str, outputs: tuple[str, str],
                                  topics: list[str] | None = None) -> list[str]:
    """Report lines: detection AP per class and tracking scores (of the camera the ground truth belongs to: its
    detector and tracker `outputs` topics, its images among the recording's `topics` where given)."""
    ap, scores = ground_truth_scores(recording, ground_truth, format, outputs, topics)
    lines = [f"detection AP@0.5 {ObjectClass(label).name.lower()}: {100 * value:.1f}"
             for label, value in sorted(ap.items())]
    for class_name, combined in scores.items():
        lines.append(f"tracking {class_name}: HOTA {combined.hota:.1f}, MOTA {combined.mota:.1f}, "
                     f"IDF1 {combined.idf1:.1f}, ID switches {combined.id_switches}")
    return lines
