"""OpenVINO reads the symmetric INT8 Q/DQ ONNX in an unsigned encoding of the same quantization
(perception/detection/backends/openvino_qdq.py): the encoding changes no value (ONNX Runtime gives bit-identical
outputs on both), and OpenVINO computes the pattern it got wrong in int8 (a Concat feeding a quantized convolution)
right in it. That the INT8 detector on OpenVINO keeps the float model's detections: test_detection_int8.py."""

import cv2
import numpy as np
import onnx
import onnxruntime
import openvino
from onnx import TensorProto, helper, numpy_helper

from perception.detection.backends.openvino_qdq import SILU_MINIMUM, encode_for_openvino, lower_bounds
from perception.detection.preprocess import letterbox_frame, preprocess, to_tensor
from perception.resources import model_path


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def run_openvino(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    compiled = openvino.Core().compile_model(openvino.Core().read_model(model.SerializeToString()), "CPU")
    return compiled(feeds)[compiled.outputs[0]]


def test_the_encoding_of_the_shipped_model_is_the_same_quantization(shared_data):
    original = onnx.load(str(model_path("yolov8n_coco_int8.onnx")))
    encoded = onnx.ModelProto()
    encoded.CopyFrom(original)
    activation_quantizers = [node for node in original.graph.node if node.op_type == "QuantizeLinear"]
    assert encode_for_openvino(encoded) == len(activation_quantizers) > 50
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in encoded.graph.initializer}
    zero_points = [constants[node.input[2]] for node in encoded.graph.node if node.op_type == "QuantizeLinear"]
    assert all(zero_point.dtype == np.uint8 for zero_point in zero_points)
    assert max(zero_points) < 128  # every quantized activation has a lower bound: no saturating 128 offsets
    image = cv2.imread(str(shared_data / "images" / "udacity" / "test1.jpg"))
    feeds = {"images": preprocess(image, None, 640)[0]}
    assert np.array_equal(run_onnxruntime(original, feeds), run_onnxruntime(encoded, feeds))


def test_lower_bounds_follow_silu_through_split_concat_and_add():
    nodes = [helper.make_node("Conv", ["x", "w"], ["conv"]), helper.make_node("Sigmoid", ["conv"], ["sigmoid"]),
             helper.make_node("Mul", ["conv", "sigmoid"], ["silu"]),
             helper.make_node("Split", ["silu"], ["left", "right"], axis=1, num_outputs=2),
             helper.make_node("Add", ["left", "right"], ["sum"]), helper.make_node("Concat", ["sum", "x"], ["mixed"],
                                                                                   axis=1)]
    graph = helper.make_graph(nodes, "bounds", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("mixed", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w")])
    bounds = lower_bounds(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9))
    assert bounds == {"sigmoid": 0.0, "silu": SILU_MINIMUM, "left": SILU_MINIMUM, "right": SILU_MINIMUM,
                      "sum": 2 * SILU_MINIMUM}  # conv and the Concat with the unbounded input have none


def test_unnamed_quantizers_get_their_own_zero_points():
    """Node names may be empty or repeated (output names are unique): two unnamed quantizers, one of a sigmoid (zero
    point 0, a Clip) and one of the unbounded input (128), each keep their own zero point and compute the original's
    values."""
    constants = [numpy_helper.from_array(np.float32(0.1), "scale"), numpy_helper.from_array(np.int8(0), "zero")]
    nodes = [helper.make_node("Sigmoid", ["x"], ["sigmoid"])]
    for name in ("sigmoid", "x"):
        nodes += [helper.make_node("QuantizeLinear", [name, "scale", "zero"], [f"{name}_q"]),
                  helper.make_node("DequantizeLinear", [f"{name}_q", "scale", "zero"], [f"{name}_dq"])]
    nodes.append(helper.make_node("Add", ["sigmoid_dq", "x_dq"], ["y"]))
    graph = helper.make_graph(nodes, "unnamed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], constants)
    original = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    encoded = onnx.ModelProto()
    encoded.CopyFrom(original)
    assert encode_for_openvino(encoded) == 2
    names = [tensor.name for tensor in encoded.graph.initializer]
    assert len(names) == len(set(names)), names
    values = {tensor.name: numpy_helper.to_array(tensor) for tensor in encoded.graph.initializer}
    zero_points = {node.output[0]: int(values[node.input[2]]) for node in encoded.graph.node
                   if node.op_type == "QuantizeLinear"}
    assert zero_points == {"sigmoid_q": 0, "x_q": 128}
    feeds = {"x": np.random.default_rng(0).uniform(-20, 20, (1, 64)).astype(np.float32)}
    assert np.array_equal(run_onnxruntime(encoded, feeds), run_onnxruntime(original, feeds))


def concat_convolution(rng: np.random.Generator) -> onnx.ModelProto:
    """Concat(a, b) -> int8 Q/DQ (zero point 0) -> 1x1 Conv with per-channel int8 weights: C2f's output convolution."""
    constants = [numpy_helper.from_array(np.float32(0.17), "scale"), numpy_helper.from_array(np.int8(0), "zero"),
                 numpy_helper.from_array(rng.integers(-127, 128, (32, 48, 1, 1)).astype(np.int8), "weights"),
                 numpy_helper.from_array(rng.uniform(0.001, 0.01, 32).astype(np.float32), "weight_scales"),
                 numpy_helper.from_array(np.zeros(32, np.int8), "weight_zeros")]
    nodes = [*(helper.make_node("Sigmoid", [name], [f"{name}_sigmoid"]) for name in "ab"),
             *(helper.make_node("Mul", [name, f"{name}_sigmoid"], [f"{name}_silu"]) for name in "ab"),
             helper.make_node("Concat", ["a_silu", "b_silu"], ["concat"], axis=1),
             helper.make_node("QuantizeLinear", ["concat", "scale", "zero"], ["quantized"]),
             helper.make_node("DequantizeLinear", ["quantized", "scale", "zero"], ["dequantized"]),
             helper.make_node("DequantizeLinear", ["weights", "weight_scales", "weight_zeros"], ["w"], axis=0),
             helper.make_node("Conv", ["dequantized", "w"], ["y"])]
    inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 32, 24, 40]),
              helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 16, 24, 40])]
    graph = helper.make_graph(nodes, "concat_convolution", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def test_openvino_computes_the_encoded_concat_convolution_as_onnxruntime_does():
    """OpenVINO 2026.4.1 on this int8 graph was off by up to 1.7 on real C2f activations (docs/results.md)."""
    rng = np.random.default_rng(0)
    original = concat_convolution(rng)
    feeds = {"a": rng.normal(0, 3, (1, 32, 24, 40)).astype(np.float32),
             "b": rng.normal(0, 3, (1, 16, 24, 40)).astype(np.float32)}
    encoded = onnx.ModelProto()
    encoded.CopyFrom(original)
    assert encode_for_openvino(encoded) == 1
    expected = run_onnxruntime(original, feeds)
    assert np.array_equal(run_onnxruntime(encoded, feeds), expected)
    np.testing.assert_allclose(run_openvino(encoded, feeds), expected, atol=1e-3 * np.abs(expected).max())


def test_the_backend_takes_letterboxed_bgr_images_and_compiles_once_per_size(shared_data):
    """The PrePostProcessor steps (uint8 BGR NHWC in, float RGB NCHW in [0, 1] to the network) give the outputs of the
    float tensor on the same network; one compiled model per letterbox size, reused."""
    from perception.detection.backends.openvino_backend import OpenVinoBackend, openvino_input

    path = model_path("yolov8n_coco_int8.onnx")
    backend = OpenVinoBackend(path, threads=1)
    core = openvino.Core()
    network = core.read_model(openvino_input(path))
    image = cv2.imread(str(shared_data / "images" / "udacity" / "test1.jpg"))
    for size in ((960, 540), (640, 480), (960, 540)):
        padded, _ = letterbox_frame(cv2.resize(image, size), None, 640)
        tensor = to_tensor(padded)
        network.reshape({0: tensor.shape})
        compiled = core.compile_model(network, "CPU", {"INFERENCE_NUM_THREADS": 1})
        expected = compiled({0: tensor})[compiled.outputs[0]]
        np.testing.assert_allclose(backend.infer(padded), expected, atol=1e-4 * np.abs(expected).max())
    assert sorted(backend.requests) == [(384, 640), (480, 640)]


def test_compiled_models_are_kept_on_disk_and_a_bad_cache_entry_is_compiled_again(shared_data, tmp_path):
    """A restarted node loads the compiled model from the cache folder (same outputs); a corrupt entry and a cache
    folder that cannot be made only cost the compile."""
    from perception.detection.backends.openvino_backend import OpenVinoBackend

    path = model_path("yolov8n_coco_int8.onnx")
    padded, _ = letterbox_frame(cv2.imread(str(shared_data / "images" / "udacity" / "test1.jpg")), None, 640)
    first = OpenVinoBackend(path, threads=1, cache_dir=tmp_path)
    expected = first.infer(padded)
    entries = [entry for entry in (tmp_path / "openvino").iterdir() if entry.stat().st_size > 100_000]
    assert first.cache_dir == tmp_path / "openvino" and entries  # the compiled model
    assert np.array_equal(OpenVinoBackend(path, threads=1, cache_dir=tmp_path).infer(padded), expected)
    for entry in entries:
        entry.chmod(0o600)  # OpenVINO writes its entries read-only
        entry.write_bytes(b"not a compiled model")
    assert np.array_equal(OpenVinoBackend(path, threads=1, cache_dir=tmp_path).infer(padded), expected)
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    uncached = OpenVinoBackend(path, threads=1, cache_dir=blocked)
    assert uncached.cache_dir is None and np.array_equal(uncached.infer(padded), expected)
