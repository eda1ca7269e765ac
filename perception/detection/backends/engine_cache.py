"""TensorRT engine cache: which engine fits this ONNX/TensorRT/GPU/precision/input shapes, and when to rebuild.

Pure Python (no TensorRT import), so the decisions are testable anywhere. An engine lives at a path
named after the ONNX stem, precision and input shapes; a JSON file beside it records the full key.
A key mismatch (new TensorRT, other GPU, edited ONNX, ...) or an engine TensorRT refuses to
deserialize ("version tag does not match") triggers a rebuild that overwrites it.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

DEFAULT_CACHE_DIR = Path(os.environ.get("PERCEPTION_ENGINE_CACHE", Path.home() / ".cache" / "perception" / "engines"))
PRECISIONS = ("fp32", "fp16", "int8")
Engine = TypeVar("Engine")


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    precision: str
    input_profile: tuple[tuple[int, ...], ...]  # (min, opt, max) input shapes; all three equal for a static input

    def to_json(self) -> dict:
        return {**asdict(self), "input_profile": [list(shape) for shape in self.input_profile]}

    @classmethod
    def from_json(cls, content: dict) -> "EngineKey":
        return cls(**{**content, "input_profile": tuple(tuple(shape) for shape in content["input_profile"])})


@dataclass(frozen=True)
class CachedEngine:
    engine_path: Path
    metadata_path: Path

    @classmethod
    def for_model(cls, cache_dir: Path, onnx_path: Path, key: EngineKey) -> "CachedEngine":
        shapes = dict.fromkeys("x".join(str(size) for size in shape[2:]) for shape in key.input_profile)
        engine_path = Path(cache_dir) / f"{onnx_path.stem}_{key.precision}_{'_'.join(shapes)}.engine"
        return cls(engine_path, engine_path.with_suffix(".json"))

    def rebuild_reason(self, key: EngineKey) -> str | None:
        """Why the cached engine cannot serve `key`, or None if it can."""
        if not self.engine_path.is_file():
            return "no cached engine"
        try:
            stored = EngineKey.from_json(json.loads(self.metadata_path.read_text())["key"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            return f"unreadable cache metadata ({error})"
        changed = [name for name, value in key.to_json().items() if stored.to_json().get(name) != value]
        return f"cached engine differs in {', '.join(changed)}" if changed else None

    def class_names(self) -> dict[int, str]:
        return {int(index): name for index, name in json.loads(self.metadata_path.read_text())["names"].items()}

    def store(self, engine: bytes, key: EngineKey, names: dict[int, str]) -> None:
        """Write engine then metadata, each atomically, so a crash never leaves a key pointing at a bad engine."""
        self.engine_path.parent.mkdir(parents=True, exist_ok=True)
        self.metadata_path.unlink(missing_ok=True)
        _write_atomically(self.engine_path, engine)
        _write_atomically(self.metadata_path, json.dumps({"key": key.to_json(), "names": names}, indent=1).encode())


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_or_build(
    cache: CachedEngine,
    key: EngineKey,
    names: dict[int, str],
    build: Callable[[], bytes],
    deserialize: Callable[[bytes], Engine | None],
    report: Callable[[str], None],
) -> Engine:
    """Deserialize the cached engine if its key matches, else build, store and deserialize a new one."""
    reason = cache.rebuild_reason(key)
    if reason is None:
        report(f"loading cached TensorRT engine {cache.engine_path}")
        engine = deserialize(cache.engine_path.read_bytes())
        if engine is not None:
            return engine
        reason = "TensorRT could not deserialize the cached engine"
    report(f"building TensorRT engine {cache.engine_path.name}: {reason}")
    serialized = build()
    cache.store(serialized, key, names)
    engine = deserialize(serialized)
    if engine is None:
        raise RuntimeError(f"TensorRT could not deserialize the engine it just built ({cache.engine_path})")
    return engine
