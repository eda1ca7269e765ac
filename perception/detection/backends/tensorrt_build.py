"""Build a serialized TensorRT engine from an ONNX file: a strongly typed network whose precision is the ONNX's.

fp32 builds the float ONNX as it is; fp16 builds an fp16 copy of it (float32 inputs and outputs, converted
here); int8 builds a Q/DQ ONNX (explicit quantization) as it is. TensorRT 11 has no other way, and TensorRT 10
gets the same engine types this way.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from perception.detection.backends.tensorrt_api import strongly_typed_network_flags
from perception.detection.errors import BackendUnavailableError, ModelFileError

QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
# (min, opt, max) (batch, channels, height, width) of the network input
InputProfile = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def onnx_precision(model) -> str:
    """"int8" for a Q/DQ (explicitly quantized) model, "fp16" if it holds fp16 weights, else "fp32"."""
    import onnx

    if any(node.op_type in QDQ_OPS for node in model.graph.node):
        return "int8"
    float16 = onnx.TensorProto.FLOAT16
    return "fp16" if any(tensor.data_type == float16 for tensor in model.graph.initializer) else "fp32"


def topologically_sorted(model):
    """`model` with its graph's nodes in an order where every input is produced before it is used."""
    produced = {tensor.name for tensor in model.graph.input} | {tensor.name for tensor in model.graph.initializer}
    produced.add("")  # an omitted optional input
    pending, ordered = list(model.graph.node), []
    while pending:
        ready = [node for node in pending if all(name in produced for name in node.input)]
        if not ready:
            raise ModelFileError(f"the ONNX graph {model.graph.name!r} has a cycle or an input nothing produces")
        for node in ready:
            produced.update(node.output)
        ordered += ready
        done = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in done]
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    return model


def to_float16(model):
    """The float32 model with fp16 weights and arithmetic, keeping float32 inputs and outputs.

    Uses ONNX Runtime's float16 converter (the maintained copy of onnxconverter-common's), which casts at the
    inputs and outputs and leaves ops that need float32 (e.g. Resize scales) alone.
    """
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as error:
        raise BackendUnavailableError(
            f"fp16 engines are built from an fp16 copy of the ONNX, made with onnxruntime ({error}): "
            "pip install onnxruntime, or pass an fp16 ONNX"
        ) from error
    return topologically_sorted(convert_float_to_float16(model, keep_io_types=True))


def network_onnx(onnx_path: Path, precision: str) -> bytes:
    """The serialized ONNX whose strongly typed network has `precision`."""
    import onnx

    model = onnx.load(str(onnx_path))
    stored = onnx_precision(model)
    if stored == precision:
        return model.SerializeToString()
    if (stored, precision) == ("fp32", "fp16"):
        return to_float16(model).SerializeToString()
    if precision == "int8":
        raise ModelFileError(
            f"INT8 engines are built from an explicitly quantized (Q/DQ) ONNX, and {onnx_path} has no "
            "QuantizeLinear/DequantizeLinear nodes: quantize it first, or choose precision fp16"
        )
    raise ModelFileError(f"{onnx_path} is an {stored} model: build it with precision {stored}, not {precision}")


def make_progress_monitor(trt, report: Callable[[str], None]):
    """An IProgressMonitor that reports each optimizer phase and step."""

    class BuildProgress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self.steps[phase_name] = num_steps
            report(f"TensorRT build: {phase_name} (0/{num_steps})")

        def step_complete(self, phase_name: str, step: int) -> bool:
            report(f"TensorRT build: {phase_name} ({step + 1}/{self.steps.get(phase_name, '?')})")
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            report(f"TensorRT build: {phase_name} done")

    return BuildProgress()


def build_serialized_engine(
    trt, onnx: bytes, source: Path, profile: InputProfile, workspace_bytes: int, report: Callable[[str], None]
) -> bytes:
    """Parse the ONNX into a strongly typed network and return the serialized engine.

    A network with a dynamic input gets one optimization profile: `profile` (min, opt, max shapes).
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(strongly_typed_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx):
        errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise ModelFileError(f"TensorRT cannot parse {source}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    network_input = network.get_input(0)
    if any(size < 0 for size in network_input.shape):
        optimization_profile = builder.create_optimization_profile()
        optimization_profile.set_shape(network_input.name, *profile)
        config.add_optimization_profile(optimization_profile)
    config.progress_monitor = make_progress_monitor(trt, report)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {source} (see its log above)")
    return bytes(serialized)
