"""Latency of TrajectoryPredictor.predict for 100 real KITTI tracks vs the constant-velocity fallback, with the
network on ONNX Runtime (the runtime's default) and on eager torch, in the same run.

The row "with neighbours" times the same architecture with the neighbour input (`train-predictor
--neighbours`, 10 m radius) on the same tracks: untrained weights, for its cost only.

Usage: python benchmarks/predictor.py [--kitti ../shared/data/tracking/kitti] [--tracks 100] [--repeats 200]
Histories are the first 1.5 s (15 label frames, 10 Hz) of KITTI tracking ground-truth tracks.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from perception.datasets.ground_tracks import kitti_tracks
from perception.prediction.checkpoint import save_checkpoint
from perception.prediction.inference import ONNXRUNTIME, RUNTIMES
from perception.prediction.model import TrajectoryRNN
from perception.prediction.runtime import History, TrajectoryPredictor

HISTORY_FRAMES = 15
KITTI_TIME_STEP_S = 0.1


def kitti_histories(kitti_dir: Path, count: int) -> dict[int, History]:
    sequences = sorted(path.stem for path in (kitti_dir / "label_02").glob("*.txt"))
    tracks = kitti_tracks(kitti_dir / "label_02", kitti_dir / "calib", sequences)
    tracks = [track for track in tracks if len(track.frames) >= HISTORY_FRAMES]
    if len(tracks) < count:
        raise SystemExit(f"only {len(tracks)} tracks with {HISTORY_FRAMES} frames")
    return {
        index: (track.frames[:HISTORY_FRAMES] * KITTI_TIME_STEP_S, track.positions[:HISTORY_FRAMES])
        for index, track in enumerate(tracks[:count])
    }


def milliseconds(function, repeats: int) -> tuple[float, float]:
    """Median and 90th percentile wall time of function() after a warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_kitti = Path(__file__).resolve().parents[2] / "shared/data/tracking/kitti"
    parser.add_argument("--kitti", type=Path, default=default_kitti)
    parser.add_argument("--model", help="checkpoint (default: the bundled default model)")
    parser.add_argument("--horizon-s", type=float, default=0.0,
                        help="0: the model's trained horizon, as the predictor node's default")
    parser.add_argument("--time-step-s", type=float, default=0.1, help="as the predictor node's default")
    parser.add_argument("--tracks", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (ONNX Runtime: always 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    histories = kitti_histories(args.kitti, args.tracks)
    predictors = {runtime: TrajectoryPredictor(args.model, args.horizon_s, args.time_step_s, runtime)
                  for runtime in RUNTIMES}
    predictor = predictors[ONNXRUNTIME]
    observed = np.zeros((args.tracks, predictor.model.config.obs_len, 2), np.float32)
    classes = np.full(args.tracks, -1)
    social_config = copy.deepcopy(predictor.model.config)
    social_config.neighbour_radius = 10.0
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(TrajectoryRNN(social_config), Path(folder) / "social.pt")
        social = TrajectoryPredictor(Path(folder) / "social.pt", args.horizon_s, args.time_step_s)
    if any(p.forward.runtime != runtime for runtime, p in predictors.items()):
        raise SystemExit(f"no ONNX Runtime: {predictor.forward.reason}")

    rows = {f"predict(): RNN on {runtime}": (lambda p=p: p.predict(histories)) for runtime, p in predictors.items()}
    rows |= {f"forward pass only, {runtime}": (lambda p=p: p.forward(observed, classes))
             for runtime, p in predictors.items()}
    rows |= {
        "predict(): with neighbours": lambda: social.predict(histories),
        "constant velocity, all tracks": lambda: [
            predictor.constant_velocity_path(*history) for history in histories.values()
        ],
    }
    print(
        f"{args.tracks} tracks, {predictor.horizon_s} s ahead every {args.time_step_s} s, "
        f"{args.threads} torch thread(s), {args.repeats} repeats"
    )
    print(f"{'what':<32}{'median ms':>10}{'p90 ms':>10}")
    for name, function in rows.items():
        median, p90 = milliseconds(function, args.repeats)
        print(f"{name:<32}{median:>10.3f}{p90:>10.3f}")


if __name__ == "__main__":
    main()
