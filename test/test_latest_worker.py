"""NewestMessageWorker without ROS: a setup that raises leaves the worker running, reporting ERROR and counting
every message it cannot process (the detector node's worker thread used to die here, reporting "starting")."""
import threading
from collections import Counter

from perception.pipeline.health import ERROR
from perception.ros.latest import NewestMessageWorker


class RecordingDiagnostics:
    """The NodeDiagnostics calls the worker makes, recorded."""

    def __init__(self) -> None:
        self.counters, self.status, self.errors = Counter(), None, []
        self.rejected = threading.Event()
        self.node = self  # get_logger() below

    def get_logger(self):
        return self

    def error(self, message: str) -> None:
        self.errors.append(message)

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def reject(self, reason: str, detail: str) -> None:
        self.counters[f"rejected.{reason}"] += 1
        self.rejected.set()

    def set_status(self, level: int, message: str) -> None:
        self.status = (level, message)


def failing_setup() -> bool:
    raise KeyError("weights")


def test_a_setup_that_raises_leaves_the_worker_reporting_error_and_counting_drops():
    diagnostics, processed = RecordingDiagnostics(), []
    worker = NewestMessageWorker("detector", diagnostics, processed.append, setup=failing_setup, unit="frames")
    try:
        worker.submit("frame 1")
        assert diagnostics.rejected.wait(10), "the message was neither processed nor rejected"
    finally:
        worker.close()
    assert diagnostics.status == (ERROR, "detector failed to start: KeyError('weights')")
    assert "KeyError: 'weights'" in diagnostics.errors[0]  # the traceback is logged
    assert diagnostics.counters == {"frames_received": 1, "rejected.no_model": 1} and processed == []


def test_messages_arriving_while_one_is_processed_are_skipped_to_the_newest_and_counted():
    """The newest-message policy with an overload made on purpose (processing held until released), not by a slow
    machine: of five messages, the first and the newest are processed and the three in between counted as skipped."""
    diagnostics, processed = RecordingDiagnostics(), []
    busy, release, finished = threading.Event(), threading.Event(), threading.Event()

    def process(message: int) -> None:
        processed.append(message)
        busy.set()
        release.wait(10)
        if message == 5:
            finished.set()

    worker = NewestMessageWorker("detector", diagnostics, process, unit="frames")
    try:
        worker.submit(1)
        assert busy.wait(10), "the worker never took the first message"
        for message in (2, 3, 4, 5):
            worker.submit(message)
        release.set()
        assert finished.wait(10), f"the newest message was not processed: {processed}"
    finally:
        worker.close()
    assert processed == [1, 5]
    assert diagnostics.counters == {"frames_received": 5, "frames_skipped": 3}
