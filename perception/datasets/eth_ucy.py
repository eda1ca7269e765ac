"""ETH/UCY pedestrian trajectories in the Social-GAN leave-one-out layout.

`<root>/<scene>/{train,val,test}/*.txt`, tab-separated `frame ped_id x y` in metres,
annotated at 2.5 Hz (frame numbers advance by 10).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SCENES = ("eth", "hotel", "univ", "zara1", "zara2")
SPLITS = ("train", "val", "test")
FRAME_STEP = 10
TIME_STEP_S = 0.4


def split_files(root: str | Path, scene: str, split: str) -> list[Path]:
    """Sorted trajectory files of one scene's split; raises if there are none."""
    if scene not in SCENES or split not in SPLITS:
        raise ValueError(f"unknown scene/split {scene}/{split}")
    files = sorted((Path(root) / scene / split).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no trajectory files in {Path(root) / scene / split}")
    return files


def read_trajectories(path: str | Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per pedestrian id: frames (N,) int sorted ascending and positions (N, 2) metres."""
    table = np.loadtxt(path, ndmin=2)
    if table.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 columns (frame ped_id x y), got {table.shape[1]}")
    trajectories = {}
    for ped_id in np.unique(table[:, 1]):
        rows = table[table[:, 1] == ped_id]
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
        trajectories[int(ped_id)] = (rows[:, 0].astype(np.int64), rows[:, 2:4].copy())
    return trajectories
