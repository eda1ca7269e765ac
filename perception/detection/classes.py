"""Map the detector's own class names (e.g. COCO) onto perception's ObjectClass."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from perception.types import ObjectClass

DEFAULT_CLASS_MAP = "coco_classes.yaml"  # in the installed config folder
UNKNOWN_CLASS_POLICIES = ("drop", "keep")


@dataclass(frozen=True)
class ClassMapConfig:
    """Detector class name -> ObjectClass, and what to do with names not listed."""

    classes: Mapping[str, ObjectClass]
    unknown_classes: str = "drop"

    def __post_init__(self) -> None:
        if self.unknown_classes not in UNKNOWN_CLASS_POLICIES:
            raise ValueError(f"unknown_classes must be one of {UNKNOWN_CLASS_POLICIES}, got {self.unknown_classes!r}")

    @classmethod
    def from_yaml(cls, path: str | Path, unknown_classes: str | None = None) -> "ClassMapConfig":
        """Read a class map file; `unknown_classes` overrides the file's policy when given."""
        with open(path, encoding="utf-8") as stream:
            content = yaml.safe_load(stream)
        try:
            classes = {name: ObjectClass[target] for name, target in content["classes"].items()}
        except KeyError as error:
            raise ValueError(f"{path}: {error} is not a valid key or ObjectClass name") from error
        return cls(classes, unknown_classes or content.get("unknown_classes", "drop"))

    def resolve(self, detector_names: Mapping[int, str]) -> "ClassMap":
        """Bind this map to a model's class indices."""
        missing = set(self.classes) - set(detector_names.values())
        if missing:
            raise ValueError(f"class map names {sorted(missing)} are not classes of the model")
        fallback = ObjectClass.UNKNOWN if self.unknown_classes == "keep" else None
        labels = np.full(max(detector_names) + 1, -1, np.int64)
        for index, name in detector_names.items():
            target = self.classes.get(name, fallback)
            labels[index] = -1 if target is None else int(target)
        return ClassMap(labels)


@dataclass(frozen=True)
class ClassMap:
    """ObjectClass value per detector class index (-1: dropped)."""

    labels: np.ndarray

    @property
    def kept_class_ids(self) -> np.ndarray:
        return np.flatnonzero(self.labels >= 0)

    def to_labels(self, class_ids: np.ndarray) -> np.ndarray:
        return self.labels[class_ids]
