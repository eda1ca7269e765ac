"""A fleet stream's detections reach its tracking thread frame by frame, in index order, whatever order the workers
return them in; a frame that cannot come stops the tracker with the reason instead of leaving it waiting."""
import threading
from pathlib import Path

import numpy as np
import pytest

import perception.runtime.fleet_workers as fleet_workers
from perception.resources import config_path, data_path
from perception.runtime.bag_cameras import find_cameras, graph_for_cameras
from perception.bags import bag_topics, read_messages
from perception.runtime.fleet import StreamDetections, evaluate_fleet, plan_streams
from perception.pipeline.detection import DetectedFrame
from perception.types import Detections
from bag_pieces import cut_bag
from waiting import wait_until

BAG = Path("fleet/bag0.mcap")


def frame(index: int) -> DetectedFrame:
    return DetectedFrame(1_000 + index, Detections.empty(), elapsed_ns=index)


def take_in_background(detections: StreamDetections, count: int) -> tuple[threading.Thread, list, list]:
    """A tracker stand-in that takes frames 0..count-1 in order; returns its thread, what it got, what it raised."""
    taken, errors = [], []

    def run() -> None:
        try:
            for index in range(count):
                taken.append(detections[index].timestamp_ns)
        except ValueError as error:
            errors.append(str(error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, taken, errors


def test_frames_returned_out_of_order_are_taken_in_order_as_they_arrive():
    detections = StreamDetections(BAG)
    thread, taken, errors = take_in_background(detections, 6)
    for index in (2, 3, 0):
        assert detections.add(index, frame(index))
    assert wait_until(lambda: taken == [1_000], timeout_s=10)
    thread.join(0.2)
    assert taken == [1_000] and thread.is_alive()  # frame 1 is missing: the tracker waits for it
    for index in (5, 1, 4):
        assert detections.add(index, frame(index))
    detections.finish(6)
    thread.join(5)
    assert not thread.is_alive() and not errors
    assert taken == [1_000 + i for i in range(6)]
    assert detections.wait_until_read() == 6 and detections.taken == 6


def test_a_second_result_for_a_frame_is_refused_even_after_it_was_taken():
    detections = StreamDetections(BAG)
    assert detections.add(0, frame(0))
    assert not detections.add(0, frame(0))
    assert detections[0].timestamp_ns == 1_000
    assert not detections.add(0, frame(0))
    assert detections.taken == 1
    with pytest.raises(ValueError, match="frame 0 was taken already"):
        detections[0]


def test_a_failed_bag_stops_a_waiting_tracker_with_its_reason():
    detections = StreamDetections(BAG)
    thread, taken, errors = take_in_background(detections, 3)
    detections.add(0, frame(0))
    assert wait_until(lambda: taken == [1_000], timeout_s=10)
    thread.join(0.2)  # the tracker now waits for frame 1 (either way it must stop with the reason)
    detections.fail("fleet/bag0.mcap: truncated chunk")
    thread.join(5)
    assert not thread.is_alive()
    assert taken == [1_000] and errors == ["fleet/bag0.mcap: truncated chunk"]
    with pytest.raises(ValueError, match="truncated chunk"):
        detections.wait_until_read()


def test_a_frame_beyond_the_bags_count_raises_instead_of_waiting():
    detections = StreamDetections(BAG)
    for index in range(2):
        detections.add(index, frame(index))
    detections.finish(2)
    assert [detections[i].elapsed_ns for i in range(2)] == [0, 1]
    with pytest.raises(ValueError, match=r"frame 2 was never sent for detection \(the bag gave 2 frames\)"):
        detections[2]


def test_taken_frames_are_released():
    detections = StreamDetections(BAG)
    for index in range(100):
        detections.add(index, DetectedFrame(index, Detections(
            boxes=np.zeros((1, 4), np.float32), scores=np.ones(1, np.float32), labels=np.zeros(1, int),
            source_class_ids=np.zeros(1, int)), 0))
    assert detections.held == 100
    for index in range(60):
        detections[index]
    assert detections.held == 40  # the driver holds only what the tracker has not taken
    detections.close()  # the tracker is done (or failed): nothing is held, later results are dropped
    assert detections.add(100, frame(100)) and detections.held == 0


class OneFrameLostPool:
    """A detection pool whose workers return every frame of the run with no objects, except frame 5 of the first
    stream: a result that went missing without an error."""

    def __init__(self, workers: int, detector_keys: list[str] | None = None) -> None:
        self.resubmitted_batches = 0

    def restarts(self) -> int:
        return 0

    def detect(self, batches):
        for batch in batches:
            yield batch, [(index, DetectedFrame(timestamp_ns, Detections.empty(), 0))
                          for index, _msgtype, timestamp_ns, _raw in batch.frames
                          if (batch.stream, index) != (0, 5)]


def test_a_frame_that_never_comes_back_fails_its_bag_and_the_others_finish(tmp_path, monkeypatch):
    monkeypatch.setattr(fleet_workers, "connect", lambda address, workers: 1)
    monkeypatch.setattr(fleet_workers, "RayDetectorPool", OneFrameLostPool)
    sample = data_path("sample_highway_960x540.mcap")
    bags = [cut_bag(sample, tmp_path / "lost.mcap", 8), cut_bag(sample, tmp_path / "fine.mcap", 8)]
    planned = plan_streams(bags, lambda bag: graph_for_cameras(config_path("perception.yaml"), "front",
                                                                find_cameras(bag_topics(bag))))
    runs = []
    evaluation = threading.Thread(target=lambda: runs.append(evaluate_fleet(planned, tmp_path / "out")), daemon=True)
    evaluation.start()
    evaluation.join(120)
    assert not evaluation.is_alive(), "the run waits forever for the lost frame"
    lost, fine = runs[0].outcomes
    assert lost.error == f"{bags[0]}: a frame never came back from the workers" and lost.recording is None
    assert not (tmp_path / "out" / "lost" / "eval.mcap").exists()  # a failed bag leaves no partial recording
    assert fine.error is None and fine.recording == tmp_path / "out" / "fine" / "eval.mcap"
    assert sum(1 for _ in read_messages(fine.recording, ["/perception/front/tracks"])) == 8
