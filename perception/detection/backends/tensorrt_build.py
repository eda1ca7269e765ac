"""Build a serialized TensorRT engine from an ONNX file (imported only when TensorRT is installed)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2

from perception.detection.preprocess import preprocess

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def calibration_images(folder: Path) -> list[Path]:
    images = sorted(path for path in Path(folder).iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"no calibration images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return images


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


def make_calibrator(trt, images: list[Path], input_hw: tuple[int, int], device: str, cache_file: Path):
    """An entropy calibrator feeding letterboxed images (the detector's own preprocessing) one at a time."""
    import torch

    class ImageCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.remaining = list(images)
            self.buffer = torch.empty((1, 3, *input_hw), dtype=torch.float32, device=device)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            while self.remaining:
                image = cv2.imread(str(self.remaining.pop(0)), cv2.IMREAD_COLOR)
                if image is not None:
                    tensor, _ = preprocess(image, input_hw, max(input_hw))
                    self.buffer.copy_(torch.from_numpy(tensor))
                    return [int(self.buffer.data_ptr())]
            return None

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: bytes) -> None:
            cache_file.write_bytes(bytes(cache))

    return ImageCalibrator()


def build_serialized_engine(
    trt,
    onnx_path: Path,
    input_shape: tuple[int, ...],
    precision: str,
    workspace_bytes: int,
    report: Callable[[str], None],
    calibrator=None,
) -> bytes:
    """Parse `onnx_path`, configure precision and workspace, and return the serialized engine.

    A dynamic-shape ONNX gets an optimization profile pinned to `input_shape`.
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode since TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    network_input = network.get_input(0)
    if any(size < 0 for size in network_input.shape):
        profile = builder.create_optimization_profile()
        profile.set_shape(network_input.name, input_shape, input_shape, input_shape)
        config.add_optimization_profile(profile)
        if calibrator is not None:
            config.set_calibration_profile(profile)
    monitor = make_progress_monitor(trt, report)
    config.progress_monitor = monitor
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # INT8 engines keep FP16 for layers without INT8 kernels
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see its log above)")
    return bytes(serialized)
