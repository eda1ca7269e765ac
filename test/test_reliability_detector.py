"""Detector nodes on bad input, bad models and bad parameters: a clear reason in the log, a /diagnostics counter
by reason, and the node keeps running. One graph of four detector processes serves the whole module."""

import cv2
import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import CompressedImage, Image

from conftest import (
    RunningGraph, diagnostic_count, diagnostic_values, frames_unaccounted, get_parameters, latest_status,
    set_parameters,
)
from perception.detection.factory import BACKENDS
from perception.msg import DetectedObjects
from perception.resources import model_path
from waiting import log_contains, publish_until

NS = "/perception"
GOOD, RAW, NO_MODEL, CORRUPT, BROKEN, FALLBACK = (
    f"{NS}/{camera}/detector" for camera in ("good", "raw", "nomodel", "corrupt", "broken", "fallback"))
# torch.save([1, 2]) is a checkpoint Ultralytics cannot read: it raises AttributeError, a type no backend expects.
BROKEN_REASON = "AttributeError: 'list' object has no attribute 'model'"


def camera(topic: str, transport: str = "compressed", model: str = "", imgsz=320, conf=0.25, iou=0.45,
           backend="onnxruntime", fallback=True) -> dict:
    return {"image": topic, "transport": transport, "model": model, "imgsz": imgsz, "conf": conf, "iou": iou,
            "backend": backend, "fallback": fallback}


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_module):
    folder = tmp_path_factory.mktemp("detectors")
    onnx = model_path("yolov8n_coco_320.onnx").read_bytes()
    corrupt = folder / "truncated_320.onnx"
    corrupt.write_bytes(onnx[: len(onnx) // 3])
    broken = folder / "broken.pt"
    torch.save([1, 2], broken)
    (folder / "broken_320.onnx").write_bytes(onnx)  # what the fallback backend (onnxruntime) loads
    document = {
        "cameras": {
            "good": camera("/rel/good/image/compressed"),
            # Out-of-range and wrongly typed start-up values: each is rejected and its default used.
            "raw": camera("/rel/raw/image", "raw", imgsz=0, conf=5.0, iou=1, backend="banana"),
            "nomodel": camera("/rel/nomodel/image/compressed", model=str(folder / "missing_320.onnx")),
            "corrupt": camera("/rel/corrupt/image/compressed", model=str(corrupt)),
            "broken": camera("/rel/broken/image/compressed", model=str(broken), backend="torch", fallback=False),
            "fallback": camera("/rel/fallback/image/compressed", model=str(broken), backend="torch"),
        },
        "nodes": {"detector": {"per_camera": True, "remappings": {"image": "{image}"}, "parameters": {
            "image_transport": "{transport}", "model": "{model}", "imgsz": "{imgsz}", "conf_threshold": "{conf}",
            "iou_threshold": "{iou}", "backend": "{backend}", "fallback": "{fallback}"}}},
    }
    with RunningGraph(folder, document) as running:
        running.diagnostics = ros_module.collect(DiagnosticArray, "/diagnostics", 100)
        running.detections = {name: ros_module.collect(DetectedObjects, f"{name.rsplit('/', 1)[0]}/detections", 50)
                              for name in (GOOD, RAW, FALLBACK)}
        yield running
        for node in running.runner.nodes:
            assert node.process.poll() is None, f"{node.spec.full_name} died during the module"


def publisher(ros, message_type: type, topic: str):
    pub = ros.node.create_publisher(message_type, topic, 10)
    assert ros.wait_for(lambda: pub.get_subscription_count() > 0, 60), f"nobody subscribed to {topic}"
    return pub


def stamped(message, sec: int):
    message.header.stamp.sec, message.header.frame_id = sec, "camera_optical_frame"
    return message


def raw_image(frame: np.ndarray, sec: int, **fields) -> Image:
    message = Image(height=frame.shape[0], width=frame.shape[1], encoding="bgr8", step=frame.shape[1] * 3)
    message.data = frame.tobytes()
    for key, value in fields.items():
        setattr(message, key, value)
    return stamped(message, sec)


def jpeg(frame: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", frame)[1].tobytes()


def publish_until_detected(ros, pub, message, received: list, sec: int, timeout_s: float = 60) -> None:
    """Publish until detections with this stamp arrive."""
    if not publish_until(ros, pub, message, lambda: any(m.header.stamp.sec == sec for m in received), timeout_s):
        pytest.fail(f"no detections for the frame stamped {sec}")


def reject_one_by_one(ros, graph, node: str, pub, bad: list[tuple[object, str]]) -> None:
    """Publish each bad message (again every 0.5 s: images are best-effort) until /diagnostics counts it as
    rejected.bad_image with the expected reason; the first reason must also be in the node's log."""
    first = diagnostic_count(graph.diagnostics, node, "rejected.bad_image") + 1
    for message, reason in bad:
        before = diagnostic_count(graph.diagnostics, node, "rejected.bad_image")

        def counted():
            values = diagnostic_values(graph.diagnostics, node)
            return (int(values.get("rejected.bad_image", 0)) > before
                    and reason in values.get("last_rejection.bad_image", ""))

        assert publish_until(ros, pub, message, counted), (
            f"bad input ({reason}) was not counted as rejected.bad_image with its reason")
    assert ros.wait_for(lambda: f"rejected input (bad_image, {first} so far): {bad[0][1]}" in graph.log(node), 30)


def test_startup_parameters_out_of_range_or_of_the_wrong_type_are_rejected_and_defaults_used(graph, ros_module):
    # The node is on the graph before it has declared (and logged) its parameters.
    assert log_contains(graph, RAW, "parameter conf_threshold rejected", "parameter imgsz rejected",
                         "parameter iou_threshold rejected", "backend='banana'")
    log = graph.log(RAW)
    assert "parameter conf_threshold rejected" in log and "out of range" in log
    assert "parameter imgsz rejected" in log
    assert "parameter iou_threshold rejected" in log and "expecting type 'DOUBLE'" in log
    assert f"backend='banana' is not one of {', '.join(BACKENDS)}; using default 'auto'" in log
    assert get_parameters(ros_module, RAW, ["conf_threshold", "imgsz", "iou_threshold", "backend"]) == {
        "conf_threshold": 0.25, "imgsz": 640, "iou_threshold": 0.45, "backend": "auto"}
    # The default (auto) on a CPU: OpenVINO with the bundled model's INT8 copy.
    assert ros_module.wait_for(lambda: diagnostic_values(graph.diagnostics, RAW).get("backend") == "openvino", 60)


def test_runtime_parameter_changes_are_rejected_with_a_reason(graph, ros_module):
    results = set_parameters(ros_module, GOOD, {"conf_threshold": 5.0, "backend": "banana", "imgsz": 64})
    assert [r.successful for r in results] == [False, False, False]
    assert all("read-only" in r.reason for r in results), [r.reason for r in results]
    assert get_parameters(ros_module, GOOD, ["conf_threshold", "backend", "imgsz"]) == {
        "conf_threshold": 0.25, "backend": "onnxruntime", "imgsz": 320}
    graph.runner.check()


def test_bad_raw_images_are_rejected_by_reason_and_a_good_frame_still_detected(graph, ros_module, highway_frames):
    frame = highway_frames[0]
    pub = publisher(ros_module, Image, "/rel/raw/image")
    publish_until_detected(ros_module, pub, raw_image(frame, 10), graph.detections[RAW], 10)
    reject_one_by_one(ros_module, graph, RAW, pub, [
        (raw_image(frame, 11, encoding="32FC1"), "unsupported encoding '32FC1'"),
        (raw_image(frame[:0, :0], 12), "empty image (0x0)"),
        (raw_image(frame, 13, step=100), "step 100 is smaller than a row"),
        (raw_image(frame, 14, height=frame.shape[0] * 2), "needs 5529600"),  # data shorter than height * step
    ])
    publish_until_detected(ros_module, pub, raw_image(frame, 15), graph.detections[RAW], 15)
    assert ros_module.wait_for(lambda: frames_unaccounted(diagnostic_values(graph.diagnostics, RAW)) == 0, 30)


def test_truncated_and_non_jpeg_compressed_images_are_rejected(graph, ros_module, highway_frames):
    data = jpeg(highway_frames[1])
    pub = publisher(ros_module, CompressedImage, "/rel/good/image/compressed")
    publish_until_detected(ros_module, pub, stamped(CompressedImage(format="jpeg", data=data), 20),
                           graph.detections[GOOD], 20)
    reject_one_by_one(ros_module, graph, GOOD, pub, [
        (stamped(CompressedImage(format="jpeg", data=data[: len(data) // 2]), 21),
         f"cannot decode {len(data) // 2} bytes of JPEG (truncated or corrupt)"),
        (stamped(CompressedImage(format="jpeg", data=b"GIF89a" + bytes(200)), 22),
         "cannot decode 206 bytes of data that is not JPEG or PNG"),
        (stamped(CompressedImage(format="jpeg", data=b""), 23), "compressed image is empty"),
    ])
    publish_until_detected(ros_module, pub, stamped(CompressedImage(format="jpeg", data=data), 24),
                           graph.detections[GOOD], 24)
    assert ros_module.wait_for(lambda: frames_unaccounted(diagnostic_values(graph.diagnostics, GOOD)) == 0, 30)


@pytest.mark.parametrize("node, topic, reason", [
    (NO_MODEL, "/rel/nomodel/image/compressed", "model file not found"),
    (CORRUPT, "/rel/corrupt/image/compressed", "is not a readable ONNX model (corrupt or truncated?)"),
    (BROKEN, "/rel/broken/image/compressed", BROKEN_REASON),  # an unexpected exception type
])
def test_missing_or_corrupt_model_keeps_the_node_up_reporting_error_and_counting_frames(
        graph, ros_module, highway_frames, node, topic, reason):
    assert ros_module.wait_for(lambda: (s := latest_status(graph.diagnostics, node)) is not None
                               and s.level == DiagnosticStatus.ERROR, 60)
    assert reason in latest_status(graph.diagnostics, node).message
    assert log_contains(graph, node, "detector cannot start", reason)
    pub = publisher(ros_module, CompressedImage, topic)
    message = stamped(CompressedImage(format="jpeg", data=jpeg(highway_frames[2])), 30)
    assert publish_until(ros_module, pub, message,
                         lambda: diagnostic_count(graph.diagnostics, node, "rejected.no_model") >= 1)
    assert ros_module.wait_for(lambda: frames_unaccounted(diagnostic_values(graph.diagnostics, node)) == 0, 30)
    assert diagnostic_count(graph.diagnostics, node, "frames_processed") == 0
    assert log_contains(graph, node, "rejected input (no_model")
    graph.runner.check()


def test_a_backend_failing_with_an_unexpected_exception_falls_back_to_the_next(graph, ros_module, highway_frames):
    assert ros_module.wait_for(lambda: diagnostic_values(graph.diagnostics, FALLBACK).get("backend") == "onnxruntime"
                               and latest_status(graph.diagnostics, FALLBACK).level == DiagnosticStatus.OK, 60)
    assert log_contains(graph, FALLBACK, f"detector backend torch unavailable: {BROKEN_REASON}")
    assert latest_status(graph.diagnostics, FALLBACK).level == DiagnosticStatus.OK
    pub = publisher(ros_module, CompressedImage, "/rel/fallback/image/compressed")
    publish_until_detected(ros_module, pub, stamped(CompressedImage(format="jpeg", data=jpeg(highway_frames[3])), 40),
                           graph.detections[FALLBACK], 40)
