"""The predictor network's forward pass for the runtime: ONNX Runtime, or eager torch.

A node predicts a few to a few dozen tracks per frame. At that size eager torch spends most of its time in
per-operator overhead (about 1.5 ms for 7 tracks on one thread, against about 0.4 ms for the same graph on ONNX
Runtime), so the runtime exports the loaded checkpoint to ONNX in memory and runs that; the export is done once
per checkpoint file and process. Where the export or the session fails, the predictor runs eager torch and says
why (`TorchForward`, `reason`).
"""
from __future__ import annotations

import inspect
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from perception.prediction.model import TrajectoryRNN
from perception.prediction.neighbours import MAX_NEIGHBOURS, STATE_SIZE

LOGGER = logging.getLogger(__name__)
ONNX_OPSET = 17
ONNXRUNTIME = "onnxruntime"
TORCH = "torch"
RUNTIMES = (ONNXRUNTIME, TORCH)
OUTPUT_NAMES = ["means", "covariances", "probabilities"]

# means (B, modes, pred_len, 2), covariances (B, modes, pred_len, 3), probabilities (B, modes), float32
Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]


class TorchForward:
    """The checkpoint's model in eager torch."""

    runtime = TORCH

    def __init__(self, model: TrajectoryRNN, reason: str = "") -> None:
        self.model = model
        self.reason = reason  # why not ONNX Runtime ("" where torch was asked for)

    def __call__(self, observed: np.ndarray, classes: np.ndarray, neighbours: np.ndarray | None = None,
                 present: np.ndarray | None = None, velocities: np.ndarray | None = None) -> Outputs:
        def tensor(array: np.ndarray | None) -> torch.Tensor | None:
            return None if array is None else torch.from_numpy(array)

        with torch.no_grad():
            outputs = self.model.forward_modes(tensor(observed), tensor(neighbours), tensor(present),
                                               classes=tensor(classes), velocities=tensor(velocities))
        return tuple(output.numpy() for output in outputs)


class OnnxForward:
    """The checkpoint's model exported to ONNX, on one ONNX Runtime CPU thread."""

    runtime = ONNXRUNTIME
    reason = ""

    def __init__(self, onnx_model: bytes) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # small batches: threads only contend
        self._session = onnxruntime.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]  # the exporter drops inputs a model ignores

    def __call__(self, observed: np.ndarray, classes: np.ndarray, neighbours: np.ndarray | None = None,
                 present: np.ndarray | None = None, velocities: np.ndarray | None = None) -> Outputs:
        given = {"observed": observed, "classes": classes, "neighbours": neighbours, "present": present,
                 "velocities": velocities}
        means, covariances, probabilities = self._session.run(None, {name: given[name] for name in self._inputs})
        return means, covariances, probabilities


class _ExportedModel(nn.Module):
    """The model with its inputs, named by `names`, in a fixed order, for the exporter."""

    def __init__(self, model: TrajectoryRNN, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        given = dict(zip(self.names, inputs))
        return self.model.forward_modes(given["observed"], given.get("neighbours"), given.get("present"),
                                        classes=given["classes"], velocities=given.get("velocities"))


def export_onnx(model: TrajectoryRNN) -> bytes:
    """The model as an ONNX graph with a dynamic batch size (inputs observed, classes [, neighbours, present]
    [, velocities]; outputs every mode's means and covariances and the modes' probabilities)."""
    batch = 2
    inputs = [torch.zeros(batch, model.config.obs_len, 2), torch.zeros(batch, dtype=torch.long)]
    names = ["observed", "classes"]
    if model.config.neighbour_radius is not None:
        inputs += [torch.zeros(batch, MAX_NEIGHBOURS, STATE_SIZE), torch.zeros(batch, MAX_NEIGHBOURS, dtype=torch.bool)]
        names += ["neighbours", "present"]
    if model.config.uses_velocity:
        inputs.append(torch.zeros(batch, 2))
        names.append("velocities")
    # the TorchScript-based exporter: it needs no onnx/onnxscript packages (torch >= 2.5 would default to dynamo)
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
        torch.onnx.export(_ExportedModel(model, names), tuple(inputs), buffer, input_names=names,
                          output_names=OUTPUT_NAMES, opset_version=ONNX_OPSET,
                          dynamic_axes={name: {0: "batch"} for name in names + OUTPUT_NAMES}, **legacy)
    return buffer.getvalue()


# export_onnx of each checkpoint file loaded in this process, by (resolved path, modification time): a changed file
# is exported again
_EXPORTED: dict[tuple[Path, int], bytes] = {}


def forward_for(model: TrajectoryRNN, checkpoint: Path, runtime: str = ONNXRUNTIME) -> TorchForward | OnnxForward:
    """The forward pass of `model`, loaded from `checkpoint`, on `runtime`; eager torch (with the reason, logged)
    where ONNX Runtime cannot run it."""
    if runtime not in RUNTIMES:
        raise ValueError(f"predictor runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == TORCH:
        return TorchForward(model)
    try:
        key = checkpoint.resolve(), checkpoint.stat().st_mtime_ns
        if key not in _EXPORTED:
            _EXPORTED[key] = export_onnx(model)
        return OnnxForward(_EXPORTED[key])
    except Exception as error:  # noqa: BLE001 - any exporter or session failure: the same model in torch
        reason = f"ONNX Runtime unavailable for {checkpoint.name} ({type(error).__name__}: {error}); eager torch"
        LOGGER.warning("predictor: %s", reason)
        return TorchForward(model, reason)
