"""TensorRT engine cache key, rebuild decision and backend fallback, all without TensorRT."""
import argparse
import json
import sys

import pytest

from perception.detection.backends.engine_cache import CachedEngine, EngineKey, file_sha256, load_or_build
from perception.detection.backends.tensorrt_backend import split_ultralytics_engine
from perception.cli.detection import register
from perception.detection.errors import BackendUnavailableError
from perception.detection.factory import backend_candidates, create_detector

PROFILE = ((1, 3, 32, 32), (1, 3, 384, 640), (1, 3, 640, 640))
KEY = EngineKey("ab" * 32, "10.3.0", "NVIDIA H100", "fp16", PROFILE)


@pytest.fixture
def cache(tmp_path):
    return CachedEngine.for_model(tmp_path / "engines", tmp_path / "yolov8n_coco_640.onnx", KEY)


class FakeTensorRT:
    """Stands in for build_serialized_network / deserialize_cuda_engine."""

    def __init__(self, refuse: bytes = b"") -> None:
        self.builds = 0
        self.refuse = refuse  # bytes this "TensorRT version" cannot deserialize

    def build(self) -> bytes:
        self.builds += 1
        return b"engine-%d" % self.builds

    def deserialize(self, serialized: bytes):
        return None if serialized == self.refuse else ("engine", serialized)


def test_engine_path_names_model_precision_and_input_shapes(cache, tmp_path):
    assert cache.engine_path.name == "yolov8n_coco_640_fp16_32x32_384x640_640x640.engine"
    static = EngineKey.from_json({**KEY.to_json(), "input_profile": [[1, 3, 640, 640]] * 3})
    assert CachedEngine.for_model(tmp_path, tmp_path / "m.onnx", static).engine_path.name == "m_fp16_640x640.engine"


def test_first_use_builds_and_second_use_loads_the_cache(cache):
    trt = FakeTensorRT()
    messages = []
    first = load_or_build(cache, KEY, {0: "person"}, trt.build, trt.deserialize, messages.append)
    second = load_or_build(cache, KEY, {0: "person"}, trt.build, trt.deserialize, messages.append)
    assert first == second == ("engine", b"engine-1") and trt.builds == 1
    assert "no cached engine" in messages[0] and "loading cached" in messages[-1]
    assert cache.class_names() == {0: "person"}


@pytest.mark.parametrize(
    "field, value",
    [("tensorrt_version", "10.4.0"), ("gpu_name", "Orin"), ("onnx_sha256", "cd" * 32), ("precision", "int8"),
     ("input_profile", ((1, 3, 32, 32), (1, 3, 480, 640), (1, 3, 640, 640)))],
)
def test_any_key_change_triggers_a_rebuild(cache, field, value):
    trt = FakeTensorRT()
    load_or_build(cache, KEY, {}, trt.build, trt.deserialize, print)
    changed = EngineKey.from_json({**KEY.to_json(), field: value})
    assert field in cache.rebuild_reason(changed)
    assert load_or_build(cache, changed, {}, trt.build, trt.deserialize, print) == ("engine", b"engine-2")
    assert cache.rebuild_reason(changed) is None


def test_engine_tensorrt_refuses_is_rebuilt_instead_of_failing(cache):
    """The "version tag does not match" case: metadata agrees but TensorRT cannot deserialize."""
    load_or_build(cache, KEY, {}, FakeTensorRT().build, FakeTensorRT().deserialize, print)
    upgraded = FakeTensorRT(refuse=b"engine-1")
    upgraded.builds = 1
    assert load_or_build(cache, KEY, {}, upgraded.build, upgraded.deserialize, print) == ("engine", b"engine-2")


def test_missing_or_corrupt_metadata_means_rebuild(cache):
    load_or_build(cache, KEY, {}, FakeTensorRT().build, FakeTensorRT().deserialize, print)
    cache.metadata_path.write_text("{not json")
    assert "unreadable cache metadata" in cache.rebuild_reason(KEY)
    cache.metadata_path.write_text(json.dumps({"key": {**KEY.to_json(), "extra": 1}}))
    assert "unreadable" in cache.rebuild_reason(KEY)


def test_onnx_digest_is_content_based(tmp_path):
    paths = [tmp_path / name for name in ("a.onnx", "b.onnx", "c.onnx")]
    for path, content in zip(paths, (b"model", b"model", b"edited model")):
        path.write_bytes(content)
    assert file_sha256(paths[0]) == file_sha256(paths[1]) != file_sha256(paths[2])


def test_fallback_order():
    assert backend_candidates("tensorrt", fallback=True, gpu=True) == ("tensorrt", "torch", "onnxruntime")
    assert backend_candidates("torch", fallback=True, gpu=False) == ("torch", "onnxruntime")
    assert backend_candidates("tensorrt", fallback=False, gpu=True) == ("tensorrt",)
    assert backend_candidates("auto", fallback=False, gpu=False) == ("onnxruntime",)
    assert backend_candidates("auto", fallback=False, gpu=False, cpu_int8=True) == ("openvino", "onnxruntime")
    assert backend_candidates("openvino", fallback=True, gpu=False) == ("openvino", "onnxruntime")
    assert backend_candidates("auto", fallback=False, gpu=True) == ("tensorrt", "torch", "onnxruntime")
    with pytest.raises(ValueError, match="backend must be one of"):
        backend_candidates("coreml", fallback=True, gpu=False)


def test_without_tensorrt_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    with pytest.raises(BackendUnavailableError, match="pip install tensorrt"):
        create_detector(backend="tensorrt")


def test_fallback_from_tensorrt_reaches_the_next_backend(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    messages = []
    detector = create_detector(backend="tensorrt", fallback=True, device="cpu", status_callback=messages.append)
    assert detector.backend_name == "torch"
    assert "backend tensorrt unavailable" in caplog.text
    assert messages[-1].startswith("starting torch backend")


def test_ultralytics_engine_metadata_is_split_off():
    metadata = json.dumps({"names": {"0": "person"}}).encode()
    content = len(metadata).to_bytes(4, "little") + metadata + b"ENGINE"
    assert split_ultralytics_engine(content) == ({"names": {"0": "person"}}, b"ENGINE")
    assert split_ultralytics_engine(b"ftrt\x00\x01plain engine") == ({}, b"ftrt\x00\x01plain engine")


def test_build_engine_cli_without_tensorrt_fails_with_install_hint(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["build-engine", "--imgsz", "320"])
    assert args.func(args) == 2
    assert "pip install tensorrt" in capsys.readouterr().err
