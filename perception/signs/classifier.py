"""Run the 43-class sign classifier (ONNX Runtime) on crops of detected boxes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.signs.training_data import CROP_SIZE, crop_sign


def export_classifier_onnx(state_dict_path: Path, output: Path) -> Path:
    """Export the trained SignNet to ONNX: input `crops` (N, 3, 32, 32) RGB in [0, 1], output `probabilities`."""
    import torch

    from perception.signs.classifier_model import SignNet

    model = SignNet()
    model.load_state_dict(torch.load(state_dict_path, map_location="cpu"))
    model.eval()
    wrapped = torch.nn.Sequential(model, torch.nn.Softmax(dim=1))
    torch.onnx.export(
        wrapped, torch.zeros(1, 3, CROP_SIZE, CROP_SIZE), str(output), input_names=["crops"],
        output_names=["probabilities"], dynamic_axes={"crops": {0: "n"}, "probabilities": {0: "n"}}, opset_version=17,
        dynamo=False,
    )
    return output


class SignClassifier:
    """Class ids and probabilities of signs, given an image and their xyxy boxes."""

    def __init__(self, model_path: str | Path, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def classify(self, image_bgr: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class ids (N,), their probabilities (N,)) for N boxes of the BGR image."""
        if len(boxes) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        crops = np.stack([crop_sign(image_bgr, box) for box in boxes])
        tensor = np.ascontiguousarray(crops[..., ::-1].transpose(0, 3, 1, 2)).astype(np.float32) / 255.0
        probabilities = self.session.run(None, {"crops": tensor})[0]
        class_ids = probabilities.argmax(axis=1)
        return class_ids.astype(np.int64), probabilities[np.arange(len(boxes)), class_ids].astype(np.float32)
