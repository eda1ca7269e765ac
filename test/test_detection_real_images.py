"""The bundled COCO YOLOv8n on real images, through every CPU backend and the CLI."""
import argparse
import importlib.util
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import ultralytics

from perception.detection import create_detector
from perception.detection.backends.cuda import cuda_available
from perception.detection.backends.tensorrt_build import network_onnx
from perception.cli.detection import register
from perception.detection.frames import read_frames
from perception.detection.postprocess import box_iou
from perception.resources import model_path
from perception.types import ObjectClass

BUS_IMAGE = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
DETECTORS = {
    "onnxruntime": dict(backend="onnxruntime", precision="fp32"),  # the float CPU path: dynamic-shape ONNX
    "openvino-int8": dict(backend="openvino"),  # the default CPU path: the Q/DQ INT8 copy on OpenVINO
    "onnxruntime-static": dict(backend="onnxruntime", model=model_path("yolov8n_coco_640.onnx")),
    "torch": dict(backend="torch", device="cpu"),
    "torch-cuda-fp16": dict(backend="torch", device="cuda", half=True),
    "tensorrt-fp16": dict(backend="tensorrt", device="cuda", precision="fp16"),
}
NO_CUDA = pytest.mark.skipif(not cuda_available(), reason="needs an NVIDIA GPU visible to torch")
NO_TENSORRT = pytest.mark.skipif(
    not cuda_available() or importlib.util.find_spec("tensorrt") is None,
    reason="needs an NVIDIA GPU and the tensorrt Python package",
)
GPU_MARKS = {"torch-cuda-fp16": [NO_CUDA], "tensorrt-fp16": [NO_TENSORRT]}
GPU_DETECTORS = [pytest.param(name, marks=GPU_MARKS[name]) for name in GPU_MARKS]


@pytest.fixture(scope="module", params=[pytest.param(name, marks=GPU_MARKS.get(name, [])) for name in DETECTORS])
def detector(request, tmp_path_factory):
    options = dict(DETECTORS[request.param])
    if options["backend"] == "tensorrt":
        options["cache_dir"] = tmp_path_factory.mktemp("engines")
    return create_detector(**options)


@pytest.fixture(scope="module")
def onnxruntime_and_torch():
    return create_detector(**DETECTORS["onnxruntime"]), create_detector(**DETECTORS["torch"])


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"cannot read {path}"
    return image


def labels_of(detections) -> list[ObjectClass]:
    return [ObjectClass(int(label)) for label in detections.labels]


def test_bus_and_pedestrians_on_bus_jpg(detector):
    detections = detector.detect(read_image(BUS_IMAGE))
    labels = labels_of(detections)
    assert labels.count(ObjectClass.BUS) == 1
    assert labels.count(ObjectClass.PEDESTRIAN) >= 3
    timings = detector.last_timings
    assert timings.inference_ms > 0 and timings.preprocess_ms > 0 and timings.postprocess_ms > 0


def test_cars_on_udacity_highway_frame(detector, shared_data):
    detections = detector.detect(read_image(shared_data / "images" / "udacity" / "test1.jpg"))
    assert labels_of(detections).count(ObjectClass.CAR) >= 2
    assert set(labels_of(detections)) <= {ObjectClass.CAR, ObjectClass.TRUCK}


def test_stop_sign_on_gtsdb_scene(detector, shared_data):
    detections = detector.detect(read_image(shared_data / "images" / "gtsdb" / "00074.jpg"))
    signs = detections.select(detections.labels == ObjectClass.TRAFFIC_SIGN)
    ground_truth = np.array([929, 378, 981, 431], np.float32)  # gt_subset.txt, class 14 (stop)
    assert len(signs) >= 1 and box_iou(ground_truth, signs.boxes).max() > 0.7
    assert detector.class_names[int(signs.source_class_ids[0])] == "stop sign"


def test_detect_many_gives_each_frame_what_detect_gives_it_in_order(detector, shared_data):
    """Clip frames with frames of other sizes between them (OpenVINO: several in flight, a new letterbox size waits
    for the frames before it): the keys in order, each with detect()'s detections."""
    clip = [image for _, image in itertools.islice(read_frames(shared_data / "clips" / "udacity_highway_1280x720.mp4"),
                                                    6)]
    images = [*clip[:3], read_image(BUS_IMAGE), read_image(shared_data / "images" / "udacity" / "test1.jpg"), *clip[3:]]
    expected = [detector.detect(image) for image in images]
    results = list(detector.detect_many((f"frame {index}", image) for index, image in enumerate(images)))
    assert [key for key, _, _ in results] == [f"frame {index}" for index in range(len(images))]
    assert all(image is images[index] for index, (_, image, _) in enumerate(results))
    for (_, _, detections), reference in zip(results, expected):
        np.testing.assert_allclose(detections.boxes, reference.boxes, atol=1e-3)
        np.testing.assert_allclose(detections.scores, reference.scores, atol=1e-5)
        np.testing.assert_array_equal(detections.labels, reference.labels)
    assert sum(len(detections) for _, _, detections in results) > 0
    assert detector.last_timings.inference_ms > 0


def test_detect_many_gives_the_frames_before_a_reader_error_then_raises_it(detector, shared_data):
    clip = [image for _, image in itertools.islice(read_frames(shared_data / "clips" / "udacity_highway_1280x720.mp4"),
                                                    4)]

    def breaking_video():
        yield from enumerate(clip)
        raise ValueError("the video broke off")

    results = []
    with pytest.raises(ValueError, match="broke off"):
        for key, _, detections in detector.detect_many(breaking_video()):
            results.append((key, len(detections)))
    assert results == [(index, len(detector.detect(image))) for index, image in enumerate(clip)]


def test_detect_many_closed_early_leaves_the_detector_usable(detector, shared_data):
    clip = [image for _, image in itertools.islice(read_frames(shared_data / "clips" / "udacity_highway_1280x720.mp4"),
                                                    6)]
    run = detector.detect_many(enumerate(clip))
    first = next(run)
    run.close()  # frames still in flight
    again = list(detector.detect_many(enumerate(clip)))
    assert [key for key, _, _ in again] == list(range(6))
    np.testing.assert_allclose(again[0][2].boxes, first[2].boxes, atol=1e-3)


AGREEMENT_IMAGES = ["bus", "udacity/test1.jpg", "gtsdb/00074.jpg"]


def assert_detections_agree(ours, reference) -> None:
    """Every detection has a same-class match with IoU > 0.95 and a score within 0.02."""
    assert len(ours) == len(reference) > 0
    for index in range(len(ours)):
        ious = box_iou(ours.boxes[index], reference.boxes) * (reference.labels == ours.labels[index])
        match = int(ious.argmax())
        assert ious[match] > 0.95
        assert abs(ours.scores[index] - reference.scores[match]) < 0.02


def agreement_image(shared_data, image: str) -> np.ndarray:
    return read_image(BUS_IMAGE if image == "bus" else shared_data / "images" / image)


@pytest.mark.parametrize("image", AGREEMENT_IMAGES)
def test_onnxruntime_and_torch_agree(onnxruntime_and_torch, shared_data, image):
    ours, reference = (detector.detect(agreement_image(shared_data, image)) for detector in onnxruntime_and_torch)
    assert_detections_agree(ours, reference)


@pytest.mark.parametrize("gpu_detector", GPU_DETECTORS)
def test_gpu_backends_agree_with_onnxruntime(onnxruntime_and_torch, gpu_detector, shared_data, tmp_path):
    """FP16 on the GPU finds the same objects as the float CPU path (run where a GPU is, skipped elsewhere)."""
    options = dict(DETECTORS[gpu_detector])
    if options["backend"] == "tensorrt":
        options["cache_dir"] = tmp_path
    gpu = create_detector(**options)
    for image in AGREEMENT_IMAGES:
        frame = agreement_image(shared_data, image)
        assert_detections_agree(gpu.detect(frame), onnxruntime_and_torch[0].detect(frame))


def test_fp16_network_tensorrt_builds_from_finds_what_the_float_model_finds(onnxruntime_and_torch, shared_data,
                                                                            tmp_path):
    """The fp16 copy of the ONNX that fp16 engines are built from (float32 inputs and outputs), run here by ONNX
    Runtime on the CPU: the conversion keeps every detection (TensorRT's own fp16 kernels run only on a GPU)."""
    fp16 = tmp_path / "yolov8n_coco_fp16_dynamic.onnx"
    fp16.write_bytes(network_onnx(model_path("yolov8n_coco_dynamic.onnx"), "fp16"))
    detector = create_detector(model=fp16, backend="onnxruntime")
    for image in AGREEMENT_IMAGES:
        frame = agreement_image(shared_data, image)
        assert_detections_agree(detector.detect(frame), onnxruntime_and_torch[0].detect(frame))


def test_keeping_unknown_classes_adds_unknown_labels():
    detector = create_detector(backend="onnxruntime", unknown_classes="keep", conf=0.1)
    labels = labels_of(detector.detect(read_image(BUS_IMAGE)))
    assert ObjectClass.UNKNOWN in labels  # bus.jpg holds a COCO "handbag" (score ~0.12), unmapped


def test_detect_cli_prints_one_json_object_per_frame(capsys, shared_data):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    images = [str(BUS_IMAGE), str(shared_data / "images" / "udacity" / "test1.jpg")]
    args = parser.parse_args(["detect", *images, "--backend", "onnxruntime", "--imgsz", "320", "--json"])
    assert args.func(args) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["source"] for record in records] == images
    bus_classes = [item["class"] for item in records[0]["detections"]]
    assert "BUS" in bus_classes and all(len(item["box"]) == 4 for item in records[0]["detections"])


def test_video_frames_are_read_in_order(shared_data):
    frames = list(itertools.islice(read_frames(shared_data / "clips" / "udacity_highway_1280x720.mp4"), 3))
    assert [index for index, _ in frames] == [0, 1, 2]
    assert frames[0][1].shape == (720, 1280, 3)
