"""`perception eval-signs`: score the sign recognizer on GTSDB scenes."""
from __future__ import annotations

import argparse
from pathlib import Path

from perception.signs.gtsdb import DEFAULT_IMGSZ, parse_scene_range, read_sign_file, write_sign_file
from perception.signs.training_cli import DEFAULT_VAL_SCENES


def run_eval_signs(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from perception.signs.evaluation import evaluate, score_lines
    from perception.signs.recognizer import SignRecognizer

    gtsdb = Path(args.gtsdb)
    truth = read_sign_file(gtsdb / "gt.txt")
    scenes = parse_scene_range(args.images)
    recognizer = SignRecognizer(args.detector, args.classifier, args.backend, args.imgsz, args.conf, args.threads)
    found, scores = evaluate(recognizer, gtsdb, truth, scenes, lambda names: tqdm(names, desc="eval-signs"))
    for line in score_lines(scores, len(scenes)):
        print(line)
    if args.out:
        write_sign_file(args.out, found)
        print(f"wrote {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval-signs", help="AP, recall by size and classification accuracy on GTSDB")
    parser.add_argument("--gtsdb", required=True, help="GTSDB folder with <NNNNN>.jpg scenes and gt.txt")
    parser.add_argument("--images", default=DEFAULT_VAL_SCENES,
                        help=f"scene numbers, FIRST-LAST (default {DEFAULT_VAL_SCENES}: the held-out validation part)")
    parser.add_argument("--out", help="write detections as file;x1;y1;x2;y2;class_id;score")
    parser.add_argument("--detector", help="sign detector (.pt or ONNX; default: the installed models/signs one)")
    parser.add_argument("--classifier", help="sign classifier ONNX (default: the installed one)")
    parser.add_argument("--backend", default="onnxruntime", help="detector backend, as for `perception detect`")
    parser.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ, help="detector input long side (default: native GTSDB)")
    parser.add_argument("--conf", type=float, default=0.05, help="lowest detector score kept")
    parser.add_argument("--threads", type=int, help="CPU threads of ONNX Runtime")
    parser.set_defaults(func=run_eval_signs)
