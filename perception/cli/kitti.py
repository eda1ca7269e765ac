"""Subcommands `eval-kitti`: the deployed tracker and predictor on KITTI tracking sequences, scored as the planner
topic would carry them (perception.evaluation.kitti_scores), and `fit-position-covariance`: the position covariance's
factors per class, cross-validated leaving one sequence out (perception.evaluation.position_folds)."""
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
    register_fit(subparsers)


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


def register_fit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit-position-covariance",
        help="fit the ground-position covariance factor per class on KITTI tracking detections (deployed tracker, "
             "no odometry) and cross-validate it leaving one sequence out")
    parser.add_argument("--kitti-dir", type=Path, required=True, help="folder with calib/, label_02/ and detections")
    parser.add_argument("--sequences", nargs="*", help="default: every label_02 file")
    parser.add_argument("--detections", default="det_2d_permatrack", help="detections folder under --kitti-dir")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    add_config_option(parser)
    parser.set_defaults(func=_fit)


FOLD_COLUMNS = (("class", None), ("range", None), ("objects", None), ("median_m", 2), ("in_1_sigma_pct", 1),
                ("in_2_sigma_pct", 1))


def _fit(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from perception.evaluation.ground_positions import GAUSSIAN_COVERAGE
    from perception.evaluation.position_folds import cross_validate
    from perception.graph import load_graph
    from perception.pipeline.camera import CameraParameters
    from perception.resources import config_path

    sequences = args.sequences or sorted(p.stem for p in (args.kitti_dir / "label_02").glob("*.txt"))
    if len(sequences) < 2:
        raise SystemExit("perception fit-position-covariance: needs at least two sequences")
    config = args.config or config_path("perception.yaml")
    graph = load_graph(config)
    parameters = CameraParameters.from_graph(graph, next(iter(graph.cameras)))
    result = cross_validate(args.kitti_dir, sequences, parameters, args.detections,
                            log=lambda text: print(f"fit-position-covariance {text}", file=sys.stderr, flush=True))
    one, two = (100 * share for share in GAUSSIAN_COVERAGE)
    header = ["run", "factors", "class", "range [m]", "objects", "median [m]", "in 1 sigma [%]", "in 2 sigma [%]"]

    def lines(run: str, scales: dict[str, float], rows: list[dict]) -> list[list[str]]:
        factors = " ".join(f"{group} {factor:.2f}" for group, factor in scales.items())
        return [[run, factors] + ["-" if row[key] is None else str(row[key]) if decimals is None else
                                  f"{row[key]:.{decimals}f}" for key, decimals in FOLD_COLUMNS] for row in rows]

    cells = [header]
    cells += lines("unscaled", {}, result.unscaled)
    for fold in result.folds:
        cells += lines(f"held-out {fold.held_out}", fold.scales, fold.positions)
    cells += lines("held-out, pooled", {}, result.held_out)
    for boxes, rows in result.held_out_boxes.items():
        cells += lines(f"held-out, pooled, {'boxes cut at a side' if boxes == 'cut' else 'other boxes'}", {}, rows)
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"KITTI tracking {', '.join(sequences)}, {args.detections}, {config}; no odometry (vehicle frame). Error of "
          f"the track's position and the share inside its covariance's 1- / 2-sigma ellipse (Gaussian: {one:.1f} / "
          f"{two:.1f} %); each held-out sequence runs with the factors fitted on the others\n")
    for row in cells:
        print("  ".join(cell.rjust(width) if i > 1 else cell.ljust(width) for i, (cell, width) in
                        enumerate(zip(row, widths))))
    print("\nworst deviation from a Gaussian's 1- / 2-sigma shares over the range bins of >= 100 objects, unscaled "
          "-> held out: " + ", ".join(f"{group} {100 * a:.1f} -> {100 * b:.1f} points"
                                      for group, (a, b) in result.deviations.items()))
    print("factors fitted on every sequence: " + ", ".join(f"{g} {f:.2f}" for g, f in result.scales.items()))
    print("factors to ship (COVARIANCE_SCALES; 1 where the held-out runs deviate more than the unscaled ones): "
          + ", ".join(f"{group} {factor:.2f}" for group, factor in result.chosen.items()))
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(result), indent=1) + "\n")
    return 0
