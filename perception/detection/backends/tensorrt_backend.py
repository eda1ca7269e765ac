"""TensorRT backend: builds (and caches) an engine from ONNX, or loads an engine; runs on torch CUDA buffers."""
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
    files_sha256,
    load_or_build,
)
from perception.detection.errors import BackendUnavailableError, ModelFileError
from perception.detection.model_files import read_onnx_info

LOGGER = logging.getLogger(__name__)
INSTALL_HINT = "pip install tensorrt (a build matching your CUDA), or on Jetson use JetPack's python3-libnvinfer"


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as error:
        raise BackendUnavailableError(f"the tensorrt backend needs the tensorrt Python module: {INSTALL_HINT}") from error
    return tensorrt


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

    def __init__(
        self,
        model_path: Path,
        imgsz: int = 640,
        device: str | None = None,
        precision: str = "fp16",
        workspace_gb: float = 4.0,
        calibration_dir: Path | None = None,
        cache_dir: Path | None = None,
        report: Callable[[str], None] = LOGGER.info,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "int8" and calibration_dir is None:
            raise ValueError("INT8 needs a folder of calibration images (calibration_dir)")
        self.trt = trt = import_tensorrt()
        import torch

        self.device = torch.device(require_cuda(self.name, device or "cuda"))
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        if model_path.suffix == ".onnx":
            engine = self._engine_from_onnx(
                model_path, imgsz, precision, workspace_gb, calibration_dir, cache_dir, report
            )
        else:
            engine = self._engine_from_file(model_path)
        self.engine = engine
        self.context = engine.create_execution_context()
        self._allocate_buffers(torch)
        report(f"TensorRT engine ready ({precision}, input {self.input_hw})")

    def _engine_from_onnx(self, onnx_path, imgsz, precision, workspace_gb, calibration_dir, cache_dir, report):
        import torch

        from perception.detection.backends.tensorrt_build import (
            build_serialized_engine,
            calibration_images,
            make_calibrator,
        )

        info = read_onnx_info(onnx_path)
        self.class_names = info.names
        input_hw = info.input_hw or (imgsz, imgsz)
        images = calibration_images(calibration_dir) if precision == "int8" else []
        key = EngineKey(
            onnx_sha256=file_sha256(onnx_path),
            tensorrt_version=self.trt.__version__,
            gpu_name=torch.cuda.get_device_name(self.device),
            precision=precision,
            input_shape=(1, 3, *input_hw),
            calibration_sha256=files_sha256(images) if images else "",
        )
        cache = CachedEngine.for_model(Path(cache_dir or DEFAULT_CACHE_DIR), onnx_path, key)
        self.engine_path = cache.engine_path
        calibrator = None
        if images:
            calibration_cache = cache.engine_path.with_suffix(".calibration")
            calibrator = make_calibrator(self.trt, images, input_hw, str(self.device), calibration_cache)

        def build() -> bytes:
            workspace = int(workspace_gb * (1 << 30))
            return build_serialized_engine(
                self.trt, onnx_path, key.input_shape, precision, workspace, report, calibrator
            )

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

    def _allocate_buffers(self, torch) -> None:
        """One torch CUDA tensor per engine input/output; TensorRT reads and writes them in place."""
        trt, engine = self.trt, self.engine
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        inputs = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
        if len(inputs) != 1 or len(names) != 2:
            raise ModelFileError(f"expected an engine with one input and one output, got {names}")
        self.input_name, self.output_name = inputs[0], next(name for name in names if name != inputs[0])
        shape = tuple(engine.get_tensor_shape(self.input_name))
        if -1 in shape:  # built from a dynamic ONNX: its profile is pinned to one shape
            shape = tuple(engine.get_tensor_profile_shape(self.input_name, 0)[-1])
        self.context.set_input_shape(self.input_name, shape)
        self.buffers: dict[str, torch.Tensor] = {}
        for name in names:
            dtype = torch.from_numpy(np.empty(0, trt.nptype(engine.get_tensor_dtype(name)))).dtype
            self.buffers[name] = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype, device=self.device)
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self.input_hw = tuple(shape[2:])
        self.stream = torch.cuda.Stream(self.device)
        self._torch = torch

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.cuda.stream(self.stream):
            self.buffers[self.input_name].copy_(torch.from_numpy(tensor), non_blocking=True)
            self.context.execute_async_v3(self.stream.cuda_stream)
            output = self.buffers[self.output_name].float().cpu()  # waits for the stream
        return output.numpy()
