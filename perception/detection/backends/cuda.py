"""CUDA device checks shared by the GPU backends (torch is imported only when asked)."""
from __future__ import annotations

from perception.detection.errors import BackendUnavailableError


def cuda_available() -> bool:
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
