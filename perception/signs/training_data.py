"""Training data: native-resolution GTSDB tiles for the detector (YOLO layout), sign crops for the classifier."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from perception.datasets.gtsdb import SceneSigns, scene_file

CROP_MARGIN = 0.15  # GTSRB crops hold the sign plus ~15 % of its size on each side; GTSDB crops are cut the same way
CROP_SIZE = 32  # classifier input side, pixels
MIN_VISIBLE = 0.6  # a sign cut by a tile edge is labelled when at least this share of its box is inside


def read_scene(gtsdb_dir: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(gtsdb_dir / name), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read GTSDB scene {gtsdb_dir / name}")
    return image


def tile_labels(signs: SceneSigns, x0: int, y0: int, tile: int) -> list[str]:
    """YOLO label lines (class 0 'sign', normalised cx cy w h) of the signs mostly inside the tile at (x0, y0)."""
    lines = []
    for x1, y1, x2, y2 in signs.boxes:
        x2, y2 = x2 + 1, y2 + 1  # GTSDB corners are inclusive
        cx1, cy1, cx2, cy2 = max(x1, x0), max(y1, y0), min(x2, x0 + tile), min(y2, y0 + tile)
        if cx2 <= cx1 or cy2 <= cy1 or (cx2 - cx1) * (cy2 - cy1) < MIN_VISIBLE * (x2 - x1) * (y2 - y1):
            continue
        cx, cy = ((cx1 + cx2) / 2 - x0) / tile, ((cy1 + cy2) / 2 - y0) / tile
        lines.append(f"0 {cx:.6f} {cy:.6f} {(cx2 - cx1) / tile:.6f} {(cy2 - cy1) / tile:.6f}")
    return lines


def tile_origins(signs: SceneSigns | None, hw: tuple[int, int], tile: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """One tile around each sign (the sign at a random place inside it) plus one random tile of the scene."""
    height, width = hw
    origins = []
    for x1, y1, x2, y2 in ([] if signs is None else signs.boxes):
        x0 = int(rng.integers(max(0, int(x2) + 1 - tile), min(int(x1), width - tile) + 1))
        y0 = int(rng.integers(max(0, int(y2) + 1 - tile), min(int(y1), height - tile) + 1))
        origins.append((x0, y0))
    origins.append((int(rng.integers(0, width - tile + 1)), int(rng.integers(0, height - tile + 1))))
    return origins


def write_detector_tiles(
    gtsdb_dir: Path, truth: dict[str, SceneSigns], scenes: range, out_dir: Path, tile: int, seed: int
) -> int:
    """Write `images/*.jpg` + `labels/*.txt` tiles of `scenes` at native resolution; returns the tile count."""
    rng = np.random.default_rng(seed)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    count = 0
    for number in scenes:
        name = scene_file(number)
        image = read_scene(gtsdb_dir, name)
        signs = truth.get(name)
        for index, (x0, y0) in enumerate(tile_origins(signs, image.shape[:2], tile, rng)):
            stem = f"{number:05d}_{index}"
            cv2.imwrite(str(out_dir / "images" / f"{stem}.jpg"), image[y0 : y0 + tile, x0 : x0 + tile])
            lines = [] if signs is None else tile_labels(signs, x0, y0, tile)
            (out_dir / "labels" / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
            count += 1
    return count


def crop_sign(image: np.ndarray, box: np.ndarray, margin: float = CROP_MARGIN, size: int = CROP_SIZE) -> np.ndarray:
    """The box plus `margin` of its size on each side (edge pixels repeated outside the image), as size x size BGR."""
    x1, y1, x2, y2 = (float(value) for value in box[:4])
    pad_x, pad_y = (x2 - x1 + 1) * margin, (y2 - y1 + 1) * margin
    src = np.float32([[x1 - pad_x, y1 - pad_y], [x2 + 1 + pad_x, y1 - pad_y], [x1 - pad_x, y2 + 1 + pad_y]])
    dst = np.float32([[0, 0], [size, 0], [0, size]])
    return cv2.warpAffine(
        image, cv2.getAffineTransform(src, dst), (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )


def gtsrb_rows(gtsrb_dir: Path) -> list[dict[str, str]]:
    with open(gtsrb_dir / "labels.csv", newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def split_tracks(rows: list[dict[str, str]], held_out_share: float, seed: int) -> set[str]:
    """The held-out GTSRB tracks: `held_out_share` of each class's tracks (at least one), drawn with `seed`."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[str]] = {}
    for row in rows:
        tracks = by_class.setdefault(row["class_id"], [])
        if row["track"] not in tracks:
            tracks.append(row["track"])
    held_out: set[str] = set()
    for class_id in sorted(by_class, key=int):
        tracks = sorted(by_class[class_id])
        count = max(1, round(len(tracks) * held_out_share))
        held_out.update(rng.choice(tracks, size=count, replace=False).tolist())
    return held_out


def gtsrb_crops(gtsrb_dir: Path, rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """CROP_SIZE crops of the GTSRB signs (their ROI plus CROP_MARGIN) and their class ids."""
    images, labels = [], []
    for row in rows:
        image = cv2.imread(str(gtsrb_dir / "images" / row["file"]), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read GTSRB crop {gtsrb_dir / 'images' / row['file']}")
        box = np.array([float(row[key]) for key in ("roi_x1", "roi_y1", "roi_x2", "roi_y2")])
        images.append(crop_sign(image, box))
        labels.append(int(row["class_id"]))
    return np.stack(images), np.array(labels, np.int64)


def gtsdb_crops(gtsdb_dir: Path, truth: dict[str, SceneSigns], scenes: range) -> tuple[np.ndarray, np.ndarray]:
    """CROP_SIZE crops of the ground-truth signs of `scenes`, and their class ids."""
    images, labels = [], []
    for number in scenes:
        signs = truth.get(scene_file(number))
        if signs is None:
            continue
        image = read_scene(gtsdb_dir, scene_file(number))
        for box, class_id in zip(signs.boxes, signs.class_ids):
            images.append(crop_sign(image, box))
            labels.append(int(class_id))
    return np.stack(images), np.array(labels, np.int64)
