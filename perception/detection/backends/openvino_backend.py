"""OpenVINO backend (CPU): an Ultralytics ONNX, float or the symmetric INT8 Q/DQ copy of `perception quantize` (read in
the encoding OpenVINO computes right: openvino_qdq.py)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from perception.detection.backends.onnxruntime_backend import default_thread_count
from perception.detection.backends.openvino_qdq import encode_for_openvino
from perception.detection.errors import BackendUnavailableError, ModelFileError
from perception.detection.model_files import read_onnx_info

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
        info = read_onnx_info(model_path)
        self.class_names, self.input_hw = info.names, info.input_hw
        core = openvino.Core()
        try:
            model = core.read_model(openvino_input(model_path))
        except Exception as error:  # openvino raises its own RuntimeError subclasses
            raise ModelFileError(f"openvino cannot load {model_path}: {error}") from error
        # No thread pinning: the detector shares the cores with the other nodes.
        config = {"INFERENCE_NUM_THREADS": threads or default_thread_count(), "PERFORMANCE_HINT": "LATENCY",
                  "ENABLE_CPU_PINNING": False}
        self.request = core.compile_model(model, "CPU", config).create_infer_request()
        LOGGER.info("openvino %s: %s, %d threads", openvino.__version__, model_path, config["INFERENCE_NUM_THREADS"])

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.request.infer({0: tensor})[0]


def openvino_input(model_path: Path) -> str | bytes:
    """What core.read_model reads: the ONNX's path, or for a Q/DQ ONNX the bytes of its OpenVINO encoding."""
    import onnx

    model = onnx.load(str(model_path))  # readable: read_onnx_info has loaded it
    return model.SerializeToString() if encode_for_openvino(model) else str(model_path)
