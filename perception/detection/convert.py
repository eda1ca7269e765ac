"""Convert a dynamically INT8-quantized YOLOv8 ONNX back into a float Ultralytics checkpoint.

Weights stored as `<name>_quantized`, `<name>_scale`, `<name>_zero_point` are dequantized as
(q - zero_point) * scale; float initializers (biases) are copied. The tensors load into a fused
`YOLO(<arch>.yaml)`, whose state_dict uses the same names as the exporter's initializers.
"""
from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import numpy as np

from perception.detection.ultralytics_env import configure_ultralytics_offline


def dequantized_tensors(onnx_path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Float tensors by state_dict name, and the ONNX metadata, of a dynamically quantized model."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    tensors: dict[str, np.ndarray] = {}
    for name, value in initializers.items():
        if name.endswith("_quantized"):
            base = name.removesuffix("_quantized")
            zero_point = initializers[f"{base}_zero_point"].astype(np.float32)
            scale = initializers[f"{base}_scale"].astype(np.float32)
            tensors[base] = (value.astype(np.float32) - zero_point) * scale
        elif value.dtype == np.float32 and not name.endswith("_scale"):
            tensors[name] = value
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    return tensors, metadata


def build_float_model(onnx_path: Path, architecture: str = "yolov8n.yaml"):
    """A fused Ultralytics YOLO holding the dequantized weights and the class names of `onnx_path`."""
    configure_ultralytics_offline()
    import torch
    from ultralytics import YOLO

    tensors, metadata = dequantized_tensors(onnx_path)
    names = ast.literal_eval(metadata["names"])
    yolo = YOLO(architecture)
    model = yolo.model
    if len(names) != model.model[-1].nc:
        raise ValueError(f"{onnx_path} has {len(names)} classes; {architecture} expects {model.model[-1].nc}")
    model.fuse(verbose=False)
    state = model.state_dict()
    for name, reference in state.items():
        if name not in tensors:
            raise KeyError(f"{onnx_path} has no tensor for {name}: is it a quantized {architecture} export?")
        if tuple(tensors[name].shape) != tuple(reference.shape):
            raise ValueError(f"{name}: shape {tensors[name].shape} in ONNX, {tuple(reference.shape)} in model")
        state[name] = torch.from_numpy(np.ascontiguousarray(tensors[name]))
    model.load_state_dict(state, strict=True)
    model.names = names
    model.eval()
    return yolo


def save_checkpoint(yolo, path: Path, source: str) -> None:
    """Save in the Ultralytics checkpoint layout, in float32 so the dequantized weights stay exact."""
    import torch
    from ultralytics import __version__

    torch.save(
        {
            "model": yolo.model.float(),
            "train_args": {"task": "detect", "imgsz": 640},
            "date": datetime.now().astimezone().isoformat(),
            "version": __version__,
            "license": "AGPL-3.0 License (https://ultralytics.com/license)",
            "docs": "https://docs.ultralytics.com",
            "source": source,
        },
        str(path),
    )


def export_onnx(checkpoint: Path, imgsz: int, output: Path, dynamic: bool = False) -> Path:
    """Export `checkpoint` to ONNX with Ultralytics (class names go into its metadata).

    Static exports take exactly imgsz x imgsz; dynamic ones any stride-aligned height and width.
    """
    configure_ultralytics_offline()
    import importlib.util

    from ultralytics import YOLO

    simplify = importlib.util.find_spec("onnxslim") is not None
    exported = Path(YOLO(str(checkpoint)).export(format="onnx", imgsz=imgsz, simplify=simplify, dynamic=dynamic))
    output.parent.mkdir(parents=True, exist_ok=True)
    exported.replace(output)
    return output
