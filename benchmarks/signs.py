"""Sign stage milliseconds per frame on this CPU, contenders side by side: the sign node's default (backend and
precision auto: OpenVINO on the INT8 Q/DQ copy on a CPU), the float detector on OpenVINO and on ONNX Runtime (the
default before 2026-12-08), each with the 43-class classifier on its boxes, and Ultralytics' predict on the same
detector's .pt (detection only: what a user would run). Real GTSDB validation scenes at their own 1360x800 and
shrunk to 960 px wide (a 960x540 camera's scale); the contenders take each frame in turn, so a change in the machine's
load hits them alike.

Run: nice -n 19 .venv/bin/python benchmarks/signs.py [--scenes 480-519] [--threads 1] [--imgsz 1376] [--no-ultralytics]
Prints, per frame size and contender, the median wall and processor (all threads of the process) milliseconds of the
detector and of the whole stage, and the stage's processor-time ratio to ONNX Runtime float. Uses the installed
package and models.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from perception import resources
from perception.datasets.gtsdb import parse_scene_range, scene_file
from perception.signs.gtsdb import DEFAULT_IMGSZ
from perception.signs.recognizer import DETECTOR_MODEL, SignRecognizer

GTSDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "signs" / "gtsdb" / "train"
CONTENDERS = {"ours, auto (default)": {}, "ours, openvino fp32": {"backend": "openvino", "precision": "fp32"},
              "ours, onnxruntime fp32": {"backend": "onnxruntime", "precision": "fp32"}}
BASELINE = "ours, onnxruntime fp32"
ULTRALYTICS = "ultralytics predict, .pt (detector only)"


def timed(run) -> tuple[float, float]:
    """(wall ms, processor ms) of run()."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def ultralytics_runner(threads: int, imgsz: int):
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(threads)
    model = YOLO(str(resources.model_path(DETECTOR_MODEL)), task="detect")
    return lambda image: model.predict(image, imgsz=min(imgsz, max(image.shape[:2])), conf=0.05, verbose=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default="480-519")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ)
    parser.add_argument("--no-ultralytics", action="store_true", help="leave Ultralytics' predict out")
    args = parser.parse_args()
    recognizers = {name: SignRecognizer(imgsz=args.imgsz, threads=args.threads, **options)
                   for name, options in CONTENDERS.items()}
    ultralytics = None if args.no_ultralytics else ultralytics_runner(args.threads, args.imgsz)
    scenes = [cv2.imread(str(GTSDB / scene_file(number))) for number in parse_scene_range(args.scenes)]
    sizes = {"1360x800": scenes, "960x565": [cv2.resize(image, (960, 565), interpolation=cv2.INTER_AREA)
                                             for image in scenes]}
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    print(f"{len(scenes)} GTSDB scenes, imgsz {args.imgsz}, {args.threads} thread(s), CPU: {cpu}")
    print("| frame | contender | backend | detector ms | stage ms | stage processor ms "
          "| processor vs onnxruntime fp32 |")
    print("|---|---|---|---|---|---|---|")
    for size, images in sizes.items():
        rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in [*recognizers, ULTRALYTICS]}
        for recognizer in recognizers.values():
            recognizer.recognize(images[0])  # warm-up: OpenVINO compiles for the size
        if ultralytics:
            ultralytics(images[0])
        for image in images:
            for name, recognizer in recognizers.items():
                wall, processor = timed(lambda: recognizer.recognize(image))
                rows[name].append((recognizer.last_timings.detector_ms, wall, processor))
            if ultralytics:
                wall, processor = timed(lambda: ultralytics(image))
                rows[ULTRALYTICS].append((wall, float("nan"), processor))
        baseline = np.median([row[2] for row in rows[BASELINE]])
        for name, values in rows.items():
            if not values:
                continue
            detector, stage, processor = np.median(np.array(values), axis=0)
            backend = recognizers[name].detector.backend_name if name in recognizers else "torch"
            stage_text = "-" if np.isnan(stage) else f"{stage:.1f}"
            print(f"| {size} | {name} | {backend} | {detector:.1f} | {stage_text} | {processor:.1f} | "
                  f"{processor / baseline:.2f}x |")


if __name__ == "__main__":
    main()
