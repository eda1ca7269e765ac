"""Fine-tune the bundled COCO YOLOv8n into a one-class sign detector on native-resolution GTSDB tiles."""
from __future__ import annotations

import shutil
from pathlib import Path

from perception.detection.ultralytics_env import configure_ultralytics_offline

SIGN_DETECTOR_CLASSES = {0: "traffic sign"}


def write_dataset_yaml(root: Path) -> Path:
    path = root / "signs.yaml"
    path.write_text(f"path: {root}\ntrain: train/images\nval: val/images\nnames:\n  0: traffic sign\n")
    return path


def train_detector(
    start_weights: Path, dataset_yaml: Path, work_dir: Path, epochs: int, imgsz: int, seed: int, freeze: int = 0,
    batch: int = 16,
) -> Path:
    """Train with Ultralytics on the CPU; returns the last checkpoint (no model selection on validation data).

    Mirrors are allowed (the detector has one class); augmentation stays at Ultralytics' defaults (mosaic for all but
    the last 10 epochs); one warm-up epoch. `freeze` keeps the first layers at their COCO weights (10 = the backbone).
    """
    configure_ultralytics_offline()
    from ultralytics import YOLO

    YOLO(str(start_weights)).train(
        data=str(dataset_yaml), epochs=epochs, imgsz=imgsz, batch=batch, device="cpu", workers=0, seed=seed,
        deterministic=True, project=str(work_dir), name="detector", exist_ok=True, val=False, plots=False,
        amp=False, cache=False, verbose=True, warmup_epochs=1, freeze=freeze or None,
    )
    return work_dir / "detector" / "weights" / "last.pt"


def install_detector(checkpoint: Path, output_pt: Path) -> Path:
    """Copy the checkpoint to `output_pt` and export `<stem>_dynamic.onnx` beside it (any input size)."""
    from perception.detection.convert import export_onnx

    output_pt.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, output_pt)
    return export_onnx(output_pt, 640, output_pt.with_name(f"{output_pt.stem}_dynamic.onnx"), dynamic=True)
