"""Offline evaluation of pipeline stages against benchmark ground truth."""
