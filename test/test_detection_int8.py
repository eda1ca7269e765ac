"""The INT8 detector (one Q/DQ ONNX: `backend: openvino`, ONNX Runtime with `precision: int8`, TensorRT's INT8 input):
what the shipped file is, how it is chosen, and that it keeps the float model's accuracy on held-out real frames on
OpenVINO and ONNX Runtime (docs/results.md has the full table from `perception eval-int8`)."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from perception.datasets.gtsdb import stop_sign_scenes
from perception.detection import quantize
from perception.detection.factory import backend_candidates, backend_precision, create_detector
from perception.detection.model_files import model_for_backend, read_onnx_info
from perception.evaluation import detection_accuracy
from perception.resources import model_path

INT8_MODEL = "yolov8n_coco_int8.onnx"  # Q/DQ ONNX: backend openvino, onnxruntime precision int8, TensorRT int8
FLOAT_HEAD_CONVS = [f"/model.22/{branch}.{level}/{branch}.{level}.2/Conv" for branch in ("cv2", "cv3")
                    for level in range(3)] + ["/model.22/dfl/conv/Conv"]


def started_model(**options) -> str:
    messages = []
    create_detector(status_callback=messages.append, **options)
    return next(message for message in messages if message.startswith("starting"))


def test_openvino_runs_the_int8_copy_and_fp32_is_one_parameter_away():
    assert backend_candidates("auto", fallback=False, gpu=False, cpu_int8=True) == ("openvino", "onnxruntime")
    assert started_model().endswith(f"openvino backend (int8) with {model_path(INT8_MODEL)}")  # auto on a CPU
    assert started_model(precision="fp32").endswith(
        "onnxruntime backend (fp32) with " + str(model_path("yolov8n_coco_dynamic.onnx")))
    assert started_model(backend="openvino").endswith(f"(int8) with {model_path(INT8_MODEL)}")
    assert started_model(backend="openvino", precision="fp32").endswith("yolov8n_coco_dynamic.onnx")
    assert started_model(backend="onnxruntime").endswith("(fp32) with " + str(model_path("yolov8n_coco_dynamic.onnx")))
    assert backend_precision("tensorrt", "auto", None) == "fp16"
    assert model_for_backend(None, "tensorrt", 640, int8=True).name == INT8_MODEL  # TensorRT's explicit INT8 input
    assert model_for_backend(None, "onnxruntime", 640, int8=True).name == INT8_MODEL
    with pytest.raises(ValueError, match="precision must be one of"):
        create_detector(precision="int4")


def test_a_model_without_an_int8_copy_runs_float(tmp_path):
    lone = tmp_path / "lone.pt"
    lone.write_bytes(b"")
    (tmp_path / "lone_dynamic.onnx").write_bytes(model_path("yolov8n_coco_dynamic.onnx").read_bytes())
    assert backend_precision("openvino", "auto", lone) == "fp32"
    assert started_model(model=lone).endswith("onnxruntime backend (fp32) with " + str(tmp_path / "lone_dynamic.onnx"))
    assert started_model(model=lone, backend="openvino").endswith("lone_dynamic.onnx")


def test_shipped_int8_model_is_per_channel_qdq_with_a_float_head():
    """And a float first convolution: the symmetric preset would quantize the image as uint8 (test_detection_int8_symmetric.py)."""
    model = onnx.load(str(model_path(INT8_MODEL)))
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    convs = {node.name: node for node in model.graph.node if node.op_type == "Conv"}
    quantized = [name for name, node in convs.items() if node.input[1] in producers
                 and producers[node.input[1]].op_type == "DequantizeLinear"]
    assert len(quantized) == len(convs) - len(FLOAT_HEAD_CONVS) - 1
    for name in [*FLOAT_HEAD_CONVS, quantize.FIRST_CONV]:  # weights straight from a float initializer
        assert initializers[convs[name].input[1]].dtype == np.float32
    for name in quantized:  # one scale per output channel
        dequantize = producers[convs[name].input[1]]
        weights, scale = initializers[dequantize.input[0]], initializers[dequantize.input[1]]
        assert weights.dtype == np.int8 and scale.shape == (weights.shape[0],)
    assert read_onnx_info(model_path(INT8_MODEL)).names == read_onnx_info(model_path("yolov8n_coco_dynamic.onnx")).names


def test_float_nodes_are_the_head_after_its_second_convolutions():
    names = ["/model.21/cv2/conv/Conv", "/model.22/cv2.0/cv2.0.1/conv/Conv", "/model.22/cv3.1/cv3.1.0/act/Mul",
             "/model.22/cv2.0/cv2.0.2/Conv", "/model.22/dfl/conv/Conv", "/model.22/Concat_3", "/model.22/Sigmoid"]
    assert quantize.float_node_names(names) == names[3:]
    first = ["/model.0/conv/Conv", "/model.0/act/Mul"]  # the first convolution, then its SiLU
    assert quantize.nncf_float_nodes(first + names, "performance") == names[3:] + first[:1]
    assert quantize.nncf_float_nodes(first + names, "mixed") == names[3:]


def test_calibration_never_uses_an_evaluation_scene(shared_data):
    scenes = quantize.calibration_images(shared_data / "signs" / "gtsdb" / "train",
                                         stop_sign_scenes(shared_data), every=1)
    evaluation = {frame.name for frame in detection_accuracy.evaluation_frames(shared_data)["gtsdb"]}
    assert len(scenes) > 500 and len(evaluation) >= 16
    assert not {path.stem for path in scenes} & evaluation


@pytest.fixture(scope="module")
def held_out_results(shared_data):
    float_detector = create_detector(backend="onnxruntime", precision="fp32", conf=0.1)
    sets = detection_accuracy.evaluation_frames(shared_data)
    results = {}
    for backend in ("openvino", "onnxruntime"):  # the same Q/DQ ONNX (TensorRT's INT8 input) on both
        int8_detector = create_detector(backend=backend, precision="int8", conf=0.1)
        results[backend] = {name: detection_accuracy.compare(float_detector, int8_detector, sets[name], name)
                            for name in ("udacity images", "kitti", "gtsdb")}
    return results


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_int8_finds_the_float_models_detections(held_out_results, backend):
    total = detection_accuracy.combined(list(held_out_results[backend].values()))
    assert total.agreement.reference > 200
    assert total.agreement.share >= 0.97  # issue 28: INT8 keeps >= 97 % of the float detections
    assert abs(np.median(total.agreement.score_differences)) < 0.03


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_int8_keeps_average_precision_against_ground_truth(held_out_results, backend):
    """KITTI tracking 0001 cars (label_02) and GTSDB stop signs: AP@0.5 drops by at most 0.02."""
    results = held_out_results[backend]
    assert set(results["kitti"].ap) == {"CAR"} and set(results["gtsdb"].ap) == {"TRAFFIC_SIGN"}
    for name in ("kitti", "gtsdb"):
        for float_ap, int8_ap in results[name].ap.values():
            assert float_ap > 0.4 and int8_ap >= float_ap - 0.02
