"""Subcommand `eval-kitti`: the deployed tracker and predictor on KITTI tracking sequences, scored as the planner
topic would carry them (perception.evaluation.kitti_scores)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perception.cli.parameters import add_config_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-kitti", help="the deployed tracker and predictor on KITTI tracking detections: HOTA / MOTA / IDF1, "
                           "ground-position, velocity and prediction errors, covariance coverage")
    parser.add_argument("--kitti-dir", type=Path, required=True,
                        help="folder with calib/, label_02/, the detections folder and (for --poses) poses_orbslam3/")
    parser.add_argument("--sequences", nargs="*", help="default: every label_02 file")
    parser.add_argument("--detections", default="det_2d_permatrack",
                        help="folder (under --kitti-dir) of 2D detections in KITTI layout with scores")
    parser.add_argument("--poses", action=argparse.BooleanOptionalAction, default=False,
                        help="feed poses_orbslam3/<sequence>.txt as odometry and score in the odom frame "
                             "(default: no odometry, scored in the vehicle frame)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    add_config_option(parser)
    parser.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from perception.evaluation.kitti_pipeline import PipelineError
    from perception.evaluation.kitti_scores import evaluate, format_tables
    from perception.graph import load_graph
    from perception.pipeline.camera import CameraParameters
    from perception.resources import config_path

    labels = args.kitti_dir / "label_02"
    sequences = args.sequences or sorted(p.stem for p in labels.glob("*.txt"))
    if not sequences:
        raise SystemExit(f"perception eval-kitti: no sequences in {labels}")
    config = args.config or config_path("perception.yaml")
    try:
        graph = load_graph(config)
        camera = next(iter(graph.cameras))
        parameters = CameraParameters.from_graph(graph, camera)
    except (OSError, ValueError, StopIteration) as error:
        raise SystemExit(f"perception eval-kitti: {config}: {error or 'no cameras'}") from None
    source = "the deployed configuration" if args.config is None else "the graph file"
    print(f"eval-kitti: {config} ({source}), camera {camera}; sequences {', '.join(sequences)}; "
          f"{'poses as odometry (odom frame)' if args.poses else 'no odometry (vehicle frame)'}", file=sys.stderr)
    try:
        report = evaluate(args.kitti_dir, sequences, parameters, args.poses, args.detections, str(config),
                          log=lambda text: print(f"eval-kitti {text}", file=sys.stderr, flush=True))
    except (OSError, ValueError, PipelineError) as error:
        raise SystemExit(f"perception eval-kitti: {error}") from None
    print(f"KITTI tracking {', '.join(sequences)} ({report.frame} frame), {config} ({source}); "
          f"{report.seconds:.1f} s\n")
    print(format_tables(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_json(), indent=1) + "\n")
    return 0
