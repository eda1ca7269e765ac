"""Inference backends: each turns a (1, 3, H, W) float32 tensor into the raw (1, 4 + classes, N) head output."""
