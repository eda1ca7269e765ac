"""Python message classes from ROS type names such as 'sensor_msgs/msg/Image'."""
from __future__ import annotations

import importlib


def message_class(type_name: str) -> type:
    """The rclpy message class of `package/msg/Type` (or `package/Type`)."""
    parts = type_name.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a message type name: {type_name!r}")
    package, kind, name = parts
    try:
        module = importlib.import_module(f"{package}.{kind}")
        return getattr(module, name)
    except (ImportError, AttributeError) as error:
        raise LookupError(f"message type {type_name} is not installed: {error}") from None
