"""Static INT8 post-training quantization of the YOLOv8 detector, calibrated on driving frames.

Weights are quantized per output channel, activations with ranges calibrated on real frames letterboxed by the
detector's own preprocessing. The Detect head's last convolutions (box distributions, class logits) and everything
after them (DFL, box decoding, concatenations, sigmoid) stay float: 8-bit there shifts boxes and scores.

NNCF (OpenVINO's quantizer) writes the one INT8 file, a Q/DQ ONNX (QuantizeLinear/DequantizeLinear pairs: explicit
quantization) that TensorRT, ONNX Runtime and OpenVINO all run (OpenVINO in an equivalent unsigned encoding:
backends/openvino_qdq.py); ONNX Runtime's `quantize_static` writes a Q/DQ ONNX for comparison. docs/results.md (INT8
accuracy) has the figures that chose NNCF.

Presets (NNCF): "performance" (the default): symmetric int8 weights (one scale per output channel) and symmetric int8
activations, every zero point 0, as TensorRT's ONNX parser requires; the first convolution stays float (its input, the
image in [0, 1], would get an unsigned quantizer, which TensorRT rejects, and as signed int8 it lost KITTI AP).
"mixed": asymmetric activations (non-zero zero points: not for TensorRT), for comparison.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from perception.detection.frames import read_frames
from perception.detection.preprocess import preprocess

# Nodes of the Detect head (model.22 in YOLOv8) that stay float: all but the first two convolutions (with their
# SiLU) of each box/class branch.
HEAD_NODE = re.compile(r"^/model\.22/")
QUANTIZED_HEAD_NODE = re.compile(r"^/model\.22/cv[23]\.\d/cv[23]\.\d\.[01]/")
IMAGE_TYPES = ("sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Image")
TOOLS = {"nncf": "models/yolov8n_coco_int8.onnx", "onnxruntime": "models/yolov8n_coco_int8.onnx"}  # default output
BIAS_CORRECTIONS = ("fast", "full")
PRESETS = ("performance", "mixed")  # NNCF presets: symmetric everything (the shipped file); asymmetric activations
FIRST_CONV = "/model.0/conv/Conv"  # float with the symmetric preset (module docstring)


def float_node_names(node_names: Sequence[str]) -> list[str]:
    """The names among `node_names` that stay float: the Detect head after its second convolution of each branch."""
    return [name for name in node_names if HEAD_NODE.match(name) and not QUANTIZED_HEAD_NODE.match(name)]


def nncf_float_nodes(node_names: Sequence[str], preset: str) -> list[str]:
    """NNCF's ignored scope: the float head, and with the symmetric preset the first convolution."""
    first = [name for name in node_names if name == FIRST_CONV]
    return float_node_names(node_names) + (first if preset == "performance" else [])


def nncf_preset(preset: str):
    import nncf

    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    return nncf.QuantizationPreset.PERFORMANCE if preset == "performance" else nncf.QuantizationPreset.MIXED


def bag_frames(bag: Path, every: int) -> Iterator[np.ndarray]:
    """Every `every`-th image of the first camera topic of a bag, as BGR."""
    from rosbags.typesys import Stores, get_typestore

    from perception.imaging import decode_compressed, decode_raw
    from perception.bags import bag_topics, read_messages

    topics = [topic for topic, msgtype in bag_topics(bag).items() if msgtype in IMAGE_TYPES]
    if not topics:
        raise ValueError(f"{bag} has no sensor_msgs Image or CompressedImage topic")
    typestore = get_typestore(Stores.ROS2_JAZZY)
    for index, record in enumerate(read_messages(bag, topics[:1])):
        if index % every:
            continue
        message = typestore.deserialize_cdr(record.raw, record.msgtype)
        if record.msgtype.endswith("CompressedImage"):
            yield decode_compressed(message.data)
        else:
            yield decode_raw(message.data, message.width, message.height, message.encoding, message.step)


def calibration_images(folder: Path, excluded: set[str], every: int) -> list[Path]:
    """Every `every`-th image file of a folder (sorted by name) whose stem is not in `excluded`."""
    paths = [path for path in sorted(folder.iterdir()) if path.suffix.lower() in (".jpg", ".png", ".ppm")]
    return [path for path in paths if path.stem not in excluded][::every]


def calibration_tensors(
    bags: Sequence[Path], folders: Sequence[Path], excluded: set[str], bag_every: int, folder_every: int, imgsz: int
) -> list[np.ndarray]:
    """Detector input tensors (the shared letterbox preprocessing) of the calibration frames."""
    tensors = []
    for bag in bags:
        tensors += [preprocess(image, None, imgsz)[0] for image in bag_frames(bag, bag_every)]
    for folder in folders:
        tensors += [preprocess(next(read_frames(path))[1], None, imgsz)[0]
                    for path in calibration_images(folder, excluded, folder_every)]
    if not tensors:
        raise ValueError("no calibration frames")
    return tensors


def quantize_onnxruntime(float_onnx: Path, output: Path, tensors: list[np.ndarray]) -> Path:
    """A Q/DQ ONNX: int8 per-channel weights, uint8 activations calibrated (MinMax) on `tensors`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, input_name: str) -> None:
            self._feeds = iter([{input_name: tensor} for tensor in tensors])

        def get_next(self) -> dict | None:
            return next(self._feeds, None)

    output.parent.mkdir(parents=True, exist_ok=True)
    prepared = output.with_suffix(".prepared.onnx")
    quant_pre_process(str(float_onnx), str(prepared), skip_symbolic_shape=True)
    model = onnx.load(str(prepared))
    try:
        quantize_static(
            str(prepared), str(output), Reader(model.graph.input[0].name),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv", "Mul", "Sigmoid", "Add", "Concat", "MaxPool", "Resize", "Split"],
            nodes_to_exclude=float_node_names([node.name for node in model.graph.node]),
        )
    finally:
        prepared.unlink(missing_ok=True)
    copy_metadata(float_onnx, output)
    return output


def copy_metadata(source: Path, target: Path) -> None:
    """Copy the source ONNX's metadata (class names, stride, ...) into `target` (quantize_static drops it)."""
    import onnx

    metadata = {prop.key: prop.value for prop in onnx.load(str(source), load_external_data=False).metadata_props}
    model = onnx.load(str(target))
    onnx.helper.set_model_props(model, metadata)
    onnx.save(model, str(target))


def quantize_nncf(float_onnx: Path, output: Path, tensors: list[np.ndarray], preset: str = "performance",
                  bias_correction: str = "fast") -> Path:
    """A Q/DQ ONNX made by NNCF (default PERFORMANCE preset: symmetric int8 weights per channel, symmetric int8
    activations from mean per-frame ranges, every zero point 0); Q/DQ pairs sit on the inputs of each quantized
    operation, the placement TensorRT fuses into integer kernels. bias_correction: "fast" (each layer's output shift
    from its own float input) or "full" (from the already quantized layers' outputs, slower: the sign detector's)."""
    import nncf
    import onnx

    model = onnx.load(str(float_onnx))
    input_name = model.graph.input[0].name
    quantized = nncf.quantize(
        model, nncf.Dataset(tensors, lambda tensor: {input_name: tensor}), preset=nncf_preset(preset),
        subset_size=len(tensors), fast_bias_correction=bias_correction == "fast",
        ignored_scope=nncf.IgnoredScope(names=nncf_float_nodes([node.name for node in model.graph.node], preset),
                                        validate=False),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(quantized, str(output))
    copy_metadata(float_onnx, output)
    return output

