"""Input stamp checks shared by the nodes (no ROS): duplicates and out-of-order stamps are skipped, big backward
jumps (a bag starting over) reset the node's state."""
from __future__ import annotations

from enum import Enum


def header_stamp_ns(header) -> int:
    """A std_msgs/Header's stamp in integer nanoseconds (rclpy or rosbags message)."""
    return header.stamp.sec * 10**9 + header.stamp.nanosec


class StampVerdict(Enum):
    OK = "ok"
    DUPLICATE = "duplicate_stamp"
    OUT_OF_ORDER = "out_of_order_stamp"
    TIME_JUMPED_BACK = "time_jumped_back"


class StampGuard:
    def __init__(self, reset_after_backward_jump_s: float = 2.0) -> None:
        self.reset_after_backward_jump_s = reset_after_backward_jump_s
        self.last: float | None = None

    def check(self, stamp: float) -> StampVerdict:
        """Verdict for a new input stamp; OK and TIME_JUMPED_BACK accept it as the new latest stamp."""
        if self.last is not None:
            if stamp == self.last:
                return StampVerdict.DUPLICATE
            if stamp < self.last:
                if self.last - stamp < self.reset_after_backward_jump_s:
                    return StampVerdict.OUT_OF_ORDER
                self.last = stamp
                return StampVerdict.TIME_JUMPED_BACK
        self.last = stamp
        return StampVerdict.OK
