"""MOTChallenge files: seqinfo.ini, detection / ground-truth / result text files."""
from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SequenceInfo:
    name: str
    frame_rate: float
    length: int  # number of frames, numbered 1..length
    image_width: int
    image_height: int


def read_seqinfo(path: str | Path) -> SequenceInfo:
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise FileNotFoundError(path)
    section = parser["Sequence"]
    return SequenceInfo(
        name=section["name"],
        frame_rate=float(section["frameRate"]),
        length=int(section["seqLength"]),
        image_width=int(section["imWidth"]),
        image_height=int(section["imHeight"]),
    )


def read_rows(path: str | Path) -> np.ndarray:
    """Comma-separated rows `frame, id, left, top, width, height, score/conf, ...` as an (N, columns) array."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    if rows.size and rows.shape[1] < 7:
        raise ValueError(f"{path}: expected at least 7 columns, got {rows.shape[1]}")
    return rows.reshape(-1, max(rows.shape[1], 7))


def write_results(path: str | Path, rows: np.ndarray) -> None:
    """Write (N, 7) `frame, id, left, top, width, height, score` rows as MOTChallenge results (x, y, z = -1)."""
    with open(path, "w") as file:
        for frame, track_id, left, top, width, height, score in rows:
            file.write(f"{int(frame)},{int(track_id)},{left:.2f},{top:.2f},{width:.2f},{height:.2f},{score:.4f},-1,-1,-1\n")
