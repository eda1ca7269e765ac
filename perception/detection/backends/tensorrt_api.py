"""What differs between the TensorRT versions the backend runs with (10.3+, as on JetPack 6.1/6.2, and 11.x).

TensorRT 11 removed weak typing: BuilderFlag.FP16/INT8, the INT8 calibrators, `int8_calibrator` and
`set_calibration_profile` are gone, every network is strongly typed, NetworkDefinitionCreationFlag.STRONGLY_TYPED
is a deprecated no-op and EXPLICIT_BATCH no longer exists. TensorRT 10 builds a strongly typed network when
asked with that flag. So the backend builds strongly typed networks on both, and precision comes from the ONNX
(an fp16 ONNX; a Q/DQ ONNX for INT8), never from builder flags. The rest of the API the backend uses
(name-based tensors, `set_tensor_address`, `execute_async_v3`, optimization profiles, IProgressMonitor) is
the same in 10.3 and 11.x; this module is the one place that knows the versions apart.
"""
from __future__ import annotations

from perception.detection.errors import BackendUnavailableError

MINIMUM_VERSION = (10, 3)
ALWAYS_STRONGLY_TYPED = (11, 0)  # from this version on, strong typing needs (and takes) no flag


def tensorrt_version(trt) -> tuple[int, int]:
    """(major, minor) of the imported tensorrt module."""
    major, minor = str(trt.__version__).split(".")[:2]
    return int(major), int(minor)


def check_supported(trt) -> None:
    """Raise BackendUnavailableError for a TensorRT without the strongly typed, name-based API used here."""
    if tensorrt_version(trt) < MINIMUM_VERSION:
        raise BackendUnavailableError(
            f"TensorRT {trt.__version__} is too old: the tensorrt backend needs TensorRT 10.3 or newer "
            "(JetPack 6.1 or later on Jetson)"
        )


def strongly_typed_network_flags(trt) -> int:
    """The `create_network` flags of a strongly typed network on this TensorRT."""
    if tensorrt_version(trt) >= ALWAYS_STRONGLY_TYPED:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
