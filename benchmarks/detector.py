"""Detector latency per stage and backend, side by side with Ultralytics' own YOLO.predict.

Frames of a real dashcam clip are JPEG-encoded first so that decoding is measured too. For each
input size and model, our detector, Ultralytics predict on the same model file, and Ultralytics
predict on the .pt (its default path) run on the same decoded frame one after the other, so all see
the same load on a shared machine. Medians in milliseconds; FPS counts preprocess + inference +
postprocess (decoding is listed apart). Rows: each backend on its default model (ONNX Runtime: the
dynamic-shape ONNX), plus ONNX Runtime on the static square ONNX.

    python benchmarks/detector.py [--frames N] [--sizes 640 320] [--backends onnxruntime torch tensorrt]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.detection import DetectorSetupError, create_detector  # noqa: E402
from perception.detection.frames import read_frames  # noqa: E402
from perception.detection.model_files import model_for_backend  # noqa: E402
from perception.detection.ultralytics_env import configure_ultralytics_offline  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "clips" / "udacity_solid_white_right_960x540.mp4"
MODEL_DIR = REPO / "models"
CLASS_MAP = REPO / "config" / "coco_classes.yaml"
WARMUP_FRAMES = 3


def encoded_frames(clip: Path, count: int) -> list[bytes]:
    frames = []
    for _, frame in read_frames(clip):
        frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
        if len(frames) == count:
            break
    return frames


def ultralytics_predictors(model_path: Path, imgsz: int) -> dict:
    """Ultralytics predict on `model_path` and on our .pt (Ultralytics' default path)."""
    configure_ultralytics_offline()
    from ultralytics import YOLO

    models = {"same file": YOLO(str(model_path), task="detect"), "pt": YOLO(str(MODEL_DIR / "yolov8n_coco.pt"))}
    return {name: (lambda image, model=model: model.predict(image, imgsz=imgsz, verbose=False))
            for name, model in models.items()}


def measure(jpegs: list[bytes], backend: str, model_path: Path, imgsz: int) -> dict[str, list[float]]:
    """Per-frame milliseconds for each of our stages and for each Ultralytics reference."""
    detector = create_detector(model=model_path, backend=backend, imgsz=imgsz, class_map=CLASS_MAP)
    reference = ultralytics_predictors(model_path, imgsz)
    samples: dict[str, list[float]] = {}
    for index, jpeg in enumerate(jpegs):
        start = time.perf_counter()
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        decode_ms = (time.perf_counter() - start) * 1e3
        detector.detect(image)
        timings = detector.last_timings
        stage_ms = {"decode": decode_ms, "preprocess": timings.preprocess_ms, "inference": timings.inference_ms,
                    "postprocess": timings.postprocess_ms, "total": timings.total_ms}
        for name, predict in reference.items():
            start = time.perf_counter()
            predict(image)
            stage_ms[name] = (time.perf_counter() - start) * 1e3
        if index >= WARMUP_FRAMES:
            for name, value in stage_ms.items():
                samples.setdefault(name, []).append(value)
    return samples


def print_table(rows: list[tuple[str, int, dict[str, list[float]]]]) -> None:
    header = (f"{'backend / model':<34} {'imgsz':>5} {'decode':>6} {'prep':>5} {'infer':>6} {'post':>5} {'total':>6}"
              f" {'FPS':>5} | {'ultra same file':>15} {'FPS':>5} {'ratio':>5} | {'ultra .pt':>9} {'FPS':>5} {'ratio':>5}")
    print(header)
    print("-" * len(header))
    for label, imgsz, samples in rows:
        median = {name: statistics.median(values) for name, values in samples.items()}
        ours_fps = 1e3 / median["total"]
        line = (f"{label:<34} {imgsz:>5} {median['decode']:>6.1f} {median['preprocess']:>5.1f} "
                f"{median['inference']:>6.1f} {median['postprocess']:>5.1f} {median['total']:>6.1f} {ours_fps:>5.1f}")
        for name, width in (("same file", 15), ("pt", 9)):
            fps = 1e3 / median[name]
            line += f" | {median[name]:>{width}.1f} {fps:>5.1f} {ours_fps / fps:>4.2f}x"
        print(line)


def benchmark_models(backends: list[str], imgsz: int) -> list[tuple[str, Path]]:
    """(backend, model file) pairs to time: each backend's default model, and the static ONNX on ONNX Runtime."""
    pairs = []
    for backend in backends:
        try:
            pairs.append((backend, model_for_backend(MODEL_DIR / "yolov8n_coco.pt", backend, imgsz)))
        except DetectorSetupError as error:
            print(f"skipping {backend}: {error}", file=sys.stderr)
    if "onnxruntime" in backends:
        pairs.append(("onnxruntime", MODEL_DIR / f"yolov8n_coco_{imgsz}.onnx"))
    return list(dict.fromkeys(pairs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60, help="frames to time (after 3 warm-up frames)")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--sizes", type=int, nargs="+", default=[640, 320])
    parser.add_argument("--backends", nargs="+", default=["onnxruntime", "torch", "tensorrt"])
    args = parser.parse_args()
    jpegs = encoded_frames(args.clip, args.frames + WARMUP_FRAMES)
    rows = []
    for imgsz in args.sizes:
        for backend, model_path in benchmark_models(args.backends, imgsz):
            try:
                rows.append((f"{backend} {model_path.name}", imgsz, measure(jpegs, backend, model_path, imgsz)))
            except DetectorSetupError as error:
                print(f"skipping {backend} at {imgsz}: {error}", file=sys.stderr)
    print(f"{len(jpegs) - WARMUP_FRAMES} frames of {args.clip.name}, median ms per frame; "
          "ratio = our FPS / Ultralytics predict FPS (same frame, same weights)")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
