"""COCO -> ObjectClass mapping from config/coco_classes.yaml."""
import numpy as np
import pytest

from perception.detection.classes import DEFAULT_CLASS_MAP, ClassMapConfig
from perception.detection.model_files import read_onnx_info
from perception.resources import config_path, model_path
from perception.types import ObjectClass

CONFIG = config_path(DEFAULT_CLASS_MAP)
NAMES = read_onnx_info(model_path("yolov8n_coco_640.onnx")).names  # the 80 COCO classes


def test_driving_classes_map_to_object_classes():
    class_map = ClassMapConfig.from_yaml(CONFIG).resolve(NAMES)
    labels = class_map.to_labels(np.array([0, 1, 2, 9, 11]))
    assert [ObjectClass(label) for label in labels] == [
        ObjectClass.PEDESTRIAN, ObjectClass.BICYCLE, ObjectClass.CAR, ObjectClass.TRAFFIC_LIGHT, ObjectClass.TRAFFIC_SIGN
    ]


def test_unlisted_classes_are_dropped_or_kept_as_unknown():
    dropped = ClassMapConfig.from_yaml(CONFIG, unknown_classes="drop").resolve(NAMES)
    kept = ClassMapConfig.from_yaml(CONFIG, unknown_classes="keep").resolve(NAMES)
    assert 15 not in dropped.kept_class_ids
    assert kept.to_labels(np.array([15])).tolist() == [ObjectClass.UNKNOWN]


def test_invalid_class_maps_are_rejected(tmp_path):
    bad_target = tmp_path / "bad.yaml"
    bad_target.write_text("classes:\n  person: WALKER\n")
    with pytest.raises(ValueError, match="WALKER"):
        ClassMapConfig.from_yaml(bad_target)
    with pytest.raises(ValueError, match="unknown_classes"):
        ClassMapConfig.from_yaml(CONFIG, unknown_classes="maybe")
    with pytest.raises(ValueError, match="not classes of the model"):
        ClassMapConfig.from_yaml(CONFIG).resolve({0: "person"})
