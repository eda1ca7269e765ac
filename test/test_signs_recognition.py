"""The bundled sign detector + classifier on real GTSDB scenes of the held-out validation part (00480-00599)."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from perception.datasets.gtsdb import read_sign_file
from perception.detection.backends.tensorrt_build import network_onnx
from perception.detection.factory import backend_precision, create_detector
from perception.detection.postprocess import box_iou
from perception.resources import model_path
from perception.signs.gtsdb import sign_name
from perception.signs.recognizer import DETECTOR_MODEL, SIGN_CLASS_MAP, SignRecognizer
from perception.types import ObjectClass

SPEED_LIMIT_30_SCENE = "00494.jpg"  # gt.txt: 00494.jpg;1113;300;1211;395;1
GIVE_WAY_SCENE = "00499.jpg"  # gt.txt: 00499.jpg;1009;497;1056;539;13


@pytest.fixture(scope="module")
def gtsdb(shared_data):
    return shared_data / "signs" / "gtsdb" / "train"


@pytest.fixture(scope="module")
def recognizer():
    return SignRecognizer(threads=1)


@pytest.mark.parametrize("scene, class_id", [(SPEED_LIMIT_30_SCENE, 1), (GIVE_WAY_SCENE, 13)])
def test_sign_found_and_read(recognizer, gtsdb, scene, class_id):
    truth = read_sign_file(gtsdb / "gt.txt")[scene]
    expected = truth.boxes[truth.class_ids == class_id][0] + np.array([0, 0, 1, 1], np.float32)
    signs = recognizer.recognize(cv2.imread(str(gtsdb / scene)))
    assert (signs.labels == ObjectClass.TRAFFIC_SIGN).all()
    overlapping = box_iou(expected, signs.boxes) >= 0.5
    assert overlapping.any(), f"no sign box on the {sign_name(class_id)} sign of {scene}: {signs.boxes}"
    best = int(np.argmax(np.where(overlapping, signs.scores, -1)))
    assert signs.source_class_ids[best] == class_id
    assert signs.scores[best] > 0.05  # the recognizer's default detection floor


def best_overlap_scores(detections, boxes: np.ndarray) -> np.ndarray:
    """Per box, the highest score of a detection overlapping it by IoU >= 0.5 (0 where none does)."""
    return np.array([max((score for score in detections.scores[box_iou(box, detections.boxes) >= 0.5]), default=0.0)
                     for box in boxes])


def sign_scores(detectors: list, gtsdb, scenes: range) -> list[np.ndarray]:
    """Per detector, best_overlap_scores over the ground-truth signs of the scenes."""
    truth = read_sign_file(gtsdb / "gt.txt")
    scores: list[list[float]] = [[] for _ in detectors]
    for scene in sorted(name for name in truth if int(name[:5]) in scenes):
        image = cv2.imread(str(gtsdb / scene))
        boxes = truth[scene].boxes + np.array([0, 0, 1, 1], np.float32)
        for detector, found in zip(detectors, scores):
            found += best_overlap_scores(detector.detect(image), boxes).tolist()
    return [np.array(found) for found in scores]


def assert_keeps_the_float_signs(float_scores: np.ndarray, scores: np.ndarray, least_found: int) -> None:
    """Every sign the float detector finds at >= 0.25 is found at >= 0.1, the scores moving by a median under 0.03."""
    found = float_scores >= 0.25
    assert found.sum() >= least_found, f"the float detector found {found.sum()} of {len(found)} signs"
    assert (scores[found] >= 0.1).all(), f"lost {np.flatnonzero(found & (scores < 0.1))}"
    assert np.median(np.abs(scores - float_scores)[found]) < 0.03


def test_on_a_cpu_the_sign_detector_runs_int8_and_keeps_the_float_detectors_signs(recognizer, gtsdb):
    """The sign node's defaults (backend and precision auto) run the symmetric Q/DQ copy on OpenVINO and keep the
    float detector's signs on the validation scenes."""
    assert recognizer.detector.backend_name == "openvino"
    assert backend_precision("openvino", "auto", model_path(DETECTOR_MODEL)) == "int8"
    float_detector = SignRecognizer(backend="onnxruntime", precision="fp32", threads=1).detector
    float_scores, int8_scores = sign_scores([float_detector, recognizer.detector], gtsdb, range(480, 600))
    assert_keeps_the_float_signs(float_scores, int8_scores, least_found=90)


def test_the_fp16_network_tensorrt_builds_for_signs_keeps_the_float_detectors_signs(gtsdb, tmp_path):
    """`auto` on an NVIDIA GPU builds a TensorRT fp16 engine from the fp16 copy of the float ONNX; that copy, run here
    by ONNX Runtime on the CPU, keeps the float detector's signs (TensorRT's own kernels run only on a GPU)."""
    fp16 = tmp_path / "sign_detector_fp16_dynamic.onnx"
    fp16.write_bytes(network_onnx(model_path(DETECTOR_MODEL).with_name("sign_detector_yolov8n_dynamic.onnx"), "fp16"))
    options = {"backend": "onnxruntime", "imgsz": 1376, "conf": 0.05, "class_map": SIGN_CLASS_MAP, "upscale": False}
    float_detector = SignRecognizer(backend="onnxruntime", precision="fp32", threads=1).detector
    fp16_detector = create_detector(fp16, **options)
    float_scores, fp16_scores = sign_scores([float_detector, fp16_detector], gtsdb, range(480, 520))
    assert_keeps_the_float_signs(float_scores, fp16_scores, least_found=25)


def test_classifier_reads_ground_truth_crops(recognizer, gtsdb):
    truth = read_sign_file(gtsdb / "gt.txt")
    for scene in (SPEED_LIMIT_30_SCENE, GIVE_WAY_SCENE):
        class_ids, probabilities = recognizer.classifier.classify(cv2.imread(str(gtsdb / scene)), truth[scene].boxes)
        assert class_ids.tolist() == truth[scene].class_ids.tolist()
        assert (probabilities > 0.5).all()


def test_eval_signs_cli_scores_and_writes_detections(gtsdb, tmp_path):
    out = tmp_path / "signs.txt"
    result = subprocess.run(
        [sys.executable, "-m", "perception", "eval-signs", "--gtsdb", str(gtsdb), "--images", "494-499",
         "--out", str(out), "--threads", "1"],
        capture_output=True, text=True, timeout=600, check=True)
    lines = result.stdout.splitlines()
    assert "GTSDB scenes: 6" in lines
    assert any(line.startswith("AP@0.5 prohibitory") for line in lines)
    assert any(line.startswith("classification on ground-truth boxes: ") for line in lines)
    rows = [line.split(";") for line in out.read_text().splitlines()]
    assert rows and all(len(row) == 7 and row[0].endswith(".jpg") for row in rows)
    found = {(row[0], int(row[5])) for row in rows if float(row[6]) > 0.05}
    assert {(SPEED_LIMIT_30_SCENE, 1), (GIVE_WAY_SCENE, 13)} <= found


def test_bad_sign_file_line_is_named(tmp_path):
    bad = tmp_path / "gt.txt"
    bad.write_text("00000.jpg;1;2;3;4;99\n")
    with pytest.raises(ValueError, match="gt.txt:1: class id 99"):
        read_sign_file(bad)
