"""create_detector: pick a backend (with optional fallback), resolve its model file, bind the class map."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from perception.detection.backends.base import InferenceBackend
from perception.detection.backends.cuda import cuda_available
from perception import resources
from perception.detection.classes import DEFAULT_CLASS_MAP, ClassMapConfig
from perception.detection.detector import Detector
from perception.detection.errors import DetectorSetupError
from perception.detection.model_files import int8_sibling, model_for_backend
from perception.detection.preprocess import STRIDE

LOGGER = logging.getLogger(__name__)
FALLBACK_ORDER = ("tensorrt", "torch", "onnxruntime")
BACKENDS = ("auto", *FALLBACK_ORDER, "openvino")  # openvino falls back to onnxruntime
PRECISIONS = ("auto", "fp32", "fp16", "int8")


def backend_candidates(backend: str, fallback: bool, gpu: bool, cpu_int8: bool = False) -> tuple[str, ...]:
    """Backends to try, in order. "auto" is TensorRT-first with fallback on a GPU; on a CPU it is OpenVINO INT8
    (falling back to ONNX Runtime) where the model has an INT8 copy and float is not asked for (`cpu_int8`; on the
    idle 2-core build machine it took less time and processor time per frame, and the demo kept up with more
    frames: README), else ONNX Runtime float."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        if gpu:
            return FALLBACK_ORDER
        return ("openvino", "onnxruntime") if cpu_int8 else ("onnxruntime",)
    if backend == "openvino":
        return ("openvino", "onnxruntime") if fallback else ("openvino",)
    return FALLBACK_ORDER[FALLBACK_ORDER.index(backend) :] if fallback else (backend,)


def backend_precision(backend: str, precision: str, model: str | Path | None) -> str:
    """The precision `backend` runs at. "auto": INT8 on OpenVINO where the model has its Q/DQ copy (the bundled one
    does) and OpenVINO has 8-bit kernels for this CPU (every x86 CPU with SSE4.1: even on AVX2 without VNNI, the least
    favourable, INT8 inference took 0.6x of float's time: docs/results.md), fp16 on TensorRT, else float32. ONNX
    Runtime runs that Q/DQ file (precision int8), but measured slower than the float one on it (README, Detector)."""
    if precision != "auto":
        return precision
    if backend == "tensorrt":
        return "fp16"
    return "int8" if backend == "openvino" and int8_sibling(model) is not None and cpu_has_int8_kernels() else "fp32"


@functools.cache
def cpu_has_int8_kernels() -> bool:
    """Whether OpenVINO lists INT8 among the CPU's optimization capabilities (False without OpenVINO)."""
    try:
        import openvino
    except ImportError:
        return False
    return "INT8" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def setup_failure_reason(error: Exception) -> str:
    """One line saying why a backend could not start; unexpected exception types are named."""
    if isinstance(error, DetectorSetupError):
        return str(error)
    return f"{type(error).__name__}: {' '.join(str(error).split()) or '(no message)'}"


def open_backend(
    name: str, model_path: Path, imgsz: int, device: str | None, precision: str, options: Mapping
) -> InferenceBackend:
    """Instantiate one backend; its module is imported only now, so missing libraries fail here."""
    if name != "tensorrt" and precision == "fp16" or name == "torch" and precision == "int8":
        raise DetectorSetupError(f"the {name} backend has no {precision} path here (precision fp32 or auto)")
    if name == "onnxruntime":
        from perception.detection.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model_path, device, threads=options.get("threads"))
    if name == "openvino":
        from perception.detection.backends.openvino_backend import OpenVinoBackend

        return OpenVinoBackend(model_path, device, threads=options.get("threads"), cache_dir=options.get("cache_dir"))
    if name == "torch":
        from perception.detection.backends.torch_backend import TorchBackend

        return TorchBackend(model_path, device, half=options.get("half"))
    from perception.detection.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(
        model_path,
        imgsz,
        device,
        precision=precision,
        workspace_gb=options.get("workspace_gb", 4.0),
        cache_dir=options.get("cache_dir"),
        report=options.get("status_callback") or LOGGER.info,
    )


def create_detector(
    model: str | Path | None = None,
    backend: str = "auto",
    imgsz: int = 640,
    conf: float = 0.25,
    iou: float = 0.45,
    device: str | None = None,
    fallback: bool = False,
    precision: str = "auto",
    class_map: str | Path | ClassMapConfig | None = None,
    unknown_classes: str | None = None,
    max_detections: int = 300,
    upscale: bool = True,
    status_callback: Callable[[str], None] | None = None,
    **backend_options,
) -> Detector:
    """A ready detector.

    model: Ultralytics .pt, Ultralytics-exported ONNX, or TensorRT engine (default: the installed
        models/yolov8n_coco.pt and its ONNX siblings).
    backend: "auto", "tensorrt", "torch", "onnxruntime" or "openvino" (INT8); with fallback=True the ones after it in
        FALLBACK_ORDER (after openvino: onnxruntime) are tried when it cannot run, whatever it raised (each failure
        is logged); an unexpected exception of the last candidate is raised as DetectorSetupError naming its type.
    precision: "auto" (INT8 on OpenVINO where the model has an INT8 copy, as the bundled one has; fp16 on TensorRT;
        else float32), "fp32" (the float model), "fp16" (TensorRT builds an fp16 copy of the float ONNX), "int8"
        (beside a .pt: the Q/DQ `<stem>_int8.onnx`, on every backend but torch).
    upscale: False keeps frames smaller than imgsz at their own size (dynamic-shape backends; fixed inputs letterbox).
    class_map: a class map YAML or ClassMapConfig (default: the installed config/coco_classes.yaml); unknown_classes
        ("drop" or "keep") overrides its policy.
    status_callback: called with progress messages, e.g. while a TensorRT engine builds.
    backend_options: threads (onnxruntime, openvino); half (torch); workspace_gb (tensorrt); cache_dir (tensorrt's
        engines, openvino's compiled models under <cache_dir>/openvino; default ~/.cache/perception/engines or
        $PERCEPTION_ENGINE_CACHE).
    """
    if imgsz % STRIDE:
        raise ValueError(f"imgsz must be a multiple of {STRIDE}, got {imgsz}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if not isinstance(class_map, ClassMapConfig):
        class_map = ClassMapConfig.from_yaml(class_map or resources.config_path(DEFAULT_CLASS_MAP), unknown_classes)
    report = status_callback or LOGGER.info
    gpu = cuda_available() if backend == "auto" else False
    cpu_int8 = precision in ("auto", "int8") and int8_sibling(model) is not None
    candidates = backend_candidates(backend, fallback, gpu, cpu_int8)
    failures: list[str] = []
    for name in candidates:
        try:
            name_precision = backend_precision(name, precision, model)
            model_path = model_for_backend(model, name, imgsz, int8=name_precision == "int8")
            report(f"starting {name} backend ({name_precision}) with {model_path}")
            instance = open_backend(
                name, model_path, imgsz, device, name_precision, {**backend_options, "status_callback": report})
        except Exception as error:  # any failure of one backend (a library's own exception too) tries the next
            reason = setup_failure_reason(error)
            expected = isinstance(error, DetectorSetupError)
            LOGGER.warning("detector backend %s unavailable: %s", name, reason, exc_info=not expected)
            if len(candidates) == 1:
                if expected:
                    raise
                raise DetectorSetupError(f"the {name} backend failed to start: {reason}") from error
            failures.append(f"{name}: {reason}")
            continue
        if instance.input_hw is not None and max(instance.input_hw) != imgsz:
            raise ValueError(f"{model_path} takes {instance.input_hw} inputs, but imgsz={imgsz} was requested")
        LOGGER.info("detector backend: %s (%s)", name, model_path)
        return Detector(instance, class_map.resolve(instance.class_names), imgsz, conf, iou, max_detections, upscale)
    raise DetectorSetupError("no detector backend could start:\n  " + "\n  ".join(failures))
