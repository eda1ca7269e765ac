"""Errors raised while setting up a detector; each message says what is wrong and what to do."""
from __future__ import annotations


class DetectorSetupError(RuntimeError):
    """A detector could not be created."""


class BackendUnavailableError(DetectorSetupError):
    """A backend cannot run here (module not installed, no CUDA device, ...)."""


class ModelFileError(DetectorSetupError):
    """A model file is missing, corrupt, or of a kind the backend cannot use."""
