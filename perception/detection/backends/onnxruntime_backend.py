"""ONNX Runtime backend (the default on CPU)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from perception.detection.errors import BackendUnavailableError, ModelFileError
from perception.detection.model_files import read_onnx_info

LOGGER = logging.getLogger(__name__)


def default_thread_count() -> int:
    """One intra-op thread per CPU this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OnnxRuntimeBackend:
    name = "onnxruntime"
    bgr_input = False

    def __init__(self, model_path: Path, device: str | None = None, threads: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise BackendUnavailableError("onnxruntime is not installed: pip install onnxruntime") from error
        info = read_onnx_info(model_path)
        self.class_names, self.input_hw = info.names, info.input_hw
        providers = self._providers(onnxruntime, device or "cpu")
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or default_thread_count()
        # Idle worker threads sleep instead of spinning: the detector shares the CPU with the other nodes,
        # and spinning threads cost them (and, measured on a loaded 2-core machine, ourselves) more than it saves.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(model_path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own pybind exception types
            raise ModelFileError(f"onnxruntime cannot load {model_path}: {error}") from error
        self.input_name = self.session.get_inputs()[0].name
        LOGGER.info("onnxruntime: %s on %s, %d threads", model_path, providers[0], options.intra_op_num_threads)

    @staticmethod
    def _providers(onnxruntime, device: str) -> list[str]:
        if device == "cpu":
            return ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise BackendUnavailableError(
                f"onnxruntime has no CUDA execution provider for device {device!r}: "
                "pip install onnxruntime-gpu, or use device='cpu'"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: tensor})[0]
