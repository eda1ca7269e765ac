"""A planner stand-in for the network tests: a plain rclpy process with whatever DDS settings its environment has.

    python planner_stub.py TIMEOUT_S NODE...

Prints "nodes up" once every named node is on the ROS graph, then "received <header frame_id> <objects> <the
objects' camera frames>" for the first perception/PredictedObjects with objects on /perception/predicted_objects, and
exits 0; exits 1 on timeout.
"""
import sys
import time

import rclpy

from perception.msg import PredictedObjects


def main() -> int:
    timeout_s, expected = float(sys.argv[1]), set(sys.argv[2:])
    rclpy.init()
    node = rclpy.create_node("planner_stub")
    received = []
    node.create_subscription(PredictedObjects, "/perception/predicted_objects",
                             lambda message: received.append(message) if message.objects else None, 10)
    deadline, up = time.monotonic() + timeout_s, False
    while time.monotonic() < deadline and not received:
        rclpy.spin_once(node, timeout_sec=0.1)
        if not up and expected <= {f"{ns.rstrip('/')}/{name}" for name, ns in node.get_node_names_and_namespaces()}:
            up = True
            print("nodes up", flush=True)
    if received:
        first = received[0]
        cameras = ",".join(sorted({obj.camera_frame_id for obj in first.objects}))
        print(f"received {first.header.frame_id} {len(first.objects)} {cameras}", flush=True)
    return 0 if received else 1


if __name__ == "__main__":
    sys.exit(main())
