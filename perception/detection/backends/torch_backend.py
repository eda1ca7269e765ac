"""PyTorch backend: an Ultralytics .pt checkpoint on the CPU, or on CUDA in fp16."""
from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path

import numpy as np

from perception.detection.backends.cuda import cuda_available, require_cuda
from perception.detection.errors import BackendUnavailableError, ModelFileError
from perception.detection.ultralytics_env import configure_ultralytics_offline

LOGGER = logging.getLogger(__name__)


class TorchBackend:
    name = "torch"
    bgr_input = False

    input_hw = None  # eager PyTorch takes any stride-aligned shape

    def __init__(self, model_path: Path, device: str | None = None, half: bool | None = None) -> None:
        configure_ultralytics_offline()
        try:
            import torch
            from ultralytics import YOLO
        except ImportError as error:
            raise BackendUnavailableError(
                f"the torch backend needs torch and ultralytics ({error}): pip install -r requirements.txt"
            ) from error
        device = device or ("cuda" if cuda_available() else "cpu")
        if device != "cpu":
            device = require_cuda(self.name, device)
        try:
            model = YOLO(str(model_path), task="detect").model
        except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, TypeError) as error:
            raise ModelFileError(f"{model_path} is not a loadable Ultralytics checkpoint: {error}") from error
        self.half = device != "cpu" if half is None else half
        model = model.fuse(verbose=False).eval().to(device)
        self.model = model.half() if self.half else model
        self.device = torch.device(device)
        self.class_names = {int(index): name for index, name in model.names.items()}
        self._torch = torch
        LOGGER.info("torch: %s on %s (%s)", model_path, device, "fp16" if self.half else "fp32")

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = torch.from_numpy(tensor).to(self.device, non_blocking=True)
            output = self.model(batch.half() if self.half else batch)
        if isinstance(output, (tuple, list)):  # eval-mode Detect returns (decoded, raw feature maps)
            output = output[0]
        return output.float().cpu().numpy()
