"""GTSDB/GTSRB facts: the 43 class names, their four categories, and the `file;x1;y1;x2;y2;class_id` files."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Class id -> (name, category), as in GTSDB's ReadMe.txt.
SIGN_CLASSES: tuple[tuple[str, str], ...] = (
    ("speed limit 20", "prohibitory"), ("speed limit 30", "prohibitory"), ("speed limit 50", "prohibitory"),
    ("speed limit 60", "prohibitory"), ("speed limit 70", "prohibitory"), ("speed limit 80", "prohibitory"),
    ("restriction ends 80", "other"), ("speed limit 100", "prohibitory"), ("speed limit 120", "prohibitory"),
    ("no overtaking", "prohibitory"), ("no overtaking (trucks)", "prohibitory"),
    ("priority at next intersection", "danger"), ("priority road", "other"), ("give way", "other"),
    ("stop", "other"), ("no traffic both ways", "prohibitory"), ("no trucks", "prohibitory"),
    ("no entry", "other"), ("danger", "danger"), ("bend left", "danger"), ("bend right", "danger"),
    ("bend", "danger"), ("uneven road", "danger"), ("slippery road", "danger"), ("road narrows", "danger"),
    ("construction", "danger"), ("traffic signal", "danger"), ("pedestrian crossing", "danger"),
    ("school crossing", "danger"), ("cycles crossing", "danger"), ("snow", "danger"), ("animals", "danger"),
    ("restriction ends", "other"), ("go right", "mandatory"), ("go left", "mandatory"),
    ("go straight", "mandatory"), ("go right or straight", "mandatory"), ("go left or straight", "mandatory"),
    ("keep right", "mandatory"), ("keep left", "mandatory"), ("roundabout", "mandatory"),
    ("restriction ends (overtaking)", "other"), ("restriction ends (overtaking (trucks))", "other"),
)
NUM_CLASSES = len(SIGN_CLASSES)
CATEGORIES = ("prohibitory", "danger", "mandatory", "other")
# GTSDB frames are 1360 px wide and their signs 16-128 px: the sign detector sees them at native resolution.
DEFAULT_IMGSZ = 1376


def sign_name(class_id: int) -> str:
    """The class's name; "" for -1 (no sign class)."""
    if class_id == -1:
        return ""
    if not 0 <= class_id < len(SIGN_CLASSES):
        raise ValueError(f"sign class id {class_id} is not a GTSDB class (0-{len(SIGN_CLASSES) - 1})")
    return SIGN_CLASSES[class_id][0]


def sign_category(class_id: int) -> str:
    return SIGN_CLASSES[class_id][1]


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
