"""Leave-one-sequence-out choice of the tracker's class_change_cost on KITTI tracking (car).

Run: python benchmarks/class_change_cost.py [--kitti-dir DIR] [--costs 0 0.1 ...] [--out DIR].
Tracks every sequence (PermaTrack detections, --calib ground positions, as `perception track --format kitti`) with
each cost, on the deployed configuration (config/perception.yaml) and on the library defaults (high_score 0.6,
report_coasting false), and scores them with TrackEval (as `perception eval-track`). For each held-out sequence the
cost with the highest mean car HOTA over the other sequences is chosen and scored on the held-out one (ties: the
lower cost, which lets more class flips continue their track, the purpose of the setting; 1 is classes never
mixing, the behaviour before it); one row per fold, and the choice of most folds.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np  # noqa: E402

from perception.datasets.tracking_results import write_kitti_results  # noqa: E402
from perception.evaluation.kitti_pipeline import load_sequence, run_sequence  # noqa: E402
from perception.evaluation.tracking_metrics import evaluate_kitti  # noqa: E402
from perception.pipeline.parameters import deployed_parameters  # noqa: E402

CONFIGURATIONS = {"deployed": {}, "library_defaults": {"high_score": 0.6, "report_coasting": False}}


def track_all(kitti_dir: Path, sequences: list[str], costs: list[float], out: Path) -> dict[str, dict[float, Path]]:
    """Result folders: configuration -> cost -> folder of <sequence>.txt (as `perception track --calib` writes them)."""
    deployed = deployed_parameters("tracker", ROOT / "config" / "perception.yaml")
    loaded = [load_sequence(kitti_dir, name, "det_2d_permatrack", poses=False) for name in sequences]
    folders: dict[str, dict[float, Path]] = {}
    for name, changes in CONFIGURATIONS.items():
        for cost in costs:
            settings = {**deployed, **changes, "class_change_cost": cost}
            folder = folders.setdefault(name, {})[cost] = out / f"{name}_{cost:g}"
            folder.mkdir(parents=True, exist_ok=True)
            for sequence in loaded:
                outputs = run_sequence(sequence, settings)
                write_kitti_results(folder / f"{sequence.name}.txt", [(o.number, o.tracks) for o in outputs],
                                    sequence.image_size, sequence.rig, sequence.odom_from_vehicle)
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kitti-dir", type=Path, default=ROOT.parent / "shared" / "data" / "tracking" / "kitti")
    parser.add_argument("--sequences", nargs="*", default=[f"{i:04d}" for i in range(11)])
    parser.add_argument("--costs", type=float, nargs="*", default=[0.0, 0.1, 0.2, 0.3, 0.5, 1.0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/class_change_cost"))
    args = parser.parse_args()
    folders = track_all(args.kitti_dir, args.sequences, args.costs, args.out)
    labels = [args.kitti_dir / "label_02" / f"{s}.txt" for s in args.sequences]
    for name, by_cost in folders.items():
        scores = evaluate_kitti(labels, {f"{cost:g}": folder for cost, folder in by_cost.items()})
        hota = np.array([[scores[f"{c:g}"]["car"][s].hota for c in args.costs] for s in args.sequences])
        switches = np.array([[scores[f"{c:g}"]["car"][s].id_switches for c in args.costs] for s in args.sequences])
        print(f"\n{name}: car HOTA / ID switches by sequence and cost (1 = classes never mix)")
        print("sequence  " + "  ".join(f"{c:>11g}" for c in args.costs))
        for s, row_hota, row_switches in zip(args.sequences, hota, switches):
            print(f"{s:<8}  " + "  ".join(f"{h:6.2f} / {w:2d}" for h, w in zip(row_hota, row_switches)))
        combined = [scores[f"{c:g}"]["car"]["COMBINED"] for c in args.costs]
        print("combined  " + "  ".join(f"{s.hota:6.2f} /{s.id_switches:3d}" for s in combined))
        print(f"\n{name}: leave one sequence out (chosen on the mean car HOTA of the other sequences)")
        print("held out  chosen cost  HOTA chosen  HOTA cost 1  IDSW chosen  IDSW cost 1")
        wall = args.costs.index(max(args.costs))
        chosen_costs = []
        for i, sequence in enumerate(args.sequences):
            training = np.delete(hota, i, axis=0).mean(axis=0)
            best = max(range(len(args.costs)), key=lambda k: (round(training[k], 6), -args.costs[k]))
            chosen_costs.append(args.costs[best])
            print(f"{sequence:<8}  {args.costs[best]:11g}  {hota[i, best]:11.2f}  {hota[i, wall]:11.2f}  "
                  f"{switches[i, best]:11d}  {switches[i, wall]:11d}")
        values, counts = np.unique(chosen_costs, return_counts=True)
        print(f"chosen by most folds: {values[counts.argmax()]:g} ({counts.max()} of {len(chosen_costs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
