"""TensorRT backend: builds (and caches) an engine from ONNX, or loads an engine; runs on torch CUDA buffers.

Works with TensorRT 10.3+ and 11.x (the differences live in tensorrt_api). Engines are strongly typed: fp16 is
built from an fp16 copy of the float ONNX, int8 from a Q/DQ ONNX. A dynamic-shape ONNX gets one optimization
profile from 32x32 to imgsz x imgsz, tuned for the letterbox of 16:9 frames (384x640 at imgsz 640), so every
frame is letterboxed as on the CPU path (no square padding); a static ONNX gives an engine of its own shape.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from perception.detection.backends.cuda import require_cuda
from perception.detection.backends.engine_cache import (
    DEFAULT_CACHE_DIR,
    PRECISIONS,
    CachedEngine,
    EngineKey,
    file_sha256,
    load_or_build,
)
from perception.detection.backends.tensorrt_api import check_supported
from perception.detection.errors import BackendUnavailableError, ModelFileError
from perception.detection.model_files import read_onnx_info
from perception.detection.preprocess import STRIDE, stride_aligned_hw

LOGGER = logging.getLogger(__name__)
INSTALL_HINT = "pip install tensorrt (a build matching your CUDA), or on Jetson use JetPack's python3-libnvinfer"
TYPICAL_FRAME_HW = (720, 1280)  # 16:9 camera frames: the engine's optimization profile is tuned for their letterbox


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as error:
        raise BackendUnavailableError(f"the tensorrt backend needs the tensorrt Python module: {INSTALL_HINT}") from error
    check_supported(tensorrt)
    return tensorrt


def input_profile(static_hw: tuple[int, int] | None, imgsz: int, frame_hw: tuple[int, int]) -> tuple:
    """(min, opt, max) engine input shapes: the static shape, or 32x32 .. imgsz x imgsz tuned for frame_hw."""
    if static_hw is not None:
        return ((1, 3, *static_hw),) * 3
    return (1, 3, STRIDE, STRIDE), (1, 3, *stride_aligned_hw(frame_hw, imgsz)), (1, 3, imgsz, imgsz)


def split_ultralytics_engine(content: bytes) -> tuple[dict, bytes]:
    """Ultralytics prefixes its engines with a little-endian length and JSON metadata; ({}, content) otherwise."""
    length = int.from_bytes(content[:4], "little")
    try:
        metadata = json.loads(content[4 : 4 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}, content
    return (metadata, content[4 + length :]) if isinstance(metadata, dict) else ({}, content)


class TensorRTBackend:
    name = "tensorrt"
    bgr_input = False

    def __init__(
        self,
        model_path: Path,
        imgsz: int = 640,
        device: str | None = None,
        precision: str = "fp16",
        workspace_gb: float = 4.0,
        cache_dir: Path | None = None,
        frame_hw: tuple[int, int] = TYPICAL_FRAME_HW,
        report: Callable[[str], None] = LOGGER.info,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.trt = trt = import_tensorrt()
        import torch

        self._torch = torch
        self.device = torch.device(require_cuda(self.name, device or "cuda"))
        # TensorRT builds, deserializes and runs on the current CUDA device (per thread): make it ours.
        with torch.cuda.device(self.device):
            self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            if model_path.suffix == ".onnx":
                self.engine = self._engine_from_onnx(model_path, imgsz, precision, workspace_gb, cache_dir,
                                                     frame_hw, report)
            else:
                self.engine = self._engine_from_file(model_path)
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self.device)
        self.input_name, self.output_name = self._io_tensor_names()
        shape = tuple(self.engine.get_tensor_shape(self.input_name))
        self.input_hw = None if -1 in shape else shape[2:]  # None: any letterbox within the profile
        self.buffers: dict[str, torch.Tensor] = {}
        self._bound_shape: tuple[int, ...] | None = None
        built_as = precision if model_path.suffix == ".onnx" else f"prebuilt {model_path.name}"
        report(f"TensorRT {trt.__version__} engine ready on {self.device} "
               f"({built_as}, input {self.input_hw or 'letterbox of each frame'})")

    def _engine_from_onnx(self, onnx_path, imgsz, precision, workspace_gb, cache_dir, frame_hw, report):
        from perception.detection.backends.tensorrt_build import build_serialized_engine, network_onnx

        info = read_onnx_info(onnx_path)
        self.class_names = info.names
        key = EngineKey(
            onnx_sha256=file_sha256(onnx_path),
            tensorrt_version=self.trt.__version__,
            gpu_name=self._torch.cuda.get_device_name(self.device),
            precision=precision,
            input_profile=input_profile(info.input_hw, imgsz, frame_hw),
        )
        cache = CachedEngine.for_model(Path(cache_dir or DEFAULT_CACHE_DIR), onnx_path, key)
        self.engine_path = cache.engine_path

        def build() -> bytes:
            network = network_onnx(onnx_path, precision)
            workspace = int(workspace_gb * (1 << 30))
            return build_serialized_engine(self.trt, network, onnx_path, key.input_profile, workspace, report)

        return load_or_build(cache, key, info.names, build, self.runtime.deserialize_cuda_engine, report)

    def _engine_from_file(self, engine_path: Path):
        self.engine_path = engine_path
        metadata, serialized = split_ultralytics_engine(engine_path.read_bytes())
        sidecar = engine_path.with_suffix(".json")
        if "names" in metadata:
            self.class_names = {int(index): name for index, name in metadata["names"].items()}
        elif sidecar.is_file():
            self.class_names = CachedEngine(engine_path, sidecar).class_names()
        else:
            raise ModelFileError(f"{engine_path} carries no class names (no Ultralytics metadata, no {sidecar.name})")
        engine = self.runtime.deserialize_cuda_engine(serialized)
        if engine is None:
            raise ModelFileError(
                f"TensorRT {self.trt.__version__} cannot deserialize {engine_path} (built by another TensorRT "
                "version or GPU, or corrupt): rebuild it from ONNX with `perception build-engine`"
            )
        return engine

    def _io_tensor_names(self) -> tuple[str, str]:
        engine, input_mode = self.engine, self.trt.TensorIOMode.INPUT
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        inputs = [name for name in names if engine.get_tensor_mode(name) == input_mode]
        if len(inputs) != 1 or len(names) != 2:
            raise ModelFileError(f"expected an engine with one input and one output, got {names}")
        return inputs[0], next(name for name in names if name != inputs[0])

    def _bind(self, shape: tuple[int, ...]) -> None:
        """Set the input shape and give TensorRT buffers of the matching sizes (again only when the shape changes)."""
        if shape == self._bound_shape:
            return
        if not self.context.set_input_shape(self.input_name, shape):
            profile = self.engine.get_tensor_profile_shape(self.input_name, 0)
            raise ValueError(f"the TensorRT engine takes inputs from {tuple(profile[0])} to {tuple(profile[2])}, "
                             f"not {shape}")
        torch, engine = self._torch, self.engine
        for name in (self.input_name, self.output_name):
            dtype = torch.from_numpy(np.empty(0, self.trt.nptype(engine.get_tensor_dtype(name)))).dtype
            self.buffers[name] = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype, device=self.device)
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self._bound_shape = shape

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            self._bind(tensor.shape)
            self.buffers[self.input_name].copy_(torch.from_numpy(tensor), non_blocking=True)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError(f"TensorRT could not enqueue the engine for a {tensor.shape} input (see its log)")
            output = self.buffers[self.output_name].float().cpu()  # waits for the stream
        return output.numpy()
