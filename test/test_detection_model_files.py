"""Missing, corrupt and mismatched model files give errors that say what is wrong."""
import shutil

import pytest

from perception.detection import DetectorSetupError, ModelFileError, create_detector
from perception.detection.model_files import DEFAULT_MODEL, model_for_backend
from perception.resources import model_path


@pytest.fixture
def truncated_models(tmp_path):
    """Copies of the bundled .pt and ONNX cut to half their size."""
    for name in (DEFAULT_MODEL, "yolov8n_coco_640.onnx"):
        content = model_path(name).read_bytes()
        (tmp_path / name).write_bytes(content[: len(content) // 2])
    return tmp_path


def test_missing_model_names_the_path(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found: .*nowhere.onnx"):
        create_detector(model=tmp_path / "nowhere.onnx", backend="onnxruntime")


@pytest.mark.parametrize("backend, name", [("onnxruntime", "yolov8n_coco_640.onnx"), ("torch", DEFAULT_MODEL)])
def test_corrupt_model_is_reported_as_such(truncated_models, backend, name):
    with pytest.raises(ModelFileError, match="corrupt|not a loadable"):
        create_detector(model=truncated_models / name, backend=backend, device="cpu")


def test_wrong_model_kind_for_backend(tmp_path):
    engine = tmp_path / "detector.engine"
    engine.write_bytes(b"x")
    with pytest.raises(ModelFileError, match="torch backend loads .pt"):
        model_for_backend(engine, "torch", 640)


def test_one_model_argument_serves_every_backend(tmp_path):
    for name in (DEFAULT_MODEL, "yolov8n_coco_320.onnx", "yolov8n_coco_dynamic.onnx"):
        shutil.copy(model_path(name), tmp_path / name)
    pt = tmp_path / DEFAULT_MODEL
    assert model_for_backend(pt, "onnxruntime", 320).name == "yolov8n_coco_dynamic.onnx"
    assert model_for_backend(pt, "tensorrt", 320).name == "yolov8n_coco_dynamic.onnx"
    assert model_for_backend(tmp_path / "yolov8n_coco_320.onnx", "torch", 320) == pt
    (tmp_path / "yolov8n_coco_dynamic.onnx").unlink()
    assert model_for_backend(pt, "tensorrt", 320).name == "yolov8n_coco_320.onnx"
    with pytest.raises(ModelFileError, match="yolov8n_coco_640.onnx"):
        model_for_backend(pt, "tensorrt", 640)


def test_static_onnx_of_another_size_is_refused():
    with pytest.raises(ValueError, match="imgsz=640"):
        create_detector(model=model_path("yolov8n_coco_320.onnx"), backend="onnxruntime", imgsz=640)


def test_all_backends_failing_lists_every_reason(tmp_path):
    with pytest.raises(DetectorSetupError, match="(?s)torch: .*onnxruntime: "):
        create_detector(model=tmp_path / "absent.pt", backend="torch", fallback=True)


@pytest.fixture
def unreadable_checkpoint(tmp_path):
    """A .pt Ultralytics fails on with AttributeError (not a setup error type), and the ONNX beside it."""
    import torch

    torch.save([1, 2], tmp_path / "broken.pt")
    shutil.copy(model_path("yolov8n_coco_320.onnx"), tmp_path / "broken_320.onnx")
    return tmp_path / "broken.pt"


def test_a_backend_raising_an_unexpected_exception_falls_back_to_the_next(unreadable_checkpoint, caplog):
    detector = create_detector(model=unreadable_checkpoint, backend="torch", fallback=True, imgsz=320)
    assert detector.backend_name == "onnxruntime"
    assert "detector backend torch unavailable: AttributeError: 'list' object has no attribute 'model'" in caplog.text


def test_an_unexpected_exception_of_the_only_backend_is_a_setup_error_naming_it(unreadable_checkpoint):
    with pytest.raises(DetectorSetupError, match="the torch backend failed to start: AttributeError: 'list' object"):
        create_detector(model=unreadable_checkpoint, backend="torch", imgsz=320)
