"""`perception train-predictor` and `perception eval-predict`: ETH/UCY leave-one-out and KITTI ground tracks."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perception.datasets import eth_ucy, ground_tracks
from perception.prediction.settings import MIRROR_MODES, TrainingSettings
from perception.prediction.windows import GroundTrack, Protocol, Windows, extract_windows


def sequence_list(text: str) -> list[str]:
    return [f"{int(item):04d}" for item in text.split(",") if item.strip()]


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", choices=["eth_ucy", "kitti", "kitti_tracker"], required=True,
        help="kitti: label_02 tracks; kitti_tracker: the deployed tracker's output on KITTI detections, futures from "
        "the matched labels (perception.datasets.kitti_tracker_windows)")
    parser.add_argument("--root", help="eth_ucy: folder holding <scene>/{train,val,test}/")
    parser.add_argument("--scene", choices=eth_ucy.SCENES, help="eth_ucy: left-out scene")
    parser.add_argument("--labels", help="kitti: label_02 folder")
    parser.add_argument("--calib", help="kitti: calib folder")
    parser.add_argument(
        "--poses",
        help="kitti: folder of <seq>.txt camera poses (KITTI odometry layout): tracks in each sequence's odom frame "
        "(world-fixed, the recording car's motion removed); without it, relative to the moving camera",
    )
    parser.add_argument("--kitti", help="kitti_tracker: KITTI tracking folder (calib, label_02, det_2d_permatrack, "
                        "poses_orbslam3)")
    parser.add_argument("--frames", default="odom,base_link",
                        help="kitti_tracker: odom (poses as odometry) and/or base_link (without, relative to the "
                        "moving vehicle); the windows of every frame listed")
    parser.add_argument("--config", help="kitti_tracker: graph file of the tracker settings (default: the installed "
                        "perception.yaml)")


def class_values(text: str) -> dict[str, float]:
    """"vehicle=1.0,pedestrian=0.8" -> {"vehicle": 1.0, "pedestrian": 0.8}."""
    try:
        return {name.strip(): float(value) for name, value in (item.split("=") for item in text.split(",") if item)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected class=value,..., got {text}") from None


def require(parser: argparse.ArgumentParser, args: argparse.Namespace, names: list[str]) -> None:
    missing = [f"--{name}" for name in names if getattr(args, name) is None]
    if missing:
        parser.error(f"--dataset {args.dataset} needs {' '.join(missing)}")


FRAME_ODOMETRY = {"odom": True, "base_link": False}


def tracker_windows_of(args: argparse.Namespace, sequences: list[str], motion_targets: bool = False) -> Windows:
    """The deployed tracker's windows of the sequences, in every frame of --frames; with motion_targets, their
    futures as TrackerWindows.motion_targets gives them (for training)."""
    from perception.datasets.kitti_tracker_windows import TrackerWindows, sequence_windows
    from perception.pipeline.parameters import deployed_parameters

    config = deployed_parameters("tracker", Path(args.config) if args.config else None)
    parts = [sequence_windows(args.kitti, s, FRAME_ODOMETRY[frame], config, ground_tracks.KITTI_PROTOCOL)
             for frame in args.frames.split(",") for s in sequences]
    windows = TrackerWindows.concatenate(parts)
    return windows.motion_targets() if motion_targets else windows.windows


def windows_of(args: argparse.Namespace, split: str | list[str]) -> Windows:
    """ETH/UCY: the scene's split folder; KITTI: the listed sequences."""
    if args.dataset == "kitti_tracker":
        return tracker_windows_of(args, split)
    if args.dataset == "eth_ucy":
        protocol, tracks = ground_tracks.ETH_UCY_PROTOCOL, ground_tracks.eth_ucy_tracks(args.root, args.scene, split)
    else:
        protocol, tracks = ground_tracks.KITTI_PROTOCOL, ground_tracks.kitti_tracks(args.labels, args.calib, split, args.poses)
    return windows_from_tracks(tracks, protocol)


def windows_from_tracks(tracks: list[GroundTrack], protocol: Protocol) -> Windows:
    return extract_windows(
        tracks, protocol.obs_len, protocol.pred_len, protocol.frame_step, neighbour_radius=protocol.neighbour_radius
    )


def dataset_requirements(args: argparse.Namespace) -> list[str]:
    return {"eth_ucy": ["root", "scene"], "kitti": ["labels", "calib"], "kitti_tracker": ["kitti"]}[args.dataset]


def run_training(args: argparse.Namespace) -> int:
    # torch is imported by the commands that use it, not by every command at start-up.
    import torch

    from perception.evaluation.prediction import check_protocol
    from perception.prediction.checkpoint import load_checkpoint, save_checkpoint
    from perception.prediction.training import (
        choose_correction_scale,
        measure_class_constant_velocity_rmse,
        train_predictor,
        with_noisy_observations,
    )

    require(args.parser, args, dataset_requirements(args))
    torch.set_num_threads(args.threads)
    if args.dataset == "eth_ucy":
        protocol, train_split, val_split = ground_tracks.ETH_UCY_PROTOCOL, "train", "val"
        data = {"dataset": "eth_ucy", "scene": args.scene, "train": f"{args.scene}/train", "val": f"{args.scene}/val"}
    else:
        protocol = ground_tracks.KITTI_PROTOCOL
        train_split, val_split = sequence_list(args.train_sequences), sequence_list(args.val_sequences)
        data = {"dataset": args.dataset, "train": ",".join(train_split), "val": ",".join(val_split),
                "frame": args.frames if args.dataset == "kitti_tracker" else "odom" if args.poses else "camera"}
        if args.eth_ucy_pedestrians:  # "<scene>/<split>": the folder, not where this machine keeps it
            data["eth_ucy_pedestrians"] = "/".join(Path(args.eth_ucy_pedestrians).resolve().parts[-2:])
    if not val_split and not args.correction_scales:
        args.parser.error("without validation sequences, --correction-scales gives the alphas")
    val = windows_of(args, val_split) if val_split else None
    if args.noisy_validation and val is not None:
        val = with_noisy_observations(val, args.observation_noise, args.noisy_fraction, args.seed)
    if args.calibrate_only:
        model = load_checkpoint(args.out)
        check_protocol(model, protocol)
        if model.config.data != data:
            args.parser.error(f"{args.out} was trained on {model.config.data}, not {data}")
        print(f"{len(val)} validation windows", file=sys.stderr)
    else:
        train = (tracker_windows_of(args, train_split, args.motion_targets) if args.dataset == "kitti_tracker"
                 else windows_of(args, train_split))
        if args.dataset == "kitti" and args.eth_ucy_pedestrians:
            extra = windows_from_tracks(
                ground_tracks.eth_ucy_tracks_resampled(args.eth_ucy_pedestrians, protocol.time_step), protocol
            )
            train = train.concatenated(extra.select(extra.first_future_frames % args.eth_ucy_stride == 0))
        print(f"{len(train)} training and {0 if val is None else len(val)} validation windows", file=sys.stderr)
        settings = TrainingSettings(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            hidden_size=args.hidden_size,
            seed=args.seed,
            mirror=args.mirror,
            observation_noise=args.observation_noise,
            noisy_fraction=args.noisy_fraction,
            neighbours=args.neighbours,
            class_input=args.class_input,
            class_balanced=args.class_balanced,
            modes=args.modes,
            velocity_input=args.velocity_input,
            velocity_base=args.velocity_base,
        )
        model, best = train_predictor(train, val, protocol, settings, data)
        print(f"epoch {best['epoch']}: validation ADE {best['val_ade']:.3f} FDE {best['val_fde']:.3f}")
    if args.correction_scales:  # chosen elsewhere (cross-validation): the default alpha stays 1
        model.config.class_correction_scales = args.correction_scales
    else:
        val_ade = choose_correction_scale(model, val)
        for group, ades in val_ade.items():
            windows = int((val.object_classes == group).sum()) if group != "all" else len(val)
            print(f"validation ADE per correction scale, {group} ({windows} windows): "
                  + ", ".join(f"{alpha}: {ade:.4f}" for alpha, ade in ades.items()))
    # constant velocity's error per class: on the validation windows, else (no validation) on the training windows,
    # which are then the runtime's own input (the tracker's windows)
    measure_class_constant_velocity_rmse(model, train if val is None else val)
    save_checkpoint(model, args.out)
    per_class = "".join(f", {name} {alpha}" for name, alpha in model.config.class_correction_scales.items())
    print(f"saved {args.out}: correction scale {model.config.correction_scale}{per_class}")
    return 0


def run_evaluation(args: argparse.Namespace) -> int:
    from perception.evaluation.prediction import (
        check_protocol,
        evaluate,
        format_table,
        with_position_noise,
        write_predictions_csv,
    )
    from perception.prediction.checkpoint import DEFAULT_MODEL, bundled_model_path, load_checkpoint

    require(args.parser, args, dataset_requirements(args))
    if args.dataset == "eth_ucy":
        protocol, split, default_model = ground_tracks.ETH_UCY_PROTOCOL, "test", f"eth_ucy_{args.scene}.pt"
    else:
        protocol, split, default_model = ground_tracks.KITTI_PROTOCOL, sequence_list(args.sequences), DEFAULT_MODEL
    model = load_checkpoint(args.model or bundled_model_path(default_model))
    check_protocol(model, protocol)
    trained_on = set(model.config.data.get("train", "").split(",") + model.config.data.get("val", "").split(","))
    if args.dataset == "kitti" and trained_on & set(split):
        print(f"warning: the model was trained on sequences {sorted(trained_on & set(split))}", file=sys.stderr)
    frame = "odom" if args.poses else "camera"
    if args.dataset == "kitti" and model.config.data.get("frame", "camera") != frame:
        print(f"warning: the model was trained in the {model.config.data.get('frame', 'camera')} frame, "
              f"evaluated in the {frame} frame", file=sys.stderr)
    windows = windows_of(args, split)
    if args.observation_noise > 0.0:
        windows = with_position_noise(windows, args.observation_noise, args.seed)
    metrics, predictions = evaluate(model, windows)
    if args.out:
        write_predictions_csv(args.out, windows, predictions)
    print(json.dumps(metrics, indent=2) if args.json else format_table(metrics))
    return 0


def run_cross_validation(args: argparse.Namespace) -> int:
    """LOSO over the sequences of each candidate on the deployed tracker's windows; per-fold rows as JSON."""
    import torch

    from perception.datasets.kitti_tracker_windows import sequence_windows
    from perception.pipeline.parameters import deployed_parameters
    from perception.prediction import cross_validation

    torch.set_num_threads(args.threads)
    protocol, kitti = ground_tracks.KITTI_PROTOCOL, Path(args.kitti)
    config = deployed_parameters("tracker", Path(args.config) if args.config else None)
    sequences = sequence_list(args.sequences)
    frames = {name: FRAME_ODOMETRY[name] for name in args.frames.split(",")}
    tracker = {name: {s: sequence_windows(kitti, s, odometry, config, protocol) for s in sequences}
               for name, odometry in frames.items()}
    clean = {name: {s: windows_from_tracks(ground_tracks.kitti_tracks(
        kitti / "label_02", kitti / "calib", [s], kitti / "poses_orbslam3" if odometry else None), protocol)
        for s in sequences} for name, odometry in frames.items()}
    results = {}
    for key in args.candidates.split(","):
        candidate = cross_validation.CANDIDATES[key]
        validation = cross_validation.cross_validate(
            candidate, tracker, clean, protocol, log=lambda text: print(text, file=sys.stderr, flush=True))
        rows = validation.rows()
        results[key] = {"name": candidate.name, "folds": rows,
                        "alphas": {frame: validation.pooled_alphas(frame) for frame in frames},
                        "pooled": {frame: cross_validation.summary(rows, frame) for frame in frames}}
        print(cross_validation.format_summary(candidate.name, results[key]["pooled"]), flush=True)
        print(f"alpha per class for the model trained on every sequence: {results[key]['alphas']}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    cv = subparsers.add_parser(
        "cv-predictor", help="leave-one-sequence-out cross-validation of predictor training choices on the "
        "deployed tracker's output on KITTI detections")
    cv.add_argument("--kitti", required=True, help="KITTI tracking folder (calib, label_02, det_2d_permatrack, "
                    "poses_orbslam3)")
    cv.add_argument("--sequences", default="0,1,2,3,4,5,6,7,8,9,10", help="the folds, one sequence each")
    cv.add_argument("--frames", default="odom,base_link",
                    help="odom: poses as odometry; base_link: without, relative to the moving vehicle")
    cv.add_argument("--candidates", default="A", help="keys of perception.prediction.cross_validation.CANDIDATES")
    cv.add_argument("--config", help="graph file of the tracker settings (default: the installed perception.yaml)")
    cv.add_argument("--json", help="write every fold's figures here")
    cv.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    cv.set_defaults(func=run_cross_validation, parser=cv)

    train = subparsers.add_parser("train-predictor", help="train the trajectory RNN")
    add_dataset_arguments(train)
    train.add_argument("--train-sequences", default=",".join(ground_tracks.KITTI_TRAIN_SEQUENCES), help="kitti")
    train.add_argument("--val-sequences", default=",".join(ground_tracks.KITTI_VAL_SEQUENCES), help="kitti")
    train.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    train.add_argument(
        "--calibrate-only",
        action="store_true",
        help="no training: choose the correction scales of the existing --out checkpoint on the validation split "
        "and measure constant velocity's error per class there",
    )
    train.add_argument(
        "--correction-scales", type=class_values, default={},
        help="alpha per class, e.g. vehicle=1.0,pedestrian=0.8 (chosen by cv-predictor): not chosen on validation "
        "windows; with an empty --val-sequences training keeps the last epoch")
    train.add_argument("--motion-targets", action="store_true",
                       help="kitti_tracker: train on the labels' displacement from the last published position "
                       "(the estimator's current error taken out of the futures)")
    train.add_argument("--velocity-input", action="store_true",
                       help="kitti_tracker: the model sees the tracker's filtered velocity")
    train.add_argument("--velocity-base", action="store_true",
                       help="kitti_tracker: the tracker's filtered velocity is the model's constant-velocity base "
                       "and an input (alpha 0: constant velocity from the tracker's state)")
    train.add_argument("--modes", type=int, default=TrainingSettings.modes,
                       help="alternative futures the model predicts, each with its probability")
    train.add_argument("--epochs", type=int, default=TrainingSettings.epochs)
    train.add_argument("--batch-size", type=int, default=TrainingSettings.batch_size)
    train.add_argument("--learning-rate", type=float, default=TrainingSettings.learning_rate)
    train.add_argument("--hidden-size", type=int, default=TrainingSettings.hidden_size)
    train.add_argument("--seed", type=int, default=TrainingSettings.seed)
    train.add_argument(
        "--mirror",
        choices=MIRROR_MODES,
        default=TrainingSettings.mirror,
        help="random: each window reflected with probability 1/2 per batch; both: every window in both "
        "orientations (twice the windows per epoch)",
    )
    train.add_argument(
        "--observation-noise",
        type=non_negative,
        default=TrainingSettings.observation_noise,
        help="metres: the largest standard deviation of the Gaussian noise added to the observed positions of "
        "--noisy-fraction of the windows (drawn per window from [0, this]; 0: no noise)",
    )
    train.add_argument(
        "--noisy-fraction",
        type=fraction,
        default=TrainingSettings.noisy_fraction,
        help="share of the windows that get observation noise",
    )
    train.add_argument(
        "--noisy-validation",
        action="store_true",
        help="validation windows get the same observation noise (drawn once): the epoch and the correction scale "
        "are chosen for noisy input, as a tracker delivers it",
    )
    train.add_argument(
        "--neighbours",
        action="store_true",
        help="the model also sees the nearest other objects (ETH/UCY: within 5 m, KITTI: 10 m) at the last "
        "observed instant, their positions and last steps relative to the track's",
    )
    train.add_argument(
        "--class-input", action="store_true", help="the model also sees the object class (one-hot)"
    )
    train.add_argument(
        "--class-balanced",
        action="store_true",
        help="weigh each training window by 1 / its class's share, so that every class counts the same in the loss",
    )
    train.add_argument(
        "--eth-ucy-pedestrians",
        help="kitti: a folder of ETH/UCY files (e.g. <root>/eth/train) whose pedestrians, interpolated to 10 Hz, "
        "join the training windows",
    )
    train.add_argument(
        "--eth-ucy-stride",
        type=int,
        default=10,
        help="kitti: one ETH/UCY window every this many 10 Hz steps of each pedestrian (10: one per second; "
        "every step would give 179k windows that differ in one position each)",
    )
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    train.set_defaults(func=run_training, parser=train)

    evaluate_parser = subparsers.add_parser("eval-predict", help="ADE/FDE of the predictor vs constant velocity")
    add_dataset_arguments(evaluate_parser)
    evaluate_parser.add_argument(
        "--sequences", default=",".join(ground_tracks.KITTI_TEST_SEQUENCES), help="kitti: test sequences"
    )
    evaluate_parser.add_argument(
        "--model", help="checkpoint; default: models/predictor/eth_ucy_<scene>.pt or kitti.pt"
    )
    evaluate_parser.add_argument(
        "--observation-noise",
        type=non_negative,
        default=0.0,
        help="metres: Gaussian noise of this standard deviation on the observed positions (future untouched), "
        "to measure robustness to tracker jitter",
    )
    evaluate_parser.add_argument("--seed", type=int, default=0, help="seed of --observation-noise")
    evaluate_parser.add_argument("--out", help="CSV of every prediction")
    evaluate_parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate_parser.set_defaults(func=run_evaluation, parser=evaluate_parser)
