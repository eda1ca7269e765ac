"""Models loaded once per process and shared by the pipelines made after (a fleet worker evaluates many bags)."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class ModelCache:
    """Loaded models by kind and the parameters that made them."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, parameters: dict[str, Any], load: Callable[[], T]) -> T:
        """The model of this kind and these parameters, loaded with `load` the first time it is asked for."""
        key = (kind, json.dumps(parameters, sort_keys=True, default=str))
        with self._lock:
            if key not in self._models:
                self._models[key] = load()
            return self._models[key]
