"""A one-slot mailbox that keeps only the newest message (no backlog), counting what it replaced."""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

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
