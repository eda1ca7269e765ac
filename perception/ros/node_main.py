"""Process entry point shared by all nodes: init, spin, clean shutdown on Ctrl-C/SIGTERM."""
from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    rclpy.init(args=sys.argv if args is None else args)
    node = make_node()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        close = getattr(node, "close", None)
        if close:
            close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
