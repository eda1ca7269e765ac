"""HOTA, MOTA, IDF1 and ID switches via TrackEval, using its MOTChallenge and KITTI preprocessing.

MOTChallenge (MOT17): pedestrians (class 1, conf 1) are evaluated; tracker boxes matched (IoU >= 0.5) to
distractor classes (person on vehicle, static person, distractor, reflection) are removed first.
KITTI: Car and Pedestrian are evaluated separately; results matched to Van (for Car) or Person_sitting
(for Pedestrian), or to boxes truncated / occluded beyond the benchmark limits, are removed, as are
unmatched results inside DontCare regions or at most 25 px tall (the official devkit's rules).
Results must use the frame numbering of the ground truth; --from-frame keeps frames >= N of both.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.datasets.mot import read_rows, read_seqinfo

COMBINED = "COMBINED"


@dataclass(frozen=True)
class Scores:
    hota: float  # percent, averaged over IoU thresholds 0.05..0.95; NaN where the ground truth has no such object
    mota: float  # percent (NaN as hota)
    idf1: float  # percent (NaN as hota)
    id_switches: int
    false_positives: int
    misses: int


def _trackeval_scores(dataset: object) -> dict[str, dict[str, dict[str, Scores]]]:
    """Run TrackEval on a dataset object; returns tracker -> class -> sequence (and COMBINED) -> Scores."""
    import trackeval

    evaluator_config = {
        "USE_PARALLEL": False,
        "PRINT_RESULTS": False,
        "PRINT_CONFIG": False,
        "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False,
        "PLOT_CURVES": False,
        "LOG_ON_ERROR": None,
    }
    metrics = [m({"PRINT_CONFIG": False}) for m in (trackeval.metrics.HOTA, trackeval.metrics.CLEAR, trackeval.metrics.Identity)]
    with contextlib.redirect_stdout(io.StringIO()):  # TrackEval reports progress on stdout
        results, _ = trackeval.Evaluator(evaluator_config).evaluate([dataset], metrics)
    scores: dict[str, dict[str, dict[str, Scores]]] = {}
    for tracker, sequences in next(iter(results.values())).items():
        for sequence, classes in sequences.items():
            for class_name, values in classes.items():
                clear = values["CLEAR"]
                # no object of the class in the ground truth: TrackEval says 0 (or -100 x FP for MOTA); no figure
                figure = np.nan if clear["CLR_TP"] + clear["CLR_FN"] == 0 else 1.0
                scores.setdefault(tracker, {}).setdefault(class_name, {})[
                    COMBINED if sequence == "COMBINED_SEQ" else sequence
                ] = Scores(
                    hota=100 * figure * float(np.mean(values["HOTA"]["HOTA"])),
                    mota=100 * figure * float(clear["MOTA"]),
                    idf1=100 * figure * float(values["Identity"]["IDF1"]),
                    id_switches=int(clear["IDSW"]),
                    false_positives=int(clear["CLR_FP"]),
                    misses=int(clear["CLR_FN"]),
                )
    return scores


def _write_renumbered(rows: np.ndarray, from_frame: int, path: Path) -> None:
    """Keep frames >= from_frame, renumbered from 1 (TrackEval needs frames 1..length)."""
    kept = rows[rows[:, 0] >= from_frame].copy()
    kept[:, 0] -= from_frame - 1
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, kept, delimiter=",", fmt="%.6g")


def evaluate_mot(
    sequence_dirs: list[Path], results: dict[str, Path], from_frame: int | str = 1
) -> dict[str, dict[str, Scores]]:
    """Score result folders (<name>.txt per sequence) against MOTChallenge sequence folders (gt/gt.txt,
    seqinfo.ini). from_frame: first frame kept, or "half" for frames > seqLength / 2 (val-half).
    Returns tracker name -> sequence name (and COMBINED) -> Scores."""
    import trackeval

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        lengths = {}
        for sequence_dir in sequence_dirs:
            info = read_seqinfo(sequence_dir / "seqinfo.ini")
            first = info.length // 2 + 1 if from_frame == "half" else int(from_frame)
            lengths[info.name] = info.length - first + 1
            _write_renumbered(read_rows(sequence_dir / "gt" / "gt.txt"), first, root / "gt" / info.name / "gt" / "gt.txt")
            for tracker, folder in results.items():
                rows = read_rows(folder / f"{info.name}.txt")
                _write_renumbered(rows, first, root / "trackers" / tracker / "data" / f"{info.name}.txt")
        dataset = trackeval.datasets.MotChallenge2DBox(
            {
                "GT_FOLDER": str(root / "gt"),
                "TRACKERS_FOLDER": str(root / "trackers"),
                "TRACKERS_TO_EVAL": list(results),
                "BENCHMARK": "MOT17",
                "SEQ_INFO": lengths,
                "SKIP_SPLIT_FOL": True,
                "PRINT_CONFIG": False,
            }
        )
        return {tracker: classes["pedestrian"] for tracker, classes in _trackeval_scores(dataset).items()}


def _last_frame(path: Path) -> int:
    lines = [line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip()]
    return max((int(fields[0]) for fields in lines), default=-1)


def evaluate_kitti(labels: list[Path], results: dict[str, Path]) -> dict[str, dict[str, dict[str, Scores]]]:
    """Score result folders (<sequence>.txt, KITTI tracking layout) against label_02/<sequence>.txt files.
    Returns tracker name -> class (car, pedestrian) -> sequence (and COMBINED) -> Scores."""
    import trackeval

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        (root / "gt" / "label_02").mkdir(parents=True)
        seqmap = []
        for label in labels:
            sequence = label.stem
            (root / "gt" / "label_02" / label.name).write_text(label.read_text())
            outputs = [folder / f"{sequence}.txt" for folder in results.values()]
            length = max(_last_frame(path) for path in [label, *outputs]) + 1
            seqmap.append(f"{sequence} empty 000000 {length:06d}\n")
            for tracker, output in zip(results, outputs):
                destination = root / "trackers" / tracker / "data" / output.name
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_text(output.read_text())
        (root / "gt" / "evaluate_tracking.seqmap.training").write_text("".join(seqmap))
        dataset = trackeval.datasets.Kitti2DBox(
            {
                "GT_FOLDER": str(root / "gt"),
                "TRACKERS_FOLDER": str(root / "trackers"),
                "TRACKERS_TO_EVAL": list(results),
                "PRINT_CONFIG": False,
            }
        )
        return _trackeval_scores(dataset)
