"""Train the sign classifier on GTSRB crops (split by track) + GTSDB training-scene crops."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from perception.signs.gtsdb import NUM_CLASSES


@dataclass
class ClassifierData:
    train_images: np.ndarray  # (N, 32, 32, 3) uint8 BGR
    train_labels: np.ndarray
    held_out_images: np.ndarray
    held_out_labels: np.ndarray


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random rotation (+-10 deg), scale (0.9-1.1), shift (+-2 px), brightness and contrast; never a mirror
    (a mirrored 'keep right' is 'keep left')."""
    size = image.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-10, 10), rng.uniform(0.9, 1.1))
    matrix[:, 2] += rng.uniform(-2, 2, size=2)
    warped = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)
    gain, offset = rng.uniform(0.6, 1.4), rng.uniform(-30, 30)
    return np.clip(warped.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


def to_tensor_batch(images: np.ndarray):
    """(N, H, W, 3) uint8 BGR -> (N, 3, H, W) float RGB in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images[..., ::-1].transpose(0, 3, 1, 2))).float() / 255.0


def class_balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Sampling weight per example: 1 / sqrt(class count), so rare classes are drawn more often (with augmentation)."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    weights = 1.0 / np.sqrt(np.maximum(counts[labels], 1.0))
    return weights / weights.sum()


def accuracy(model, images: np.ndarray, labels: np.ndarray, batch: int = 512) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            logits = model(to_tensor_batch(images[start : start + batch]))
            correct += int((logits.argmax(1).numpy() == labels[start : start + batch]).sum())
    return correct / max(1, len(images))


def train_classifier(data: ClassifierData, epochs: int, seed: int, output: Path, batch: int = 64) -> float:
    """Train SignNet with AdamW + cosine schedule; saves the state dict to `output`; returns held-out accuracy."""
    import torch
    from torch import nn
    from tqdm import tqdm

    from perception.signs.classifier_model import SignNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SignNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps_per_epoch = len(data.train_labels) // batch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    weights = class_balanced_weights(data.train_labels)
    for epoch in range(epochs):
        model.train()
        started = time.perf_counter()
        order = rng.choice(len(data.train_labels), size=steps_per_epoch * batch, p=weights)
        progress = tqdm(range(steps_per_epoch), desc=f"classifier epoch {epoch + 1}/{epochs}", mininterval=10)
        for step in progress:
            indices = order[step * batch : (step + 1) * batch]
            images = np.stack([augment(data.train_images[i], rng) for i in indices])
            loss = loss_fn(model(to_tensor_batch(images)), torch.from_numpy(data.train_labels[indices]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        held_out = accuracy(model, data.held_out_images, data.held_out_labels)
        print(f"epoch {epoch + 1}: held-out GTSRB track accuracy {held_out:.4f} ({time.perf_counter() - started:.0f} s)",
              flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), output)
    return held_out
