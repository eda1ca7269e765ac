"""Every shipped Q/DQ ONNX is symmetric INT8, the only INT8 quantization TensorRT's ONNX parser accepts: each
QuantizeLinear/DequantizeLinear has an int8 zero point (an omitted one means uint8) that is all zeros, and the
weights of each quantized convolution have one scale per output channel.

More files can be checked with QDQ_CHECK_FILES=a.onnx:b.onnx (os.pathsep-separated), e.g. the previous shipped file:
`git show <commit>:models/yolov8n_coco_int8.onnx > /tmp/old.onnx; QDQ_CHECK_FILES=/tmp/old.onnx pytest -q <this file>`
fails on NNCF's MIXED preset (59 of 60 QuantizeLinear with a non-zero zero point).
"""

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from perception.resources import model_path

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def qdq_files() -> list[Path]:
    """The installed models' ONNX files with Q/DQ nodes, and those named in QDQ_CHECK_FILES."""
    shipped = [path for path in sorted(model_path("").rglob("*.onnx"))
               if any(node.op_type in QDQ_OPS for node in onnx.load(str(path), load_external_data=False).graph.node)]
    extra = [Path(name) for name in os.environ.get("QDQ_CHECK_FILES", "").split(os.pathsep) if name]
    return shipped + extra


def constant_tensors(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    tensors = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = next((attribute.t for attribute in node.attribute if attribute.name == "value"), None)
            if value is not None:
                tensors[node.output[0]] = numpy_helper.to_array(value)
    return tensors


def asymmetric_quantizers(model: onnx.ModelProto) -> list[str]:
    """One line per Q/DQ node that is not symmetric int8, and per quantized conv weight without per-channel scales."""
    tensors = constant_tensors(model)
    problems = []
    for node in model.graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        if len(node.input) < 3 or not node.input[2]:
            problems.append(f"{node.name}: no zero point (uint8 by default)")
            continue
        zero_point = tensors.get(node.input[2])
        if zero_point is None:
            problems.append(f"{node.name}: zero point {node.input[2]} is not a constant")
        elif zero_point.dtype != np.int8:
            problems.append(f"{node.name}: zero point type {zero_point.dtype}, not int8")
        elif np.any(zero_point != 0):
            problems.append(f"{node.name}: non-zero zero point {zero_point.ravel()[:4]}")
    producers = {output: node for node in model.graph.node for output in node.output}
    for conv in (node for node in model.graph.node if node.op_type == "Conv"):
        dequantize = producers.get(conv.input[1])
        if dequantize is None or dequantize.op_type != "DequantizeLinear":
            continue  # a float convolution
        weights, scale = tensors.get(dequantize.input[0]), tensors.get(dequantize.input[1])
        axis = next((attribute.i for attribute in dequantize.attribute if attribute.name == "axis"), 1)
        if weights is None or scale is None or scale.shape != (weights.shape[0],) or axis != 0:
            problems.append(f"{conv.name}: weights not quantized per output channel")
    return problems


def test_the_bundled_detectors_have_qdq_files():
    assert model_path("yolov8n_coco_int8.onnx") in qdq_files()
    assert model_path("signs/sign_detector_yolov8n_int8.onnx") in qdq_files()


@pytest.mark.parametrize("path", qdq_files(), ids=lambda path: path.name)
def test_qdq_file_is_symmetric_int8_with_per_channel_weights(path):
    model = onnx.load(str(path))
    assert sum(node.op_type == "QuantizeLinear" for node in model.graph.node) > 0
    problems = asymmetric_quantizers(model)
    assert not problems, f"{len(problems)} problems, first: " + "; ".join(problems[:5])


def tiny_qdq_model(zero_point: np.ndarray | None, weight_scale: np.ndarray) -> onnx.ModelProto:
    """x -> Q/DQ (activation zero point `zero_point`, None: omitted) -> Conv with DQ'd int8 weights (scale
    `weight_scale`, axis 0)."""
    activation_inputs = ["x", "scale"] + (["zero_point"] if zero_point is not None else [])
    initializers = [numpy_helper.from_array(np.float32(0.1), "scale"),
                    numpy_helper.from_array(np.ones((2, 1, 1, 1), np.int8), "w_q"),
                    numpy_helper.from_array(weight_scale.astype(np.float32), "w_scale"),
                    numpy_helper.from_array(np.zeros(weight_scale.shape, np.int8), "w_zero")]
    if zero_point is not None:
        initializers.append(numpy_helper.from_array(zero_point, "zero_point"))
    nodes = [helper.make_node("QuantizeLinear", activation_inputs, ["x_q"], name="q"),
             helper.make_node("DequantizeLinear", ["x_q", *activation_inputs[1:]], ["x_dq"], name="dq"),
             helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], name="w_dq", axis=0),
             helper.make_node("Conv", ["x_dq", "w"], ["y"], name="conv")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=9)


def test_the_check_finds_asymmetric_unsigned_and_per_tensor_quantizers():
    assert asymmetric_quantizers(tiny_qdq_model(np.int8(0), np.ones(2))) == []
    assert [line.split(":")[1] for line in asymmetric_quantizers(tiny_qdq_model(np.int8(-3), np.ones(2)))] == [
        " non-zero zero point [-3]"] * 2
    assert "zero point type uint8" in asymmetric_quantizers(tiny_qdq_model(np.uint8(0), np.ones(2)))[0]
    assert "no zero point" in asymmetric_quantizers(tiny_qdq_model(None, np.ones(2)))[0]
    assert asymmetric_quantizers(tiny_qdq_model(np.int8(0), np.ones(1))) == [
        "conv: weights not quantized per output channel"]
