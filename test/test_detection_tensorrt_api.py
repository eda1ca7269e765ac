"""The TensorRT engine build and binding code against fake `tensorrt` modules of each API shape.

TensorRT cannot be installed here. Each fake holds only what its version's Python bindings have (the names
were read from the tensorrt.so of tensorrt-cu12-bindings 10.3.0 and 11.4.0.106, and from the 10.x -> 11.x
migration guide): 10.3 still has BuilderFlag.FP16/INT8, EXPLICIT_BATCH, the INT8 calibrator classes and
`int8_calibrator`/`set_calibration_profile`; 11.x has none of them and is always strongly typed. A code path
that touched a removed name would raise AttributeError here, and the fakes refuse what the real builder
refuses (precision flags on a strongly typed network).
"""
import types

import numpy as np
import onnx
import pytest
import torch

from perception.detection.backends.tensorrt_api import check_supported, strongly_typed_network_flags
from perception.detection.backends.tensorrt_backend import TensorRTBackend, input_profile
from perception.detection.backends.tensorrt_build import build_serialized_engine, network_onnx, onnx_precision
from perception.detection.errors import BackendUnavailableError, ModelFileError
from perception.resources import model_path

DYNAMIC_ONNX = model_path("yolov8n_coco_dynamic.onnx")
PROFILE_640 = ((1, 3, 32, 32), (1, 3, 384, 640), (1, 3, 640, 640))


def fake_tensorrt(version: str):
    """A module with the API shape of TensorRT `version` ("10.3.0", "11.4.0.106" or an old "8.6.1")."""
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = []
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, severity=2: None})
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)
    trt.TensorIOMode = types.SimpleNamespace(INPUT=1, OUTPUT=2)
    trt.DataType = types.SimpleNamespace(FLOAT=0, HALF=1)
    trt.nptype = lambda data_type: {0: np.float32, 1: np.float16}[data_type]
    trt.IProgressMonitor = type("IProgressMonitor", (), {"__init__": lambda self: None})
    if major >= 11:
        trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=0)  # deprecated, ignored
        trt.BuilderFlag = types.SimpleNamespace(DEBUG=0, REFIT=1)
    else:
        trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
        trt.BuilderFlag = types.SimpleNamespace(FP16=0, INT8=1, DEBUG=2, REFIT=3)
        trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (), {})

    class Network:
        def __init__(self, flags: int) -> None:
            trt.calls.append(("create_network", flags))
            self.strongly_typed = major >= 11 or bool(flags & (1 << trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
            self.inputs = []
            self.precision = None

        def get_input(self, index):
            return self.inputs[index]

    class OnnxParser:
        def __init__(self, network, logger) -> None:
            self.network, self.num_errors = network, 0

        def parse(self, content: bytes) -> bool:
            model = onnx.load_from_string(content)
            onnx.checker.check_model(model)  # the real parser refuses unsorted or invalid graphs too
            dims = model.graph.input[0].type.tensor_type.shape.dim
            shape = tuple(dim.dim_value if dim.HasField("dim_value") else -1 for dim in dims)
            self.network.inputs.append(types.SimpleNamespace(name=model.graph.input[0].name, shape=shape))
            self.network.precision = onnx_precision(model)
            return True

        def get_error(self, index):
            raise AssertionError("no errors")

    class BuilderConfig:
        __slots__ = ("flags", "pools", "profiles", "progress_monitor", *(
            ("int8_calibrator",) if major < 11 else ()))

        def __init__(self) -> None:
            self.flags, self.pools, self.profiles, self.progress_monitor = set(), {}, [], None

        def set_flag(self, flag) -> None:
            self.flags.add(flag)

        def set_memory_pool_limit(self, pool, size: int) -> None:
            self.pools[pool] = size

        def add_optimization_profile(self, profile) -> int:
            self.profiles.append(profile.shapes)
            return len(self.profiles) - 1

        if major < 11:
            def set_calibration_profile(self, profile) -> None:
                trt.calls.append(("set_calibration_profile",))

    class OptimizationProfile:
        def __init__(self) -> None:
            self.shapes = {}

        def set_shape(self, name: str, minimum, optimum, maximum) -> None:
            self.shapes[name] = (tuple(minimum), tuple(optimum), tuple(maximum))

    class Builder:
        def __init__(self, logger) -> None:
            pass

        def create_network(self, flags: int = 0):
            return Network(flags)

        def create_builder_config(self):
            return BuilderConfig()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            if network.strongly_typed and config.flags:
                return None  # "precision flags are not allowed for a strongly typed network"
            trt.calls.append(("build", network.strongly_typed, network.precision, config.profiles,
                              config.pools, config.progress_monitor is not None))
            return b"serialized engine"

    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    return trt


API_SHAPES = ["10.3.0", "11.4.0.106"]


@pytest.mark.parametrize("version", API_SHAPES)
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_float_onnx_builds_a_strongly_typed_network_of_the_requested_precision(version, precision):
    trt = fake_tensorrt(version)
    check_supported(trt)
    messages = []
    onnx_bytes = network_onnx(DYNAMIC_ONNX, precision)
    profile = input_profile(None, 640, (720, 1280))
    assert profile == PROFILE_640  # 16:9 frames letterbox to 384x640 (as the CPU path feeds them)
    assert build_serialized_engine(trt, onnx_bytes, DYNAMIC_ONNX, profile, 1 << 30, messages.append) == (
        b"serialized engine")
    flags = trt.calls[0][1]
    assert flags == (0 if version.startswith("11") else 1 << 1)  # STRONGLY_TYPED; never EXPLICIT_BATCH
    assert trt.calls[-1] == ("build", True, precision, [{"images": PROFILE_640}], {0: 1 << 30}, True)


@pytest.mark.parametrize("version", API_SHAPES)
def test_static_onnx_needs_no_profile(version):
    trt = fake_tensorrt(version)
    static = model_path("yolov8n_coco_320.onnx")
    build_serialized_engine(trt, network_onnx(static, "fp16"), static, input_profile((320, 320), 320, (720, 1280)),
                            1 << 30, print)
    assert trt.calls[-1][1:4] == (True, "fp16", [])


def qdq_onnx(path):
    """A small explicitly quantized (Q/DQ) image model, standing in for a quantizer's output."""
    helper = onnx.helper
    weight = onnx.numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "weight")
    scale = onnx.numpy_helper.from_array(np.array(0.02, np.float32), "scale")
    zero = onnx.numpy_helper.from_array(np.array(0, np.int8), "zero")
    nodes = [
        helper.make_node("QuantizeLinear", ["images", "scale", "zero"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"]),
        helper.make_node("Conv", ["dq", "weight"], ["output0"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output0", onnx.TensorProto.FLOAT, [1, 4, "h", "w"])],
        [weight, scale, zero])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


@pytest.mark.parametrize("version", API_SHAPES)
def test_int8_is_built_from_a_qdq_onnx_without_calibrator_or_flags(version, tmp_path):
    trt = fake_tensorrt(version)
    model = qdq_onnx(tmp_path / "model_qdq.onnx")
    build_serialized_engine(trt, network_onnx(model, "int8"), model, PROFILE_640, 1 << 30, print)
    assert trt.calls[-1][1:3] == (True, "int8")
    assert ("set_calibration_profile",) not in trt.calls


def test_int8_from_a_float_onnx_is_refused_with_what_to_do():
    with pytest.raises(ModelFileError, match="explicitly quantized .Q/DQ. ONNX.*quantize it first"):
        network_onnx(DYNAMIC_ONNX, "int8")


def test_a_qdq_onnx_is_not_built_at_another_precision(tmp_path):
    with pytest.raises(ModelFileError, match="is an int8 model: build it with precision int8"):
        network_onnx(qdq_onnx(tmp_path / "model_qdq.onnx"), "fp16")


def test_tensorrt_older_than_10_3_is_refused_with_the_reason():
    for version in ("8.6.1", "10.2.0"):
        with pytest.raises(BackendUnavailableError, match=f"TensorRT {version} is too old.*10.3 or newer"):
            check_supported(fake_tensorrt(version))
    check_supported(fake_tensorrt("10.3.0"))


def test_strong_typing_flag_only_where_it_still_means_something():
    assert strongly_typed_network_flags(fake_tensorrt("10.3.0")) == 1 << 1
    assert strongly_typed_network_flags(fake_tensorrt("10.13.3")) == 1 << 1
    assert strongly_typed_network_flags(fake_tensorrt("11.0.0")) == 0


class FakeExecutionContext:
    """set_input_shape / get_tensor_shape / set_tensor_address of a YOLOv8 engine with a 32..640 profile."""

    def __init__(self) -> None:
        self.shapes, self.addresses, self.shape_calls = {}, {}, 0

    def set_input_shape(self, name: str, shape) -> bool:
        self.shape_calls += 1
        if not all(32 <= side <= 640 for side in shape[2:]):
            return False
        height, width = shape[2:]
        anchors = sum((height // stride) * (width // stride) for stride in (8, 16, 32))
        self.shapes = {"images": tuple(shape), "output0": (1, 84, anchors)}
        return True

    def get_tensor_shape(self, name: str):
        return self.shapes[name]

    def set_tensor_address(self, name: str, address: int) -> None:
        self.addresses[name] = address


@pytest.mark.parametrize("version", API_SHAPES)
def test_dynamic_engine_binds_each_new_letterbox_shape_once(version):
    trt = fake_tensorrt(version)
    engine = types.SimpleNamespace(
        num_io_tensors=2, get_tensor_name=["images", "output0"].__getitem__,
        get_tensor_mode=lambda name: trt.TensorIOMode.INPUT if name == "images" else trt.TensorIOMode.OUTPUT,
        get_tensor_dtype=lambda name: trt.DataType.FLOAT,
        get_tensor_profile_shape=lambda name, index: PROFILE_640)
    backend = object.__new__(TensorRTBackend)  # the binding logic alone: no GPU here
    backend.trt, backend.engine, backend.context = trt, engine, FakeExecutionContext()
    backend._torch, backend.device, backend.buffers, backend._bound_shape = torch, torch.device("cpu"), {}, None
    assert backend._io_tensor_names() == ("images", "output0")
    backend.input_name, backend.output_name = "images", "output0"
    for shape in [(1, 3, 384, 640), (1, 3, 384, 640), (1, 3, 480, 640)]:
        backend._bind(shape)
        assert backend.buffers["images"].shape == shape
        assert backend.context.addresses["output0"] == backend.buffers["output0"].data_ptr()
    assert backend.buffers["output0"].shape == (1, 84, 6300) and backend.context.shape_calls == 2
    with pytest.raises(ValueError, match=r"from \(1, 3, 32, 32\) to \(1, 3, 640, 640\), not \(1, 3, 704, 1280\)"):
        backend._bind((1, 3, 704, 1280))
