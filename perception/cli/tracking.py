"""Subcommands `track`, `eval-track` and `eval-ground-plane`."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from perception.cli.parameters import add_parameter_options, node_settings
from perception.datasets import kitti, mot
from perception.datasets.kitti_rig import KITTI_IMAGE_SIZE
from perception.datasets.tracking_results import mot_result_rows, write_kitti_results
from perception.evaluation.ground_positions import (
    GAUSSIAN_COVERAGE,
    position_error_table,
)
from perception.evaluation.tracking_metrics import (
    COMBINED,
    Scores,
    evaluate_kitti,
    evaluate_mot,
)
from perception.evaluation.kitti_pipeline import read_sequence, run_sequence
from perception.evaluation.tracking_sequences import (
    FrameTracker,
    kitti_frames,
    mot_frames,
    run_tracker,
)
from perception.evaluation.ultralytics_baseline import UltralyticsByteTrack
from perception.pipeline.stages import tracker_config
from perception.tracking.tracker import Tracker

TRACKER_OPTIONS = ["high_score", "low_score", "max_coast_time", "report_coasting", "class_change_cost"]


def register(subparsers: argparse._SubParsersAction) -> None:
    track = subparsers.add_parser("track", help="track benchmark detections and write benchmark results")
    track.add_argument("--format", choices=["mot", "kitti"], required=True)
    track.add_argument("--detections", type=Path, required=True)
    track.add_argument("--seqinfo", type=Path, help="mot: seqinfo.ini (frame rate, length)")
    track.add_argument("--calib", type=Path, help="kitti: calib file; adds ground positions to the results")
    track.add_argument("--poses", type=Path,
                       help="kitti (with --calib): camera poses (KITTI odometry layout, one per frame) fed to the "
                            "tracker as odometry at the frame stamps (10 Hz): ground state in the odom frame")
    track.add_argument("--from-frame", type=int, default=1, help="mot: track frames >= N only")
    track.add_argument("--tracker", choices=["perception", "ultralytics"], default="perception",
                       help="ultralytics: its BYTETracker with default settings (baseline)")
    track.add_argument("--out", type=Path, required=True)
    add_parameter_options(track, "tracker", TRACKER_OPTIONS)
    track.set_defaults(func=_track)

    evaluate = subparsers.add_parser("eval-track", help="HOTA / MOTA / IDF1 / ID switches of result files")
    evaluate.add_argument("--format", choices=["mot", "kitti"], required=True)
    evaluate.add_argument("--gt", type=Path, nargs="+", required=True,
                          help="mot: sequence folders (gt/gt.txt, seqinfo.ini); kitti: label_02/<sequence>.txt files")
    evaluate.add_argument("--results", action="append", required=True, metavar="NAME=DIR",
                          help="folder of <sequence>.txt results; repeat to compare trackers")
    evaluate.add_argument("--from-frame", default="1",
                          help="mot: evaluate frames >= N, or 'half' for frames > seqLength/2 (val-half)")
    evaluate.set_defaults(func=_evaluate)

    ground = subparsers.add_parser("eval-ground-plane",
                                   help="metric position errors and covariance coverage on KITTI labels, by class "
                                        "and range")
    ground.add_argument("--kitti-dir", type=Path, required=True, help="folder with label_02/ and calib/")
    ground.add_argument("--sequences", nargs="*", help="default: every label_02 file")
    ground.add_argument("--pose", choices=["level", "lidar"], default="level",
                        help="camera pose: level at 1.65 m (KITTI setup) or from the Velodyne calibration")
    ground.set_defaults(func=_evaluate_ground_plane)

    ego = subparsers.add_parser("eval-ego-motion",
                                help="KITTI with the camera poses as odometry: position / velocity-over-ground errors "
                                     "and HOTA with and without ego-motion")
    ego.add_argument("--kitti-dir", type=Path, required=True,
                     help="folder with label_02/, calib/, poses_orbslam3/ and the detections folder")
    ego.add_argument("--sequences", nargs="*", help="default: every label_02 file")
    ego.add_argument("--detections", default="det_2d_permatrack", help="detections folder for HOTA")
    ego.add_argument("--no-hota", action="store_true", help="only the position and velocity errors")
    add_parameter_options(ego, "tracker", TRACKER_OPTIONS)
    ego.set_defaults(func=_evaluate_ego_motion)


def _track(args: argparse.Namespace) -> int:
    settings, said = node_settings(args, "tracker")
    config = tracker_config(settings)
    if args.tracker == "perception":
        print(said)
    tracker: FrameTracker = Tracker(config) if args.tracker == "perception" else UltralyticsByteTrack()
    if args.format == "mot":
        if args.seqinfo is None:
            raise SystemExit("--seqinfo is required with --format mot")
        frames = mot_frames(mot.read_rows(args.detections), mot.read_seqinfo(args.seqinfo), args.from_frame)
        mot.write_results(args.out, mot_result_rows(run_tracker(tracker, frames)))
        return 0
    if args.poses is not None and (args.calib is None or args.tracker != "perception"):
        raise SystemExit("--poses needs --calib and the perception tracker")
    if args.calib is None or args.tracker != "perception":
        write_kitti_results(args.out, run_tracker(tracker, kitti_frames(kitti.read_objects(args.detections))),
                            KITTI_IMAGE_SIZE)
        return 0
    sequence = read_sequence(args.detections.stem, args.calib, args.detections, args.poses)  # the tracker node's stage
    outputs = run_sequence(sequence, settings)
    write_kitti_results(args.out, [(o.number, o.tracks) for o in outputs], sequence.image_size, sequence.rig,
                        sequence.odom_from_vehicle)
    return 0


def _print_table(header: list[str], rows: list[list[object]]) -> None:
    cells = [header] + [[("-" if math.isnan(v) else f"{v:.1f}") if isinstance(v, float) else str(v) for v in row]
                        for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths))))


def _score_rows(prefix: list[str], tracker: str, by_sequence: dict[str, Scores]) -> list[list[object]]:
    order = sorted(s for s in by_sequence if s != COMBINED) + [COMBINED]
    return [
        [*prefix, sequence, tracker, s.hota, s.mota, s.idf1, s.id_switches, s.false_positives, s.misses]
        for sequence in order
        for s in [by_sequence[sequence]]
    ]


def _evaluate(args: argparse.Namespace) -> int:
    results = dict(item.split("=", 1) for item in args.results)
    folders = {name: Path(folder) for name, folder in results.items()}
    metrics = ["HOTA", "MOTA", "IDF1", "IDSW", "FP", "FN"]
    rows: list[list[object]] = []
    if args.format == "mot":
        from_frame = args.from_frame if args.from_frame == "half" else int(args.from_frame)
        scores = evaluate_mot(args.gt, folders, from_frame)
        for tracker, by_sequence in scores.items():
            rows += _score_rows([], tracker, by_sequence)
        rows.sort(key=lambda row: (row[0] == COMBINED, row[0]))
        _print_table(["sequence", "tracker", *metrics], rows)
        return 0
    scores_by_class = evaluate_kitti(args.gt, folders)
    for tracker, classes in scores_by_class.items():
        for class_name, by_sequence in classes.items():
            rows += _score_rows([class_name], tracker, by_sequence)
    rows.sort(key=lambda row: (row[0], row[1] == COMBINED, row[1]))
    _print_table(["class", "sequence", "tracker", *metrics], rows)
    return 0


def _evaluate_ground_plane(args: argparse.Namespace) -> int:
    sequences = args.sequences or sorted(p.stem for p in (args.kitti_dir / "label_02").glob("*.txt"))
    rows = position_error_table(args.kitti_dir, sequences, args.pose)
    print(f"KITTI tracking {', '.join(sequences)}: ground-truth boxes, {args.pose} camera pose; error of the object's "
          "centre on the ground (3D box bottom-face centre), by true range from the vehicle origin")
    print(f"fused (ground contact + class height + footprint) vs bottom-centre (box bottom on flat ground); share of "
          f"errors inside the fused covariance's 1-/2-sigma ellipse (2D Gaussian: {100 * GAUSSIAN_COVERAGE[0]:.1f} / "
          f"{100 * GAUSSIAN_COVERAGE[1]:.1f} %)")
    _print_table(
        ["class", "range [m]", "objects", "no position", "median [m]", "p90 [m]", "in 1 sigma [%]", "in 2 sigma [%]",
         "bottom-centre median [m]", "bottom-centre p90 [m]"],
        [[r.object_class, r.range_bin, r.objects, r.invalid, f"{r.median:.2f}", f"{r.p90:.2f}",
          f"{100 * r.within_1_sigma:.1f}", f"{100 * r.within_2_sigma:.1f}", f"{r.baseline_median:.2f}",
          f"{r.baseline_p90:.2f}"] for r in rows],
    )
    return 0


def _evaluate_ego_motion(args: argparse.Namespace) -> int:
    from perception.evaluation.ego_motion import (
        MIN_TRACK_AGE_S,
        error_table,
        hota_table,
    )

    sequences = args.sequences or sorted(p.stem for p in (args.kitti_dir / "label_02").glob("*.txt"))
    print(f"KITTI tracking {', '.join(sequences)}: ground-truth boxes through the tracker stage, tracks older than "
          f"{MIN_TRACK_AGE_S:g} s; positions in the odom frame (poses as odometry), velocities against the "
          "velocity over the ground (median errors)")
    settings, said = node_settings(args, "tracker")
    print(said)
    rows = error_table(args.kitti_dir, sequences, settings)
    _print_table(["class", "range", "samples", "position [m]", "velocity, ego-motion [m/s]",
                  "velocity, no ego-motion [m/s]"], [[*row[:3], *(f"{v:.2f}" for v in row[3:])] for row in rows])
    if not args.no_hota:
        print(f"\nHOTA / MOTA / IDF1 with {args.detections} detections, without and with ego-motion")
        _print_table(["class", "HOTA without", "HOTA with", "MOTA without", "MOTA with", "IDF1 without", "IDF1 with"],
                     hota_table(args.kitti_dir, sequences, settings, args.detections))
    return 0
