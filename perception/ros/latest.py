"""Newest-message policy: a one-slot mailbox (no backlog) and a worker thread that processes what it holds."""
from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Generic, TypeVar

from perception.pipeline.health import ERROR
from perception.ros.diagnostics import NodeDiagnostics

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self) -> None:
        self._value: T | None = None
        self._condition = threading.Condition()

    def put(self, value: T) -> bool:
        """Store value; True when it replaced one that was never taken (a skipped frame)."""
        with self._condition:
            replaced = self._value is not None
            self._value = value
            self._condition.notify()
            return replaced

    def take(self, timeout_s: float) -> T | None:
        """The newest value (emptying the slot), or None after timeout_s without one."""
        with self._condition:
            if self._value is None:
                self._condition.wait(timeout_s)
            value, self._value = self._value, None
            return value


class NewestMessageWorker:
    """Processes the newest message in a thread of its own.

    The subscription callback only stores the message, so the executor never blocks and DDS queues never
    overflow unseen; a message replaced before it was processed is counted as `<unit>_skipped`. A failing
    `setup` (e.g. a model that cannot load; False or any exception) leaves the node up, rejecting each message
    as `no_model`.
    """

    def __init__(self, name: str, diagnostics: NodeDiagnostics, process: Callable[[T], None],
                 setup: Callable[[], bool] | None = None, unit: str = "messages") -> None:
        self.diagnostics, self.process, self.setup, self.unit = diagnostics, process, setup, unit
        self.slot: LatestSlot[T] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, message: T) -> None:
        self.diagnostics.count(f"{self.unit}_received")
        if self.slot.put(message):
            self.diagnostics.count(f"{self.unit}_skipped")

    def _run(self) -> None:
        ready = self._set_up()
        while not self._stop.is_set():
            message = self.slot.take(timeout_s=0.2)
            if message is None:
                continue
            if not ready:
                self.diagnostics.reject("no_model", f"not processed: {self._thread.name} failed to start")
                continue
            try:
                self.process(message)
            except Exception as error:  # keep the node alive on any per-message failure, but count and log it
                self.diagnostics.reject("processing_error", repr(error))

    def _set_up(self) -> bool:
        """Run `setup`; one that raises (not only one that returns False) leaves the node up reporting ERROR."""
        if self.setup is None:
            return True
        try:
            return self.setup()
        except Exception as error:
            self.diagnostics.set_status(ERROR, f"{self._thread.name} failed to start: {error!r}")
            self.diagnostics.node.get_logger().error(
                f"{self._thread.name} failed to start:\n{traceback.format_exc()}")
            return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
