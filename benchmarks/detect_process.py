"""Whole processes over a video: `perception detect VIDEO --json` against Ultralytics predict on the .pt.

Each run is a fresh process (start-up, model load, decoding, detection, output), timed from outside; the two commands
alternate, so they see the same load on a shared machine. Prints each run's wall and processor (user + system)
seconds, the medians, and the ratio Ultralytics / ours.

    python benchmarks/detect_process.py [--clip VIDEO] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO.parent / "shared" / "data" / "clips" / "udacity_solid_white_right_960x540.mp4"
PT_MODEL = REPO / "models" / "yolov8n_coco.pt"
ULTRALYTICS = """
import sys
from perception.detection.ultralytics_env import configure_ultralytics_offline
configure_ultralytics_offline()
from ultralytics import YOLO
results = YOLO(sys.argv[1]).predict(sys.argv[2], imgsz=640, stream=True, verbose=False, save=False)
print(sum(1 for _ in results), "frames")
"""


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and processor seconds of one child process (which must succeed)."""
    before, start = os.times(), time.perf_counter()
    run = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, after = time.perf_counter() - start, os.times()
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{run.stderr}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    commands = {"perception detect --json": [sys.executable, "-m", "perception", "detect", str(args.clip), "--json"],
                "ultralytics predict (.pt)": [sys.executable, "-c", ULTRALYTICS, str(PT_MODEL), str(args.clip)]}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for repeat in range(args.repeats):
        for name, command in commands.items():
            runs[name].append(timed(command))
            print(f"run {repeat + 1} {name}: {runs[name][-1][0]:.2f} s wall, {runs[name][-1][1]:.2f} s processor",
                  flush=True)
    medians = {name: [statistics.median(values) for values in zip(*samples)] for name, samples in runs.items()}
    for name, (wall, cpu) in medians.items():
        print(f"median {name}: {wall:.2f} s wall, {cpu:.2f} s processor")
    (ours_wall, ours_cpu), (theirs_wall, theirs_cpu) = medians.values()
    print(f"ultralytics / ours: {theirs_wall / ours_wall:.2f}x wall, {theirs_cpu / ours_cpu:.2f}x processor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
