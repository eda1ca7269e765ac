"""The symmetric INT8 Q/DQ ONNX in the encoding OpenVINO computes right: the same quantization, unsigned.

Each activation QuantizeLinear/DequantizeLinear pair with an int8 zero point 0 and scale s (values k*s, k in -128..127)
becomes a uint8 pair with zero point z and a Clip at 127*s before it, z the smallest for which the tensor can never
quantize below -z: from a lower bound propagated through the graph (a SiLU output is >= -0.2785; Split, Concat,
MaxPool, Resize keep the bound of their inputs, Add sums them), 128 where there is none. Every value the network can
produce dequantizes to the same number in both encodings (ONNX Runtime gives bit-identical outputs on both:
test/test_detection_int8_openvino.py); TensorRT and ONNX Runtime read the int8 file itself.

Why: OpenVINO 2026.4.1's CPU plugin, on a CPU without VNNI (AVX2), runs convolutions on unsigned 8-bit activations,
so it turns int8 ones into uint8 with zero point 128. (1) An int8 quantizer that it moves through a Concat into a
convolution then computes wrong values (C2f's output convolution off by up to 1.7, 0.18 on average; exact for uint8
quantizers). (2) An activation near 0 becomes 128, and the u8 x s8 products that the AVX2 kernels add in pairs into
int16 saturate (up to 7.4 off on /model.2/cv1). Small zero points avoid both (docs/results.md, INT8 accuracy).
"""
from __future__ import annotations

import numpy as np

SILU_MINIMUM = -0.27846454276107380  # min of x * sigmoid(x), at x = -1.2785
# Operators whose outputs are taken from (or interpolated between) their data inputs' values.
BOUND_KEEPING = {"Split", "Slice", "Concat", "MaxPool", "Resize", "Reshape", "Transpose", "Flatten", "Identity"}


def lower_bounds(model) -> dict[str, float]:
    """Tensor name -> a lower bound of its values, for the tensors that have one (graph order is topological)."""
    from onnx import helper, numpy_helper

    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    bounds: dict[str, float] = {}

    def bound(name: str) -> float:
        return bounds.get(name, -np.inf)

    for node in model.graph.node:
        attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
        if node.op_type == "Sigmoid":
            bounds[node.output[0]] = 0.0
        elif node.op_type == "Mul" and len(node.input) == 2 and any(
                (producer := producers.get(sigmoid)) is not None and producer.op_type == "Sigmoid"
                and producer.input[0] == other for sigmoid, other in (node.input, node.input[::-1])):
            bounds[node.output[0]] = SILU_MINIMUM
        elif (node.op_type == "DequantizeLinear" and (quantizer := producers.get(node.input[0])) is not None
              and quantizer.op_type == "QuantizeLinear" and (scale := symmetric_int8_scale(node, constants))):
            levels = float(np.round(bound(quantizer.input[0]) / scale))
            bounds[node.output[0]] = scale * max(-128.0, levels)  # an int8 grid: at worst its lowest value
        elif node.op_type in BOUND_KEEPING and attributes.get("mode", b"nearest") != b"cubic":
            value = min(bound(name) for name in (node.input if node.op_type == "Concat" else node.input[:1]))
            bounds.update({output: value for output in node.output})
        elif node.op_type == "Add":
            bounds[node.output[0]] = bound(node.input[0]) + bound(node.input[1])
    return {name: value for name, value in bounds.items() if np.isfinite(value)}


def encode_for_openvino(model) -> int:
    """Rewrite `model`'s int8 zero-point-0 activation Q/DQ pairs as described in the module docstring, in place;
    returns how many quantizers were rewritten. Weight quantizers (int8 initializers) stay int8."""
    from onnx import helper, numpy_helper

    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    bounds = lower_bounds(model)
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    nodes, replaced, retyped = [], set(), set()
    for node in model.graph.node:
        if is_symmetric_activation_quantizer(node, constants, consumers):
            scale = symmetric_int8_scale(node, constants)
            lowest = max(-128.0, float(np.round(bounds.get(node.input[0], -np.inf) / scale)))
            shift = int(max(0.0, -lowest))
            quantized = node.output[0]  # new names from it: unique, where node names may be empty or repeated
            unsigned_zero = f"{quantized}_zero_point_uint8"
            model.graph.initializer.append(numpy_helper.from_array(np.uint8(shift), unsigned_zero))
            if shift < 128:  # the uint8 grid reaches beyond 127*s: clip where the int8 one saturates
                clipped, clip_max = f"{quantized}_clip_input", f"{quantized}_clip_max"
                model.graph.initializer.append(numpy_helper.from_array(np.float32(127 * scale), clip_max))
                nodes.append(helper.make_node("Clip", [node.input[0], "", clip_max], [clipped],
                                              name=f"{quantized}_clip"))
                node.input[0] = clipped
            replaced.add(node.input[2])
            retyped.add(node.output[0])
            for user in (node, *consumers[quantized]):
                user.input[2] = unsigned_zero
        nodes.append(node)
    used = {name for node in nodes for name in node.input}
    replace_items(model.graph.node, nodes)
    replace_items(model.graph.value_info, [info for info in model.graph.value_info if info.name not in retyped])
    replace_items(model.graph.initializer,
                  [tensor for tensor in model.graph.initializer if tensor.name not in replaced or tensor.name in used])
    return len(retyped)


def symmetric_int8_scale(node, constants: dict[str, np.ndarray]) -> float | None:
    """The scale of a per-tensor Q/DQ node with an int8 zero point 0, else None."""
    if len(node.input) < 3:
        return None
    scale, zero_point = constants.get(node.input[1]), constants.get(node.input[2])
    if scale is None or scale.size != 1 or zero_point is None or zero_point.dtype != np.int8 or zero_point.any():
        return None
    return float(scale)


def is_symmetric_activation_quantizer(node, constants: dict[str, np.ndarray], consumers: dict[str, list]) -> bool:
    """A QuantizeLinear of a computed tensor, per tensor, int8 zero point 0, read only by DequantizeLinear nodes (and
    read: a quantized graph output keeps its type)."""
    users = consumers.get(node.output[0], []) if node.op_type == "QuantizeLinear" else []
    return (bool(users) and node.input[0] not in constants and symmetric_int8_scale(node, constants) is not None
            and all(user.op_type == "DequantizeLinear" for user in users))


def replace_items(container, items: list) -> None:
    """Replace the contents of a repeated protobuf field."""
    del container[:]
    container.extend(items)
