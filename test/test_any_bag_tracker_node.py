"""The tracker node without CameraInfo: intrinsics from its camera_info_file or fov_deg parameters, else image-space
tracks, and /diagnostics says which (real tracker processes over DDS, fed real KITTI detections)."""
import pytest
from diagnostic_msgs.msg import DiagnosticArray

from conftest import RunningGraph, diagnostic_values
from perception.msg import DetectedObjects, TrackedObjects
from test_any_bag import write_calibration
from test_nodes_tracker_predictor import detection_messages
from waiting import publish_until

FALLBACK = ("camera_info_file", "fov_deg", "image_width", "image_height")
CAMERAS = {  # camera -> its tracker's fallback parameters (KITTI images are 1242 x 375)
    "calibrated": ("kitti.yaml", 0.0, 0, 0),
    "guessed": ("", 80.0, 1242, 375),
    "uncalibrated": ("", 0.0, 0, 0),
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_module):
    folder = tmp_path_factory.mktemp("fallback_intrinsics")
    write_calibration(folder / "kitti.yaml", 1242, 375)
    cameras = {}
    for camera, (file, fov, width, height) in CAMERAS.items():
        cameras[camera] = {"camera_info": f"/{camera}/camera_info", "camera_info_file": str(folder / file) if file
                           else "", "fov_deg": fov, "image_width": width, "image_height": height}
    parameters = {"camera_z": 1.65, "odometry_source": "none", **{name: f"{{{name}}}" for name in FALLBACK}}
    document = {"cameras": cameras, "nodes": {"tracker": {
        "per_camera": True, "remappings": {"camera_info": "{camera_info}"}, "parameters": parameters}}}
    with RunningGraph(folder, document) as running:
        yield running


def test_tracker_takes_intrinsics_from_its_parameters_without_camera_info(graph, ros_module, shared_data):
    ros = ros_module
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
    messages = detection_messages(shared_data / "tracking" / "kitti")[:5]
    for camera in CAMERAS:
        tracks = ros.collect(TrackedObjects, f"/perception/{camera}/tracks", 10)
        publisher = ros.node.create_publisher(DetectedObjects, f"/perception/{camera}/detections", 10)
        for index, message in enumerate(messages):  # each frame once its predecessor's tracks are back
            assert publish_until(ros, publisher, message, lambda: len(tracks) > index, 90), (camera, index)
        objects = [o for m in tracks for o in m.objects]
        assert objects, camera
        node = f"/perception/{camera}/tracker"
        assert ros.wait_for(lambda: "metric_positions" in diagnostic_values(diagnostics, node), 30), camera
        values = diagnostic_values(diagnostics, node)
        if camera == "uncalibrated":
            assert values["metric_positions"].startswith("no: no valid CameraInfo"), values
            assert not any(o.has_kinematics for o in objects)
        else:
            assert values["metric_positions"].startswith("yes: "), values
            assert all(o.has_kinematics for o in objects)
