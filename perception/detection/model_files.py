"""Locate model files for a backend and read what they say about themselves (class names, input size)."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from perception import resources
from perception.detection.errors import ModelFileError

DEFAULT_MODEL = "yolov8n_coco.pt"  # in the installed models folder, with its ONNX siblings
ENGINE_SUFFIXES = (".engine", ".plan")
# Suffixes each backend loads; ".onnx" for TensorRT means "build (or reuse a cached) engine from it".
BACKEND_SUFFIXES = {"onnxruntime": (".onnx",), "openvino": (".onnx",), "torch": (".pt",),
                    "tensorrt": (".onnx", *ENGINE_SUFFIXES)}
SIZED_ONNX_PATTERN = re.compile(r"^(?P<stem>.+)_(?:\d+|dynamic|int8)$")
INT8_ONNX_SUFFIX = "_int8.onnx"  # <stem>_int8.onnx: the statically quantized (Q/DQ) copy of <stem>_dynamic.onnx


@dataclass(frozen=True)
class OnnxModelInfo:
    names: dict[int, str]
    input_hw: tuple[int, int] | None  # None: dynamic height and width


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path} (convert one with `perception convert-model`)")
    return path


def parse_class_names(text: str, source: Path) -> dict[int, str]:
    """Class names as written by Ultralytics into model metadata: "{0: 'person', ...}"."""
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise ModelFileError(f"{source}: unreadable class names in metadata: {error}") from error
    return {int(index): str(name) for index, name in names.items()}


def default_model(model: str | Path | None) -> Path:
    return Path(model) if model is not None else resources.model_path(DEFAULT_MODEL)


def int8_file(checkpoint: Path) -> Path:
    """Where `perception quantize` puts the INT8 (Q/DQ) file every backend runs, for a .pt checkpoint."""
    return checkpoint.with_name(checkpoint.stem + INT8_ONNX_SUFFIX)


def int8_sibling(model: str | Path | None) -> Path | None:
    """The INT8 file beside a .pt model, if there is one."""
    path = default_model(model)
    return int8_file(path) if path.suffix == ".pt" and int8_file(path).is_file() else None


def model_for_backend(model: str | Path | None, backend: str, imgsz: int, int8: bool = False) -> Path:
    """The file `backend` should load: `model` itself, or its sibling following convert-model's naming.

    `<stem>.pt`, `<stem>_dynamic.onnx`, `<stem>_<imgsz>.onnx` and, with int8=True, `<stem>_int8.onnx` (the Q/DQ
    copy: perception/detection/quantize.py) stand for the same network, so one `model` argument serves every backend
    (this lets a detector fall back from TensorRT to PyTorch to ONNX Runtime). ONNX Runtime and TensorRT prefer the
    dynamic-shape ONNX (each frame's own letterbox, no compute spent on square padding; TensorRT gives it an
    optimization profile), else the static one.
    """
    path = default_model(model)
    wanted = BACKEND_SUFFIXES[backend]
    if path.suffix in wanted:
        return require_file(path)
    if path.suffix == ".pt" and ".onnx" in wanted and int8:
        return require_file(int8_file(path))
    if path.suffix == ".pt" and ".onnx" in wanted:
        dynamic = path.with_name(f"{path.stem}_dynamic.onnx")
        if dynamic.is_file():
            return dynamic
        return require_file(path.with_name(f"{path.stem}_{imgsz}.onnx"))
    sized = SIZED_ONNX_PATTERN.match(path.stem)
    if path.suffix == ".onnx" and ".pt" in wanted and sized:
        return require_file(path.with_name(f"{sized['stem']}.pt"))
    raise ModelFileError(f"the {backend} backend loads {'/'.join(wanted)} files, not {path}")


def read_onnx_info(path: Path) -> OnnxModelInfo:
    """Class names (Ultralytics metadata) and static input size of an ONNX detector."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError) as error:
        raise ModelFileError(f"{path} is not a readable ONNX model (corrupt or truncated?): {error}") from error
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    if "names" not in metadata:
        raise ModelFileError(f"{path} has no class names in its metadata: export it with Ultralytics")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelFileError(f"{path} takes a {len(dims)}-D input, not (batch, 3, height, width)")
    static = all(dim.HasField("dim_value") for dim in dims[2:])
    input_hw = (dims[2].dim_value, dims[3].dim_value) if static else None
    return OnnxModelInfo(parse_class_names(metadata["names"], path), input_hw)
