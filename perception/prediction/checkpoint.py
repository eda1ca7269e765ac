"""Saving and loading predictor checkpoints (weights plus their PredictorConfig)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from perception import resources
from perception.prediction.model import PredictorConfig, TrajectoryRNN

# the runtime default: trained on KITTI tracking ground truth (vehicles, pedestrians, cyclists, 10 Hz)
DEFAULT_MODEL = "kitti.pt"


def bundled_model_path(name: str = DEFAULT_MODEL) -> Path:
    """A checkpoint shipped in models/predictor: the source tree's copy, else the installed one."""
    source_copy = Path(__file__).resolve().parents[2] / "models" / "predictor" / name
    if source_copy.is_file():
        return source_copy
    return resources.model_path(f"predictor/{name}")


def save_checkpoint(model: TrajectoryRNN, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": asdict(model.config), "state_dict": model.state_dict()}, path)


def load_checkpoint(path: str | Path) -> TrajectoryRNN:
    """The model in eval mode, rebuilt from the checkpoint alone."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = TrajectoryRNN(PredictorConfig(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
