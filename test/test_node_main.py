"""A callback that raises (a bug, or input no check foresaw) does not end a node: across processes, a node run by
run_node loses that message, counts it as processing_error on /diagnostics, and goes on processing the next ones."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from diagnostic_msgs.msg import DiagnosticArray
from std_msgs.msg import String

from conftest import diagnostic_count, diagnostic_values
from waiting import publish_until

ECHO_NODE = textwrap.dedent('''
    from rclpy.node import Node
    from std_msgs.msg import String

    from perception.ros.diagnostics import NodeDiagnostics
    from perception.ros.node_main import run_node


    class Echo(Node):
        def __init__(self) -> None:
            super().__init__("echo_that_fails")
            self.diagnostics = NodeDiagnostics(self)
            self.publisher = self.create_publisher(String, "/test/echoed", 10)
            self.create_subscription(String, "/test/said", self.on_said, 10)

        def on_said(self, message: String) -> None:
            if message.data == "boom":
                raise RuntimeError("a bug in the callback")
            self.publisher.publish(message)


    run_node(Echo)
''')


def test_a_callback_that_raises_is_counted_and_the_node_keeps_processing(ros, tmp_path):
    script = tmp_path / "echo_node.py"
    script.write_text(ECHO_NODE)
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        said = ros.node.create_publisher(String, "/test/said", 10)
        echoed = ros.collect(String, "/test/echoed")
        diagnostics = ros.collect(DiagnosticArray, "/diagnostics", 100)
        name = "/echo_that_fails"
        assert publish_until(ros, said, String(data="boom"),
                             lambda: diagnostic_count(diagnostics, name, "rejected.processing_error") > 0, 60), \
            diagnostic_values(diagnostics, name)
        assert process.poll() is None, "the node ended on the failing callback"
        assert publish_until(ros, said, String(data="after"), lambda: any(m.data == "after" for m in echoed), 30)
        assert "boom" not in [m.data for m in echoed]
        values = diagnostic_values(diagnostics, name)
        assert "RuntimeError: a bug in the callback" in values.get("last_rejection.processing_error", str(values))
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "RuntimeError: a bug in the callback" in output  # logged
