"""CUDA device checks shared by the GPU backends (torch is imported only when asked)."""
from __future__ import annotations

import os

from perception.detection.errors import BackendUnavailableError


# Device nodes of an NVIDIA driver: discrete GPUs (/dev/nvidia0) and Jetson's integrated GPU (/dev/nvhost-ctrl).
NVIDIA_DEVICE_NODES = ("/dev/nvidia0", "/dev/nvhost-ctrl", "/proc/driver/nvidia/version")


def cuda_available() -> bool:
    """True when torch sees a CUDA GPU; without an NVIDIA driver on the machine, torch (~0.5 GB) is not loaded."""
    if not any(os.path.exists(node) for node in NVIDIA_DEVICE_NODES):
        return False
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def require_cuda(backend: str, device: str) -> str:
    """`device` normalised to "cuda:<index>", or a clear error when no CUDA GPU is usable."""
    if not device.startswith("cuda"):
        raise BackendUnavailableError(f"the {backend} backend runs on a CUDA GPU, not on {device!r}")
    if not cuda_available():
        raise BackendUnavailableError(
            f"the {backend} backend needs a CUDA GPU, and torch sees none: "
            "install the NVIDIA driver and a CUDA build of torch, or use the onnxruntime backend on CPU"
        )
    return device if ":" in device else "cuda:0"
