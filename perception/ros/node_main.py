"""Process entry point shared by all nodes: init, spin, clean shutdown on Ctrl-C/SIGTERM."""
from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    rclpy.init(args=sys.argv if args is None else args)
    node = make_node()
    try:
        spin_through_failures(node)
    finally:
        close = getattr(node, "close", None)
        if close:
            close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def spin_through_failures(node: Node) -> None:
    """Spin until shutdown. A callback that raises (a bug, or input no check foresaw) loses its message, which is
    counted as `processing_error` on the node's diagnostics with the error logged, and the node keeps running."""
    while rclpy.ok(context=node.context):
        try:
            rclpy.spin(node)
            return
        except (KeyboardInterrupt, ExternalShutdownException):
            return
        except Exception as error:
            frame = traceback.extract_tb(error.__traceback__)[-1]
            detail = f"{type(error).__name__}: {error} ({frame.filename}:{frame.lineno})"
            diagnostics = getattr(node, "diagnostics", None)
            if diagnostics is None:
                node.get_logger().error(f"callback failed: {detail}")
            else:
                diagnostics.reject("processing_error", detail)
