"""Fleet evaluation on Ray against the single-process offline mode, on real bags: the sample bag cut short, a bag
made by `perception video-to-bag` from a shared clip and a bag of two cameras triggered together (virtual_cameras.py),
with a truncated bag and a file that is not a bag among them. Same detections (float tolerance), same track ids and
metrics per bag, the same fused lists (the planner's topic) for the two-camera bag, whose task runs both cameras and
the fusion; a bag whose worker is killed in the middle is run again whole, and the report says so. One Ray session
(2 CPUs, loopback, no dashboard) for the module."""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage

os.environ["RAY_DISABLE_USAGE_STATS"] = "1"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported: every Ray address on loopback
ray = pytest.importorskip("ray")

from perception.evaluation.fleet_report import bag_row  # noqa: E402
from perception.pipeline.camera import CameraParameters, CameraPipeline  # noqa: E402
from perception.pipeline.models import ModelCache  # noqa: E402
from perception.resources import config_path, data_path  # noqa: E402
from perception.runtime.bag_cameras import find_cameras, graph_for_cameras  # noqa: E402
from perception.bags import McapFileWriter, bag_topics, perception_typestore, read_messages  # noqa: E402
from perception.runtime.fleet import evaluate_fleet, find_bags, plan_streams  # noqa: E402
from perception.runtime.fleet_workers import load_models  # noqa: E402
from perception.runtime.offline import camera_topics, run_offline, scored_topics  # noqa: E402
from bag_pieces import cut_bag  # noqa: E402
from virtual_cameras import FRAMES, VIEWS, VirtualCamera, graph_document, write_bag  # noqa: E402

SAMPLE_FRAMES = 24
CLIP_FRAMES = 20


TWO_CAMERA_FRAMES = 2 * len(FRAMES)
UNDECODABLE_FRAMES = 2


@pytest.fixture(scope="module")
def bags(tmp_path_factory, shared_data, highway_frames):
    folder = tmp_path_factory.mktemp("fleet") / "bags"
    (folder / "day2").mkdir(parents=True)
    cameras = {name: VirtualCamera(name, *columns) for name, columns in VIEWS.items()}
    write_bag(folder / "two_cameras.mcap", cameras, highway_frames)
    # the deployed graph with the virtual cameras' entries (their poses) beside its own
    document = yaml.safe_load(config_path("perception.yaml").read_text())
    document["cameras"].update(graph_document(cameras)["cameras"])
    CONFIG.write_text(yaml.safe_dump(document))
    sample = cut_bag(data_path("sample_highway_960x540.mcap"), folder / "sample.mcap", SAMPLE_FRAMES)
    clip = folder / "day2" / "highway.mcap"
    video = shared_data / "clips/udacity_highway_1280x720.mp4"
    subprocess.run([sys.executable, "-m", "perception", "video-to-bag", str(video), str(clip),
                    "--max-frames", str(CLIP_FRAMES)], check=True, capture_output=True, timeout=300)
    (folder / "truncated.mcap").write_bytes(sample.read_bytes()[: sample.stat().st_size // 2])
    (folder / "day2" / "notes.bag").write_bytes(b"not a bag at all\n" * 10)
    # images that do not decode, first in the run: the warm-up of their camera configuration (the sample's) cannot
    # prepare the detector for their size, and the run goes on, counting them
    with McapFileWriter(folder / "0_undecodable.mcap", perception_typestore()) as writer:
        writer.add_topic("/cam/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
        for index in range(UNDECODABLE_FRAMES):
            image = CompressedImage(format="jpeg", data=b"not a jpeg" * 10)
            image.header.stamp.sec = 1_700_000_000 + index
            writer.write("/cam/image_raw/compressed", 1_700_000_000 * 10**9 + index, serialize_message(image))
    return folder


CONFIG = Path(tempfile.mkdtemp(prefix="fleet-graph-")) / "graph.yaml"  # written by the bags fixture


def cameras_of(bag: Path):
    return graph_for_cameras(CONFIG, "front", find_cameras(bag_topics(bag)))


@pytest.fixture(scope="module")
def offline(bags, tmp_path_factory):
    """The single-process offline mode's recording of each good bag."""
    out = tmp_path_factory.mktemp("offline")
    recordings = {}
    for bag in (bags / "sample.mcap", bags / "day2" / "highway.mcap", bags / "two_cameras.mcap"):
        graph, chosen = cameras_of(bag)
        recordings[bag] = run_offline(graph, {camera: (c.image_topic, c.info_topic) for camera, c in chosen.items()},
                                      bag, out / f"{bag.stem}.mcap")
    return recordings


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()


def messages(recording: Path, msgtype: str) -> list:
    """The recording's messages of one type in the order of their images, each camera's (topic's) in turn at one
    stamp (log times add each frame's CPU time, which varies: a recording read in log-time order need not be in frame
    order)."""
    typestore = perception_typestore()
    found = [(r.topic, typestore.deserialize_cdr(r.raw, r.msgtype)) for r in read_messages(recording)
             if r.msgtype == msgtype]
    return [m for _, m in sorted(found, key=lambda f: (f[1].header.stamp.sec, f[1].header.stamp.nanosec, f[0]))]


def assert_same_results(fleet: Path, offline: Path, bag: Path) -> None:
    """Same detections per frame (float tolerance), same track ids per frame, same predictions and fused lists, same
    metrics of each camera of `bag`."""
    ours, theirs = (messages(r, "perception/msg/DetectedObjects") for r in (fleet, offline))
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert a.header.stamp == b.header.stamp
        assert [o.classification[0].label for o in a.objects] == [o.classification[0].label for o in b.objects]
        boxes = [[[o.box.x_min, o.box.y_min, o.box.x_max, o.box.y_max, o.score] for o in m.objects] for m in (a, b)]
        np.testing.assert_allclose(np.reshape(boxes[0], (-1, 5)), np.reshape(boxes[1], (-1, 5)), atol=1e-2)
    ours, theirs = (messages(r, "perception/msg/TrackedObjects") for r in (fleet, offline))
    assert [[o.track_id for o in m.objects] for m in ours] == [[o.track_id for o in m.objects] for m in theirs]
    ours, theirs = (messages(r, "perception/msg/PredictedObjects") for r in (fleet, offline))
    assert len(ours) == len(theirs)  # each camera's predictions and the fused lists
    for a, b in zip(ours, theirs, strict=True):
        assert (a.header, a.camera_frame_id) == (b.header, b.camera_frame_id)
        assert [o.track_id for o in a.objects] == [o.track_id for o in b.objects]
        np.testing.assert_allclose([[o.position.x, o.position.y] for o in a.objects],
                                   [[o.position.x, o.position.y] for o in b.objects], atol=1e-2)
    graph, chosen = cameras_of(bag)
    recorded = sorted(bag_topics(offline))
    for camera, bag_camera in chosen.items():
        topics = camera_topics(recorded, graph, camera, (bag_camera.image_topic, bag_camera.info_topic))
        row, expected = (bag_row(bag, camera, recording, scored_topics(graph, camera), topics=topics)
                         for recording in (fleet, offline))
        assert (row.frames, row.detections, row.tracks) == (expected.frames, expected.detections, expected.tracks)
        assert row.prediction_error.keys() == expected.prediction_error.keys()
        for model, errors in row.prediction_error.items():
            for key, value in errors.items():
                np.testing.assert_allclose(value, expected.prediction_error[model][key], rtol=1e-6)


def test_bags_are_found_in_folders_at_any_depth(bags, monkeypatch):
    found = find_bags([bags])
    assert found == sorted(found)
    assert {p.relative_to(bags).as_posix() for p in found} == {
        "0_undecodable.mcap", "sample.mcap", "truncated.mcap", "two_cameras.mcap", "day2/highway.mcap",
        "day2/notes.bag"}
    # named relative to the working folder: absolute, for workers that run elsewhere
    monkeypatch.chdir(bags / "day2")
    assert find_bags([Path("highway.mcap"), Path(".")]) == [bags / "day2" / "highway.mcap", bags / "day2" / "notes.bag"]


def test_fleet_run_gives_the_offline_results_and_reports_bad_bags(bags, offline, ray_session, tmp_path):
    planned = plan_streams(find_bags([bags]), cameras_of)
    run = evaluate_fleet(planned, tmp_path, workers=2)
    by_bag = {o.bag: o for o in run.outcomes}
    assert "cannot read the bag (corrupt or truncated?)" in by_bag[bags / "truncated.mcap"].error
    assert "cannot read the bag" in by_bag[bags / "day2" / "notes.bag"].error
    (undecodable,) = by_bag[bags / "0_undecodable.mcap"].rows
    assert undecodable.frames == UNDECODABLE_FRAMES and undecodable.tracks == 0
    assert undecodable.rejected == {"bad_image": UNDECODABLE_FRAMES}  # counted in the row, the report and summary
    for bag, recording in offline.items():
        assert by_bag[bag].error is None
        assert by_bag[bag].recording == tmp_path / by_bag[bag].stream.name / "eval.mcap"
        assert_same_results(by_bag[bag].recording, recording, bag)
    # one task ran both cameras of the two-camera bag and their fusion: a row per camera, one fused list per stamp
    two = by_bag[bags / "two_cameras.mcap"]
    assert [row.stream for row in two.rows] == ["two_cameras/left", "two_cameras/right"]
    assert all(row.frames == len(FRAMES) for row in two.rows)
    fused = [m for m in messages(two.recording, "perception/msg/PredictedObjects") if m.camera_frame_id == ""]
    assert len(fused) == len(FRAMES) and {o.camera_frame_id for m in fused for o in m.objects} == {
        f"camera_{name}_optical_frame" for name in VIEWS}
    assert run.frames == SAMPLE_FRAMES + CLIP_FRAMES + TWO_CAMERA_FRAMES + UNDECODABLE_FRAMES
    assert run.retried_streams == 0 and all(o.attempts == 1 for o in run.outcomes if o.stream is not None)
    assert run.workers_per_driver > 0


def evaluating_workers() -> list:
    """The Ray worker processes evaluating a bag now (Ray names a worker process after the task it runs)."""
    import psutil

    return [p for p in psutil.process_iter(["cmdline"]) if "ray::evaluate_stream" in " ".join(p.info["cmdline"] or [])]


def kill_a_worker_in_the_middle_of_a_bag(killed: list, after_s: float = 0.3, timeout_s: float = 120.0) -> None:
    """SIGKILL the first worker seen evaluating a bag, `after_s` after seeing it (mid-bag)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not killed:
        workers = evaluating_workers()
        if workers:
            time.sleep(after_s)
            if workers[0].is_running():
                os.kill(workers[0].pid, signal.SIGKILL)
                killed.append(workers[0].pid)
        time.sleep(0.05)


def test_a_bag_whose_worker_is_killed_is_run_again_whole(bags, offline, ray_session, tmp_path):
    killed: list[int] = []
    killer = threading.Thread(target=kill_a_worker_in_the_middle_of_a_bag, args=(killed,), daemon=True)
    killer.start()
    planned = plan_streams(list(offline), cameras_of)
    run = evaluate_fleet(planned, tmp_path, workers=2)
    killer.join(5)
    assert killed and run.retried_streams == 1
    assert sorted(o.attempts for o in run.outcomes) == [1] * (len(offline) - 1) + [2]
    assert run.frames == SAMPLE_FRAMES + CLIP_FRAMES + TWO_CAMERA_FRAMES
    for outcome in run.outcomes:
        assert outcome.error is None and {row.attempts for row in outcome.rows} == {outcome.attempts}
        assert_same_results(outcome.recording, offline[outcome.bag], outcome.bag)


def test_loading_a_cameras_models_for_each_bag_keeps_the_workers_cpu_priority(bags):
    """A worker loads its camera's models (sign stage included) for every bag in the thread that runs the whole
    pipeline: its niceness stays as it was (the sign node's own thread lowers its priority, the pipeline's does not;
    it used to add `nice` at every load, up to 19)."""
    sample = bags / "sample.mcap"
    graph, chosen = cameras_of(sample)
    camera, bag_camera = next(iter(chosen.items()))
    parameters = CameraParameters.from_graph(graph, camera)
    assert parameters.signs is not None and parameters.signs["nice"] > 0  # the deployed graph runs signs, niced
    models, niceness = ModelCache(), []

    def load_twice() -> None:
        thread = threading.get_native_id()
        niceness.append(os.getpriority(os.PRIO_PROCESS, thread))
        for _ in range(2):  # two bags
            load_models(graph, camera, sample, bag_camera.image_topic, models, {})
            CameraPipeline(parameters, models=models).load()
            niceness.append(os.getpriority(os.PRIO_PROCESS, thread))

    worker = threading.Thread(target=load_twice)
    worker.start()
    worker.join(timeout=300)
    assert len(niceness) == 3 and niceness[1:] == [niceness[0]] * 2


def test_a_bags_ground_truth_scores_the_camera_it_belongs_to(bags, shared_data, tmp_path):
    """A bag of two cameras with one ground-truth file: its first camera's row (by image topic) has the scores, the
    other's none (a label file of another sequence: the columns, not their values, are checked)."""
    from perception.runtime.fleet_workers import StreamJob, evaluate_stream

    bag = bags / "two_cameras.mcap"
    graph, chosen = cameras_of(bag)
    labels = shared_data / "tracking" / "kitti" / "label_02" / "0000.txt"
    job = StreamJob(bag, "two_cameras", {c: (b.image_topic, b.info_topic) for c, b in chosen.items()}, graph,
                    tmp_path / "eval.mcap", labels, "kitti")
    rows = evaluate_stream(job).rows
    first = min(chosen, key=lambda camera: chosen[camera].image_topic)
    assert [row.stream for row in rows] == [f"two_cameras/{camera}" for camera in chosen] and len(rows) == 2
    assert [row.ground_truth is not None for row in rows] == [camera == first for camera in chosen]
    (scored,) = [row.ground_truth for row in rows if row.ground_truth is not None]
    assert scored["source"] == str(labels) and "car" in scored["ap"]


def test_a_workers_start_up_prepares_its_models_for_the_bags_frames(bags):
    """What a worker loads before its first bag (load_models) includes the detector compiled for the bag's frame size:
    the first frame compiles nothing more. And the modules that make a bag's row import no plotting library (a
    worker's first row paid about 1.2 s of CPU for matplotlib)."""
    sample = bags / "sample.mcap"
    graph, chosen = cameras_of(sample)
    camera, bag_camera = next(iter(chosen.items()))
    models = ModelCache()
    load_models(graph, camera, sample, bag_camera.image_topic, models, {})
    pipeline = CameraPipeline(CameraParameters.from_graph(graph, camera), models=models)
    pipeline.load()  # the kept models
    backend = pipeline.detection.detector.backend
    if not hasattr(backend, "requests"):
        pytest.skip(f"the {backend.name} backend compiles no model per input size")
    compiled = set(backend.requests)
    assert len(compiled) == 1
    first = next(read_messages(sample, [bag_camera.image_topic]))
    message = perception_typestore().deserialize_cdr(first.raw, first.msgtype)
    result = pipeline.process(message, 0.0)
    assert result.detections is not None and len(result.detections) > 0
    assert set(backend.requests) == compiled
    assert pipeline.health.counters.get("frames_received") == 1  # the blank frame of start-up counted nothing

    check = ("import sys; from perception.evaluation import fleet_report, ground_truth, online_prediction, "
             "recorded_run, run_summary; print(sorted(m for m in ('matplotlib', 'PIL') if m in sys.modules))")
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=120)
    assert imported.stdout.strip() == "[]"
