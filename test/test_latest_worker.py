"""NewestMessageWorker without ROS: a setup that raises leaves the worker running, reporting ERROR and counting
every message it cannot process (the detector node's worker thread used to die here, reporting "starting")."""
import threading
from collections import Counter

from perception.ros.diagnostics import ERROR
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
