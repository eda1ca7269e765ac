"""Detection subcommands: detect, build-engine, convert-model, quantize, eval-int8."""
from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

from perception.cli.parameters import add_parameter_options, node_settings
from perception.datasets.gtsdb import parse_scene_range, scene_file, stop_sign_scenes
from perception.detection import convert, quantize
from perception.detection.errors import DetectorSetupError
from perception.detection.factory import create_detector
from perception.detection.frames import read_ahead, read_frames
from perception.evaluation import detection_accuracy
from perception.pipeline.detection import detector_from_parameters
from perception.types import Detections, ObjectClass


def frame_record(source: Path, frame: int, detections: Detections, detector) -> dict:
    return {
        "source": str(source),
        "frame": frame,
        "backend": detector.backend_name,
        "timings_ms": {
            "preprocess": round(detector.last_timings.preprocess_ms, 2),
            "inference": round(detector.last_timings.inference_ms, 2),
            "postprocess": round(detector.last_timings.postprocess_ms, 2),
        },
        "detections": [
            {
                "class": ObjectClass(int(label)).name,
                "source_class": detector.class_names[int(class_id)],
                "score": round(float(score), 4),
                "box": [round(float(value), 1) for value in box],
            }
            for box, score, label, class_id in zip(
                detections.boxes, detections.scores, detections.labels, detections.source_class_ids
            )
        ],
    }


def print_text(record: dict) -> None:
    print(f"{record['source']} frame {record['frame']}: {len(record['detections'])} objects")
    for item in record["detections"]:
        x1, y1, x2, y2 = item["box"]
        print(f"  {item['class']:<13} {item['score']:.2f}  {x1:.0f} {y1:.0f} {x2:.0f} {y2:.0f}")
    for sign in record.get("signs", []):
        x1, y1, x2, y2 = sign["box"]
        print(f"  sign {sign['sign_class_id']:>2} {sign['score']:.2f}  {x1:.0f} {y1:.0f} {x2:.0f} {y2:.0f}  {sign['sign_name']}")


def report_setup_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print a setup failure (missing model, backend unavailable, bad option) as one message, exit status 2."""

    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (DetectorSetupError, ValueError, FileNotFoundError) as error:
            print(f"perception {args.command}: error: {error}", file=sys.stderr)
            return 2

    return wrapped


@report_setup_errors
def run_detect(args: argparse.Namespace) -> int:
    p, said = node_settings(args, "detector")
    print(said, file=sys.stderr)
    detector = detector_from_parameters(p, class_map=args.class_map)
    signs = None
    if args.signs:
        from perception.signs.recognizer import SignRecognizer, sign_records

        signs = SignRecognizer(conf=p["conf_threshold"])
    for path in args.paths:
        for frame, image, detections in detector.detect_many(read_ahead(read_frames(Path(path)))):
            record = frame_record(Path(path), frame, detections, detector)
            if signs is not None:
                found = signs.recognize(image)
                record["signs"] = sign_records(found.select(found.scores >= p["conf_threshold"]))
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                print_text(record)
    return 0


@report_setup_errors
def run_build_engine(args: argparse.Namespace) -> int:
    from perception.detection.backends.tensorrt_backend import TensorRTBackend
    from perception.detection.model_files import model_for_backend

    def report(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    backend = TensorRTBackend(
        model_for_backend(args.model, "tensorrt", args.imgsz, int8=args.precision == "int8"), args.imgsz, args.device, precision=args.precision,
        workspace_gb=args.workspace_gb, cache_dir=args.cache_dir, report=report,
    )
    print(backend.engine_path)
    return 0


DETECT_OPTIONS = ["model", "backend", "precision", "fallback", "device", "imgsz", "conf_threshold", "iou_threshold",
                  "unknown_classes"]


def register(subparsers: argparse._SubParsersAction) -> None:
    detect = subparsers.add_parser("detect", help="detect objects in images or videos")
    detect.add_argument("paths", nargs="+", metavar="PATH", help="image or video files")
    add_parameter_options(detect, "detector", DETECT_OPTIONS)
    detect.add_argument("--class-map", help="class map YAML (default: the bundled coco_classes.yaml)")
    detect.add_argument("--json", action="store_true", help="print one JSON object per frame")
    detect.add_argument("--signs", action="store_true", help="also find traffic signs and print their type")
    detect.set_defaults(func=run_detect)

    build = subparsers.add_parser("build-engine", help="build (or refresh) the cached TensorRT engine ahead of time")
    build.add_argument("--model", help="ONNX (a Q/DQ ONNX for int8), or a .pt with a <stem>_dynamic.onnx or "
                       "<stem>_<imgsz>.onnx (int8: <stem>_int8.onnx) beside it (default: bundled)")
    build.add_argument("--imgsz", type=int, default=640)
    build.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16",
                       help="fp16: built from an fp16 copy of the float ONNX; int8: the model must be a Q/DQ ONNX")
    build.add_argument("--workspace-gb", type=float, default=4.0, help="TensorRT builder workspace limit")
    build.add_argument("--cache-dir", type=Path, help="engine cache folder (default: $PERCEPTION_ENGINE_CACHE)")
    build.add_argument("--device", default="cuda:0")
    build.set_defaults(func=run_build_engine)

    register_convert_model(subparsers)
    register_quantize(subparsers)
    register_eval_int8(subparsers)


def run_convert_model(args: argparse.Namespace) -> int:
    checkpoint = Path(args.output)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    yolo = convert.build_float_model(Path(args.source), args.architecture)
    convert.save_checkpoint(yolo, checkpoint, source=Path(args.source).name)
    print(f"wrote {checkpoint}")
    for imgsz in args.export_onnx:
        onnx_path = checkpoint.with_name(f"{checkpoint.stem}_{imgsz}.onnx")
        print(f"wrote {convert.export_onnx(checkpoint, imgsz, onnx_path)}")
    if args.export_dynamic_onnx:
        onnx_path = checkpoint.with_name(f"{checkpoint.stem}_dynamic.onnx")
        print(f"wrote {convert.export_onnx(checkpoint, 640, onnx_path, dynamic=True)}")
    return 0


def register_convert_model(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert-model", help="dequantize an INT8 YOLOv8 ONNX into a float .pt (+ ONNX)")
    parser.add_argument("source", help="dynamically INT8-quantized Ultralytics YOLOv8 ONNX")
    parser.add_argument("--output", default="models/yolov8n_coco.pt", help="float checkpoint to write")
    parser.add_argument("--architecture", default="yolov8n.yaml", help="Ultralytics model yaml of the source")
    parser.add_argument(
        "--export-onnx", type=int, nargs="*", default=[], metavar="IMGSZ",
        help="also export <output stem>_<IMGSZ>.onnx for each input size",
    )
    parser.add_argument(
        "--export-dynamic-onnx", action="store_true",
        help="also export <output stem>_dynamic.onnx (any input height/width; ONNX Runtime's default)",
    )
    parser.set_defaults(func=run_convert_model)


def run_quantize(args: argparse.Namespace) -> int:
    shared_data = Path(args.shared_data)
    excluded = stop_sign_scenes(shared_data)
    if args.exclude_scenes:
        excluded |= {Path(scene_file(number)).stem for number in parse_scene_range(args.exclude_scenes)}
    tensors = quantize.calibration_tensors(
        [Path(bag) for bag in args.bag], [shared_data / "signs" / "gtsdb" / "train"], excluded,
        args.bag_every, args.scene_every, args.imgsz,
    )
    print(f"calibrating on {len(tensors)} frames", flush=True)
    output = Path(args.output or quantize.TOOLS[args.tool])
    if args.tool == "onnxruntime":
        if args.preset or args.bias_correction:
            raise ValueError("--preset and --bias-correction are NNCF options (tool nncf)")
        print(f"wrote {quantize.quantize_onnxruntime(Path(args.model), output, tensors)}")
        return 0
    preset = args.preset or quantize.PRESETS[0]
    bias_correction = args.bias_correction or quantize.BIAS_CORRECTIONS[0]
    print(f"NNCF preset: {preset}, bias correction: {bias_correction}", flush=True)
    print(f"wrote {quantize.quantize_nncf(Path(args.model), output, tensors, preset, bias_correction)}")
    return 0


def register_quantize(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quantize", help="INT8 static quantization of the float detector, calibrated on driving frames")
    parser.add_argument("--tool", choices=quantize.TOOLS, default="nncf",
                        help="nncf: Q/DQ ONNX by NNCF (the shipped INT8 file: TensorRT, openvino, onnxruntime); "
                             "onnxruntime: Q/DQ ONNX by ONNX Runtime's quantize_static (for comparison)")
    parser.add_argument("--model", default="models/yolov8n_coco_dynamic.onnx", help="float Ultralytics ONNX")
    parser.add_argument("--output", help="file to write (default: the shipped file of the tool)")
    parser.add_argument("--preset", choices=quantize.PRESETS,
                        help="NNCF preset. performance: symmetric int8 weights and activations, zero points 0 "
                             "(TensorRT's ONNX parser needs it; the first convolution stays float); mixed: "
                             "asymmetric activations, for comparison (default: performance)")
    parser.add_argument("--bias-correction", choices=quantize.BIAS_CORRECTIONS,
                        help="NNCF bias correction. fast: from each layer's float input (the detector's file); "
                             "full: from the quantized layers before it, slower (the sign detector's file) "
                             "(default: fast)")
    parser.add_argument("--bag", nargs="*", default=["data/sample_highway_960x540.mcap"],
                        help="bags whose camera frames calibrate")
    parser.add_argument("--bag-every", type=int, default=4, help="use every N-th frame of each bag")
    parser.add_argument("--shared-data", default="../shared/data",
                        help="shared data folder: GTSDB training scenes calibrate, except the evaluation scenes")
    parser.add_argument("--scene-every", type=int, default=5, help="use every N-th GTSDB scene")
    parser.add_argument("--exclude-scenes", help="GTSDB scene range never calibrated on besides the detector's "
                        "evaluation scenes, e.g. 480-599 (the sign detector's validation part)")
    parser.add_argument("--imgsz", type=int, default=640, help="letterbox long side, as the detector's")
    parser.set_defaults(func=run_quantize)


def run_eval_quantized(args: argparse.Namespace) -> int:
    conf = node_settings(args, "detector")[0]["conf_threshold"]
    reference = create_detector(model=args.reference, backend="onnxruntime", precision="fp32", conf=conf)
    candidate = create_detector(model=args.model, backend=args.backend, precision="int8", conf=conf)
    print(f"lowest score kept: {conf:g} (detector conf_threshold of {args.config or 'the deployed configuration'})")
    print(f"float: {args.reference or 'bundled'}, INT8: {args.model or 'bundled'} ({candidate.backend_name})")
    sets = detection_accuracy.evaluation_frames(Path(args.shared_data))
    results = [
        detection_accuracy.compare(reference, candidate, frames, name, conf) for name, frames in sets.items()
    ]
    results.append(detection_accuracy.combined(results))
    for row in detection_accuracy.result_rows(results):
        print(row)
    return 0


def register_eval_int8(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval-int8", help="INT8 detector against the float one on the evaluation frames")
    parser.add_argument("--model", help="INT8 model: Q/DQ ONNX, or a .pt with <stem>_int8.onnx (default: bundled)")
    parser.add_argument("--reference", help="float model (default: bundled)")
    parser.add_argument("--backend", default="openvino",
                        help="backend running the INT8 model (openvino, onnxruntime, tensorrt: the same Q/DQ ONNX)")
    add_parameter_options(parser, "detector", ["conf_threshold"])
    parser.add_argument("--shared-data", default="../shared/data", help="shared data folder")
    parser.set_defaults(func=run_eval_quantized)
