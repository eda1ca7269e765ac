"""Sign subcommands: `perception train-signs` rebuilds the sign detector and classifier weights from GTSDB + GTSRB;
`perception eval-signs` scores the sign recognizer on GTSDB scenes."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from perception.datasets.gtsdb import parse_scene_range, read_sign_file, write_sign_file
from perception.detection.factory import PRECISIONS
from perception.signs.gtsdb import DEFAULT_IMGSZ

DEFAULT_TRAIN_SCENES = "0-479"  # GTSDB training split scenes 00000-00479; 00480-00599 are held out for validation
DEFAULT_VAL_SCENES = "480-599"


def run_train_detector(args: argparse.Namespace, truth) -> None:
    from perception.signs.detector_training import install_detector, train_detector, write_dataset_yaml
    from perception.signs.training_data import write_detector_tiles

    root = Path(args.work_dir) / "tiles"
    for split, scenes, seed in (("train", args.train_scenes, args.seed), ("val", args.val_scenes, args.seed + 1)):
        count = write_detector_tiles(Path(args.gtsdb), truth, parse_scene_range(scenes), root / split, args.tile, seed)
        print(f"{split}: {count} tiles of {args.tile} px from scenes {scenes}", flush=True)
    checkpoint = train_detector(
        Path(args.start_weights), write_dataset_yaml(root), Path(args.work_dir), args.detector_epochs, args.tile,
        args.seed, args.detector_freeze)
    print(f"wrote {install_detector(checkpoint, Path(args.output_dir) / 'sign_detector_yolov8n.pt')}")


def run_train_classifier(args: argparse.Namespace, truth) -> None:
    import torch

    from perception.signs.classifier_training import ClassifierData, train_classifier
    from perception.signs.training_data import gtsdb_crops, gtsrb_crops, gtsrb_rows, split_tracks

    torch.set_num_threads(args.threads)
    rows = gtsrb_rows(Path(args.gtsrb))
    held_out = split_tracks(rows, args.held_out_tracks, args.seed)
    train_rows = [row for row in rows if row["track"] not in held_out]
    test_rows = [row for row in rows if row["track"] in held_out]
    gtsrb_images, gtsrb_labels = gtsrb_crops(Path(args.gtsrb), train_rows)
    scene_images, scene_labels = gtsdb_crops(Path(args.gtsdb), truth, parse_scene_range(args.train_scenes))
    test_images, test_labels = gtsrb_crops(Path(args.gtsrb), test_rows)
    print(f"classifier: {len(train_rows)} GTSRB crops ({len(rows) - len(test_rows)} of {len(rows)}, "
          f"{len(held_out)} tracks held out: {len(test_rows)} crops) + {len(scene_labels)} GTSDB crops of scenes "
          f"{args.train_scenes}", flush=True)
    data = ClassifierData(
        np.concatenate([gtsrb_images, scene_images]), np.concatenate([gtsrb_labels, scene_labels]),
        test_images, test_labels)
    output = Path(args.output_dir) / "sign_classifier.pt"
    accuracy = train_classifier(data, args.classifier_epochs, args.seed, output)
    print(f"held-out GTSRB track accuracy {accuracy:.4f}; wrote {output}")
    from perception.signs.classifier import export_classifier_onnx

    print(f"wrote {export_classifier_onnx(output, output.with_suffix('.onnx'))}")


def run_train_signs(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    truth = read_sign_file(Path(args.gtsdb) / "gt.txt")
    if args.stage in ("classifier", "all"):
        run_train_classifier(args, truth)
    if args.stage in ("detector", "all"):
        run_train_detector(args, truth)
    print(f"train-signs {args.stage}: {time.perf_counter() - started:.0f} s")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    register_train_signs(subparsers)
    register_eval_signs(subparsers)


def register_train_signs(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train-signs", help="train the traffic sign detector and classifier")
    parser.add_argument("--gtsdb", required=True, help="GTSDB training folder (00000.jpg..., gt.txt)")
    parser.add_argument("--gtsrb", required=True, help="GTSRB folder (images/, labels.csv with tracks)")
    parser.add_argument("--stage", choices=("detector", "classifier", "all"), default="all")
    parser.add_argument("--train-scenes", default=DEFAULT_TRAIN_SCENES, help="GTSDB scenes to train on")
    parser.add_argument("--val-scenes", default=DEFAULT_VAL_SCENES, help="GTSDB scenes held out (never trained on)")
    parser.add_argument("--held-out-tracks", type=float, default=0.2, help="share of each class's GTSRB tracks held out")
    parser.add_argument("--start-weights", default="models/yolov8n_coco.pt", help="COCO YOLOv8n to fine-tune")
    parser.add_argument("--tile", type=int, default=320, help="detector training tile side, native pixels")
    parser.add_argument("--detector-epochs", type=int, default=15)
    parser.add_argument("--detector-freeze", type=int, default=0, help="first layers kept at COCO weights (10: backbone)")
    parser.add_argument("--classifier-epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of the classifier training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", default="/tmp/perception-train-signs", help="tiles and Ultralytics runs")
    parser.add_argument("--output-dir", default="models/signs", help="where the weights go")
    parser.set_defaults(func=run_train_signs)


def run_eval_signs(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from perception.evaluation.signs import evaluate, score_lines
    from perception.signs.recognizer import SignRecognizer

    gtsdb = Path(args.gtsdb)
    truth = read_sign_file(gtsdb / "gt.txt")
    scenes = parse_scene_range(args.images)
    recognizer = SignRecognizer(args.detector, args.classifier, args.backend, args.imgsz, args.conf, args.threads,
                                args.upscale, args.precision)
    print(f"sign detector: {recognizer.detector.backend_name}", flush=True)
    found, scores = evaluate(recognizer, gtsdb, truth, scenes, lambda names: tqdm(names, desc="eval-signs"))
    for line in score_lines(scores, len(scenes)):
        print(line)
    if args.out:
        write_sign_file(args.out, found)
        print(f"wrote {args.out}")
    return 0


def register_eval_signs(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval-signs", help="AP, recall by size and classification accuracy on GTSDB")
    parser.add_argument("--gtsdb", required=True, help="GTSDB folder with <NNNNN>.jpg scenes and gt.txt")
    parser.add_argument("--images", default=DEFAULT_VAL_SCENES,
                        help=f"scene numbers, FIRST-LAST (default {DEFAULT_VAL_SCENES}: the held-out validation part)")
    parser.add_argument("--out", help="write detections as file;x1;y1;x2;y2;class_id;score")
    parser.add_argument("--detector", help="sign detector (.pt or ONNX; default: the installed models/signs one)")
    parser.add_argument("--classifier", help="sign classifier ONNX (default: the installed one)")
    parser.add_argument("--backend", default="auto", help="detector backend, as for `perception detect` (default: "
                        "the sign node's, auto)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto (the sign node's: INT8 on OpenVINO), fp32 or int8, as for `perception detect`")
    parser.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ, help="detector input long side (default: native GTSDB)")
    parser.add_argument("--upscale", action="store_true", help="enlarge scenes narrower than --imgsz to it")
    parser.add_argument("--conf", type=float, default=0.05, help="lowest detector score kept")
    parser.add_argument("--threads", type=int, help="CPU threads of ONNX Runtime")
    parser.set_defaults(func=run_eval_signs)
