"""OpenVINO backend (CPU): an Ultralytics ONNX, float or the symmetric INT8 Q/DQ copy of `perception quantize` (read in
the encoding OpenVINO computes right: openvino_qdq.py)."""
from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from perception.detection.backends.engine_cache import DEFAULT_CACHE_DIR
from perception.detection.backends.onnxruntime_backend import default_thread_count
from perception.detection.backends.openvino_qdq import encode_for_openvino
from perception.detection.errors import BackendUnavailableError, ModelFileError
from perception.detection.model_files import read_onnx_info

LOGGER = logging.getLogger(__name__)


class OpenVinoBackend:
    """infer() takes the letterboxed uint8 BGR image: the conversion to float, BGR to RGB, the division by 255 and
    the NHWC to NCHW reorder run inside the compiled model (OpenVINO's PrePostProcessor). A model is compiled with a
    static input for each letterbox size it meets (one per camera resolution), cached: measured faster than one
    compiled with dynamic height and width. infer_many runs a sequence of frames with several in flight (OpenVINO's
    throughput mode: streams of their own threads), for whole videos; the nodes use infer, one frame on every thread.
    Both give the same outputs."""

    name = "openvino"
    bgr_input = True

    def __init__(self, model_path: Path, device: str | None = None, threads: int | None = None,
                 cache_dir: Path | None = None) -> None:
        try:
            import openvino
        except ImportError as error:
            raise BackendUnavailableError("openvino is not installed: pip install openvino") from error
        if (device or "cpu") != "cpu":
            raise BackendUnavailableError(f"the openvino backend runs on the CPU here, not {device!r}")
        info = read_onnx_info(model_path)
        self.class_names, self.input_hw = info.names, info.input_hw
        self.core = openvino.Core()
        self.cache_dir = use_compile_cache(self.core, Path(cache_dir or DEFAULT_CACHE_DIR) / "openvino")
        try:
            self.model = with_bgr_input(self.core.read_model(openvino_input(model_path)))
        except Exception as error:  # openvino raises its own RuntimeError subclasses
            raise ModelFileError(f"openvino cannot load {model_path}: {error}") from error
        # No thread pinning: the detector shares the cores with the other nodes.
        self.config = {"INFERENCE_NUM_THREADS": threads or default_thread_count(), "PERFORMANCE_HINT": "LATENCY",
                       "ENABLE_CPU_PINNING": False}
        self.requests: dict[tuple[int, int], object] = {}  # letterbox (height, width) -> its infer request
        self.stream_requests: dict[tuple[int, int], list] = {}  # the same -> infer_many's requests, one per stream
        LOGGER.info("openvino %s: %s, %d threads", openvino.__version__, model_path,
                    self.config["INFERENCE_NUM_THREADS"])

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        hw = tensor.shape[:2]
        request = self.requests.get(hw) or self.compile(hw)
        return request.infer({0: tensor[None]})[0]

    def infer_many(self, tensors: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The output of each of `tensors` (as infer takes them), in order, while the next ones already run: one
        frame per stream, as many streams as OpenVINO's throughput mode makes of the threads. An error of `tensors`
        is raised after the outputs of the tensors before it; closed early, the running requests are waited for."""
        pending: deque = deque()  # (letterbox size, request) in the order submitted
        try:
            yield from self._in_flight(tensors, pending)
        finally:
            for _, request in pending:
                with contextlib.suppress(Exception):  # its error, if any, is not the one that ended the run
                    request.wait()

    def _in_flight(self, tensors: Iterable[np.ndarray], pending: deque) -> Iterator[np.ndarray]:
        def oldest_output() -> np.ndarray:
            request = pending.popleft()[1]
            request.wait()
            return request.get_output_tensor(0).data.copy()

        error = None
        try:
            for tensor in tensors:
                hw = tensor.shape[:2]
                requests = self.stream_requests.get(hw) or self.compile_streams(hw)
                while pending and (pending[-1][0] != hw or len(pending) == len(requests)):
                    yield oldest_output()
                request = next(free for free in requests if all(free is not busy for _, busy in pending))
                request.start_async({0: tensor[None]})
                pending.append((hw, request))
        except Exception as caught:  # e.g. a video that breaks off: the frames before it first
            error = caught
        while pending:
            yield oldest_output()
        if error is not None:
            raise error

    def compile(self, hw: tuple[int, int]):
        """The infer request of the model compiled for (height, width) letterboxed images, cached."""
        self.requests[hw] = self._compile(hw, self.config).create_infer_request()
        return self.requests[hw]

    def compile_streams(self, hw: tuple[int, int]) -> list:
        """infer_many's requests for (height, width) letterboxed images (throughput mode), cached: one per stream and
        one more queued behind them, so that a stream that finishes starts the next frame at once while this thread
        hands out the one it finished and prepares another."""
        compiled = self._compile(hw, {**self.config, "PERFORMANCE_HINT": "THROUGHPUT"})
        count = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") + 1
        self.stream_requests[hw] = [compiled.create_infer_request() for _ in range(count)]
        LOGGER.info("openvino: %d infer requests (OpenVINO's optimal number + 1) for %dx%d inputs", count, hw[1], hw[0])
        return self.stream_requests[hw]

    def _compile(self, hw: tuple[int, int], config: dict):
        model = self.model.clone()
        model.reshape({0: [1, *hw, 3]})
        compiled = self.core.compile_model(model, "CPU", config)
        LOGGER.info("openvino: compiled for %dx%d inputs (%s)", hw[1], hw[0], config["PERFORMANCE_HINT"].lower())
        return compiled


def use_compile_cache(core, folder: Path) -> Path | None:
    """Let OpenVINO keep compiled models in `folder` (its own key: model, configuration, device and version), so that
    a restarted node compiles a frame size in about a quarter of the time (docs/detector.md); None where the folder
    cannot be made (the node compiles without it)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        LOGGER.warning("openvino: no compile cache (%s); compiling each frame size anew", error)
        return None
    core.set_property({"CACHE_DIR": str(folder)})
    return folder


def with_bgr_input(model):
    """`model` (float RGB NCHW input in [0, 1]) taking uint8 BGR NHWC images instead."""
    from openvino import Layout, Type
    from openvino.preprocess import ColorFormat, PrePostProcessor

    steps = PrePostProcessor(model)
    steps.input().tensor().set_element_type(Type.u8).set_layout(Layout("NHWC")).set_color_format(ColorFormat.BGR)
    steps.input().model().set_layout(Layout("NCHW"))
    steps.input().preprocess().convert_element_type(Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return steps.build()


def openvino_input(model_path: Path) -> str | bytes:
    """What core.read_model reads: the ONNX's path, or for a Q/DQ ONNX the bytes of its OpenVINO encoding."""
    import onnx

    model = onnx.load(str(model_path))  # readable: read_onnx_info has loaded it
    return model.SerializeToString() if encode_for_openvino(model) else str(model_path)
