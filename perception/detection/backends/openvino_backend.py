"""OpenVINO backend (CPU): an OpenVINO IR with our class names (the INT8 one of `perception quantize --tool openvino`)
or an Ultralytics ONNX."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from perception.detection.backends.onnxruntime_backend import default_thread_count
from perception.detection.errors import BackendUnavailableError, ModelFileError
from perception.detection.model_files import OPENVINO_NAMES_KEY, parse_class_names, read_onnx_info

LOGGER = logging.getLogger(__name__)


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, model_path: Path, device: str | None = None, threads: int | None = None) -> None:
        try:
            import openvino
        except ImportError as error:
            raise BackendUnavailableError("openvino is not installed: pip install openvino") from error
        if (device or "cpu") != "cpu":
            raise BackendUnavailableError(f"the openvino backend runs on the CPU here, not {device!r}")
        core = openvino.Core()
        try:
            model = core.read_model(str(model_path))
        except Exception as error:  # openvino raises its own RuntimeError subclasses
            raise ModelFileError(f"openvino cannot load {model_path}: {error}") from error
        if model_path.suffix == ".onnx":
            info = read_onnx_info(model_path)
            self.class_names, self.input_hw = info.names, info.input_hw
        else:
            if not model.has_rt_info(OPENVINO_NAMES_KEY):
                raise ModelFileError(f"{model_path} has no class names in its rt_info: make it with "
                                     "perception quantize")
            self.class_names = parse_class_names(model.get_rt_info(OPENVINO_NAMES_KEY).astype(str), model_path)
            shape = model.input(0).get_partial_shape()
            self.input_hw = None if shape.is_dynamic else (shape[2].get_length(), shape[3].get_length())
        # No thread pinning: the detector shares the cores with the other nodes.
        config = {"INFERENCE_NUM_THREADS": threads or default_thread_count(), "PERFORMANCE_HINT": "LATENCY",
                  "ENABLE_CPU_PINNING": False}
        self.request = core.compile_model(model, "CPU", config).create_infer_request()
        LOGGER.info("openvino %s: %s, %d threads", openvino.__version__, model_path, config["INFERENCE_NUM_THREADS"])

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.request.infer({0: tensor})[0]
