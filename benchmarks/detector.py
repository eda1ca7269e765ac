"""Our detector against what a user would pick: Ultralytics predict on the .pt and on its own OpenVINO exports.

Frames of a real dash-cam clip (960x540) are JPEG-encoded first, so every contender decodes its frame: the figures
are decode + pre-processing + inference + post-processing per frame. All contenders run on the same frame one after
the other, round-robin, so they see the same load on a shared machine; medians in milliseconds, and each one's
speed-up against Ultralytics predict on the .pt. A second table times whole sequences (the frames one after the
other, as over a video), where our `perception detect` keeps several frames in flight (Detector.detect_many), against
the same contenders one frame at a time; rounds alternate the contenders. Ultralytics' OpenVINO exports (float, and
INT8 calibrated by NNCF on the sample bag's frames through a local dataset yaml) are made once, offline, and kept in
--export-dir.

    python benchmarks/detector.py [--frames N] [--imgsz 640] [--export-dir build/benchmark-exports]
        [--backends torch tensorrt tensorrt:int8] [--extra-models OTHER.onnx ...] [--only-backends]
        [--sequence-rounds 3]

--backends takes BACKEND or BACKEND:PRECISION (precision auto when left out: fp16 on TensorRT, fp16 for torch on a
GPU). --only-backends times only Ultralytics predict on the .pt (the baseline; on the GPU where torch sees one) and the
--backends contenders: no OpenVINO exports, none of our CPU paths (benchmarks/gpu_check.sh).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.detection import create_detector  # noqa: E402
from perception.detection.frames import read_frames  # noqa: E402
from perception.detection.quantize import bag_frames  # noqa: E402
from perception.detection.ultralytics_env import configure_ultralytics_offline  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "clips" / "udacity_solid_white_right_960x540.mp4"
SAMPLE_BAG = REPO / "data" / "sample_highway_960x540.mcap"
PT_MODEL = REPO / "models" / "yolov8n_coco.pt"
CLASS_MAP = REPO / "config" / "coco_classes.yaml"
WARMUP_FRAMES = 3
BASELINE = "ultralytics predict, .pt (torch)"
DEFAULT = "ours, openvino int8 (default on a CPU)"
IN_FLIGHT = "ours, openvino int8, frames in flight (detect_many: perception detect)"
SEQUENCE_CONTENDERS = (BASELINE, "ultralytics predict, its OpenVINO export (INT8, NNCF)",
                       "ultralytics predict, its OpenVINO export (fp32)", DEFAULT)
Predict = Callable[[np.ndarray], object]
RunSequence = Callable[[Iterable[np.ndarray]], object]
Samples = dict[str, tuple[list[float], list[float]]]  # contender -> (wall ms, processor ms) per frame


def encoded_frames(clip: Path, count: int) -> list[bytes]:
    frames = []
    for _, frame in read_frames(clip):
        frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
        if len(frames) == count:
            break
    return frames


def calibration_yaml(folder: Path, names: dict[int, str], every: int = 4) -> Path:
    """A dataset yaml whose val images are the sample bag's frames (what our INT8 model is calibrated on)."""
    images = folder / "images" / "val"
    if not images.is_dir():
        images.mkdir(parents=True)
        for index, frame in enumerate(bag_frames(SAMPLE_BAG, every)):
            cv2.imwrite(str(images / f"{index:04d}.jpg"), frame)
    yaml = folder / "calibration.yaml"
    yaml.write_text(f"path: {folder}\ntrain: images/val\nval: images/val\nnames: {names}\n")
    return yaml


def ultralytics_openvino(export_dir: Path, imgsz: int, int8: bool) -> Path:
    """Ultralytics' own OpenVINO export of the .pt (made once; INT8 calibrated by NNCF on the sample bag frames)."""
    from ultralytics import YOLO

    target = export_dir / f"yolov8n_coco_{imgsz}_{'int8' if int8 else 'fp32'}_openvino_model"
    if not target.is_dir():
        export_dir.mkdir(parents=True, exist_ok=True)
        model = YOLO(str(PT_MODEL))
        options = dict(data=str(calibration_yaml(export_dir / "calibration", model.names))) if int8 else {}
        exported = Path(model.export(format="openvino", imgsz=imgsz, int8=int8, **options))
        exported.replace(target)
    return target


def contenders(imgsz: int, export_dir: Path, skip_int8_export: bool, backends: list[str],
               extra_models: list[Path], only_backends: bool = False) -> dict[str, Predict]:
    configure_ultralytics_offline()
    from ultralytics import YOLO

    def ultralytics_predict(path: Path) -> Predict:
        model = YOLO(str(path), task="detect")
        return lambda image: model.predict(image, imgsz=imgsz, verbose=False)

    found = {BASELINE: ultralytics_predict(PT_MODEL)}
    for backend in backends:
        name, _, precision = backend.partition(":")
        try:
            detector = create_detector(backend=name, precision=precision or "auto", imgsz=imgsz, class_map=CLASS_MAP,
                                       status_callback=lambda message: print(message, file=sys.stderr, flush=True))
        except Exception as error:  # e.g. no GPU for tensorrt
            print(f"skipping {backend}: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        found[f"ours, {name} {precision or 'auto'} ({detector.backend_name})"] = detector.detect
    if only_backends:
        return found
    for int8 in (False,) if skip_int8_export else (False, True):
        label = f"ultralytics predict, its OpenVINO export ({'INT8, NNCF' if int8 else 'fp32'})"
        try:
            found[label] = ultralytics_predict(ultralytics_openvino(export_dir, imgsz, int8))
        except Exception as error:  # an exporter that cannot run here is reported, the others still run
            print(f"skipping {label}: {type(error).__name__}: {error}", file=sys.stderr)
    ours = [("openvino", "auto", None, DEFAULT),
            ("onnxruntime", "fp32", None, "ours, onnxruntime fp32 (precision: fp32)"),
            ("openvino", "fp32", None, "ours, openvino fp32")]
    ours += [(backend, "auto", path, f"ours, {backend} on {path.name}") for path in extra_models
             for backend in ("onnxruntime", "openvino")]
    for backend, precision, model, label in ours:
        found[label] = create_detector(model=model, backend=backend, precision=precision, imgsz=imgsz,
                                       class_map=CLASS_MAP).detect
    return found


def measure(jpegs: list[bytes], predictors: dict[str, Predict]) -> Samples:
    """Per-frame wall and processor milliseconds (decode + predict) of every contender, round-robin on each frame.
    Processor time (all threads of this process) depends less than wall time on other jobs sharing the CPU."""
    samples: Samples = {name: ([], []) for name in predictors}
    for index, jpeg in enumerate(jpegs):
        for name, predict in predictors.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            predict(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
            if index >= WARMUP_FRAMES:
                samples[name][0].append((time.perf_counter() - start) * 1e3)
                samples[name][1].append((time.process_time() - start_cpu) * 1e3)
    return samples


def sequence_runners(predictors: dict[str, Predict], imgsz: int) -> dict[str, RunSequence]:
    """Whole-sequence runs: the one-frame-at-a-time contenders in a loop, and our default with frames in flight."""
    runners = {name: (lambda images, predict=predict: [predict(image) for image in images])
               for name, predict in predictors.items() if name in SEQUENCE_CONTENDERS}
    detector = create_detector(backend="openvino", precision="auto", imgsz=imgsz, class_map=CLASS_MAP)
    runners[IN_FLIGHT] = lambda images: list(detector.detect_many(enumerate(images)))
    return runners


def measure_sequences(jpegs: list[bytes], runners: dict[str, RunSequence], rounds: int) -> Samples:
    """Per-frame wall and processor milliseconds of each contender over the whole sequence (decoded as it goes),
    one round each in turn, `rounds` times; a warm-up run first."""
    samples: Samples = {name: ([], []) for name in runners}
    for round_index in range(rounds + 1):
        for name, run in runners.items():
            frames = jpegs[:WARMUP_FRAMES] if round_index == 0 else jpegs[WARMUP_FRAMES:]
            start, start_cpu = time.perf_counter(), time.process_time()
            run(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) for jpeg in frames)
            if round_index:
                samples[name][0].append((time.perf_counter() - start) * 1e3 / len(frames))
                samples[name][1].append((time.process_time() - start_cpu) * 1e3 / len(frames))
    return samples


def print_table(samples: Samples) -> None:
    baseline = statistics.median(samples[BASELINE][0])
    baseline_cpu = statistics.median(samples[BASELINE][1])
    print("| contender | ms per frame (median) | p90 | speed-up vs ultralytics predict on the .pt "
          "| processor ms per frame (median) | processor-time ratio |")
    print("|---|---|---|---|---|---|")
    for name, (wall, cpu) in samples.items():
        median, p90, cpu_median = statistics.median(wall), float(np.percentile(wall, 90)), statistics.median(cpu)
        print(f"| {name} | {median:.1f} | {p90:.1f} | {baseline / median:.2f}x | {cpu_median:.1f} "
              f"| {baseline_cpu / cpu_median:.2f}x |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60, help="frames to time (after 3 warm-up frames)")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--export-dir", type=Path, default=REPO / "build" / "benchmark-exports")
    parser.add_argument("--backends", nargs="*", default=[],
                        help="also time our other backends: BACKEND[:PRECISION] (torch, tensorrt, tensorrt:int8)")
    parser.add_argument("--only-backends", action="store_true",
                        help="time only the .pt baseline and the --backends contenders")
    parser.add_argument("--extra-models", type=Path, nargs="*", default=[],
                        help="more ONNX files (e.g. other quantizations) to time on onnxruntime and openvino")
    parser.add_argument("--sequence-rounds", type=int, default=3,
                        help="rounds of the whole-sequence table (0: no such table)")
    parser.add_argument("--skip-int8-export", action="store_true", help="no Ultralytics INT8 export (it takes minutes)")
    args = parser.parse_args()
    predictors = contenders(args.imgsz, args.export_dir, args.skip_int8_export, args.backends, args.extra_models,
                            args.only_backends)
    jpegs = encoded_frames(args.clip, args.frames + WARMUP_FRAMES)
    samples = measure(jpegs, predictors)
    print(f"{len(jpegs) - WARMUP_FRAMES} frames of {args.clip.name} (960x540 JPEG), imgsz {args.imgsz}, "
          "decode + pre + inference + post per frame")
    print_table(samples)
    if args.sequence_rounds and BASELINE in predictors and DEFAULT in predictors:
        sequences = measure_sequences(jpegs, sequence_runners(predictors, args.imgsz), args.sequence_rounds)
        print(f"\nWhole sequence of the same frames, {args.sequence_rounds} rounds (medians of the rounds' per-frame "
              "times; the p90 column is over rounds)")
        print_table(sequences)
    return 0


if __name__ == "__main__":
    sys.exit(main())
