"""GTSDB files: the `file;x1;y1;x2;y2;class_id[;score]` ground-truth and detection files, scene names and ranges."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.signs.gtsdb import NUM_CLASSES

GTSDB_STOP = 14  # class id of the stop sign (COCO's "stop sign")


@dataclass
class SceneSigns:
    """Signs of one scene: xyxy boxes (pixels, inclusive GTSDB corners), class ids, scores (1 for ground truth)."""

    boxes: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray


def read_sign_file(path: str | Path) -> dict[str, SceneSigns]:
    """Parse `file;x1;y1;x2;y2;class_id[;score]` lines into signs per file name."""
    rows: dict[str, list[list[float]]] = defaultdict(list)
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.strip().split(";")
        if len(fields) not in (6, 7):
            raise ValueError(f"{path}:{number}: expected file;x1;y1;x2;y2;class_id[;score], got {line!r}")
        values = [float(value) for value in fields[1:]]
        if not 0 <= values[4] < NUM_CLASSES:
            raise ValueError(f"{path}:{number}: class id {values[4]:g} is not one of the 43 GTSDB classes")
        rows[fields[0]].append(values + [1.0] * (7 - len(fields)))
    return {
        name: SceneSigns(
            np.array([v[:4] for v in values], np.float32),
            np.array([v[4] for v in values], np.int64),
            np.array([v[5] for v in values], np.float32),
        )
        for name, values in rows.items()
    }


def write_sign_file(path: str | Path, signs: dict[str, SceneSigns]) -> None:
    """Write `file;x1;y1;x2;y2;class_id;score` lines (GTSDB's ground-truth layout plus a score)."""
    lines = [
        f"{name};{x1:.0f};{y1:.0f};{x2:.0f};{y2:.0f};{class_id};{score:.4f}"
        for name, scene in sorted(signs.items())
        for (x1, y1, x2, y2), class_id, score in zip(scene.boxes, scene.class_ids, scene.scores)
    ]
    Path(path).write_text("".join(line + "\n" for line in lines))


def parse_scene_range(text: str) -> range:
    """'480-599' -> range(480, 600); '7' -> range(7, 8)."""
    first, _, last = text.partition("-")
    start, stop = int(first), int(last or first)
    if stop < start:
        raise ValueError(f"scene range {text!r} ends before it starts")
    return range(start, stop + 1)


def scene_file(number: int) -> str:
    return f"{number:05d}.jpg"


def gtsdb_stop_signs(ground_truth: Path) -> dict[str, np.ndarray]:
    """Stop-sign boxes (x1, y1, x2, y2) by scene name (file stem) from a GTSDB `file;x1;y1;x2;y2;class` file."""
    boxes: dict[str, list[list[float]]] = {}
    for line in ground_truth.read_text().splitlines():
        fields = line.strip().split(";")
        if len(fields) == 6 and int(fields[5]) == GTSDB_STOP:
            boxes.setdefault(Path(fields[0]).stem, []).append([float(value) for value in fields[1:5]])
    return {name: np.array(value, np.float32) for name, value in boxes.items()}


def stop_sign_scenes(shared_data: Path) -> set[str]:
    """Names of the GTSDB scenes used for evaluation (calibration must not use them)."""
    train = gtsdb_stop_signs(shared_data / "signs" / "gtsdb" / "train" / "gt.txt")
    return set(train) | {path.stem for path in (shared_data / "images" / "gtsdb").glob("*.jpg")}
