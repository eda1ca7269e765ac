"""Tracker throughput on real detections: MOT17-04 (YOLOX-X), the 50 highest-scoring boxes of every frame.

Run: python benchmarks/tracker.py [--objects 50] [--repeats 3]. Prints frames/s of this tracker and of
ultralytics' BYTETracker (default settings) on the same frames, and their ratio. Timed in process CPU
time, best of the repeats, so that other load on a shared machine distorts it less.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")

import numpy as np  # noqa: E402

from perception.datasets import mot  # noqa: E402
from perception.evaluation.tracking_sequences import Frame, FrameTracker, mot_frames  # noqa: E402
from perception.evaluation.ultralytics_baseline import UltralyticsByteTrack  # noqa: E402
from perception.pipeline.parameters import deployed_parameters  # noqa: E402
from perception.pipeline.stages import tracker_config  # noqa: E402
from perception.tracking.tracker import Tracker  # noqa: E402

SEQUENCE = ROOT.parent / "shared" / "data" / "tracking" / "mot17" / "MOT17-04"


def top_detections(frames: list[Frame], objects: int) -> list[Frame]:
    return [Frame(f.number, f.stamp, f.detections.select(np.argsort(-f.detections.scores)[:objects])) for f in frames]


def frames_per_second(make_tracker: Callable[[], FrameTracker], frames: list[Frame], repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        tracker = make_tracker()
        start = time.process_time()
        for frame in frames:
            tracker.update(frame.detections, frame.stamp)
        best = min(best, time.process_time() - start)
    return len(frames) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=50, help="detections per frame (highest scores)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = mot.read_rows(SEQUENCE / "det" / "yolox_x_ablation.txt")
    frames = top_detections(mot_frames(rows, mot.read_seqinfo(SEQUENCE / "seqinfo.ini")), args.objects)
    mean_objects = np.mean([len(f.detections) for f in frames])
    config = tracker_config(deployed_parameters("tracker"))  # the deployed configuration
    ours = frames_per_second(lambda: Tracker(config), frames, args.repeats)
    baseline = frames_per_second(UltralyticsByteTrack, frames, args.repeats)
    print(f"MOT17-04, {len(frames)} frames, {mean_objects:.1f} detections/frame (top {args.objects} by score); our "
          "tracker with the deployed settings (config/perception.yaml)")
    print(f"{'tracker':<26}{'frames/s':>10}{'ms/frame':>10}{'ratio':>8}")
    for name, fps in (("perception Tracker", ours), ("ultralytics BYTETracker", baseline)):
        print(f"{name:<26}{fps:>10.0f}{1000 / fps:>10.3f}{fps / baseline:>8.2f}")


if __name__ == "__main__":
    main()
