"""Declaring node parameters with descriptors, ranges and allowed values; bad values are rejected with a reason."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node


@dataclass
class ParameterSpec:
    name: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = True  # most parameters take effect at start-up only


def _descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    description = spec.description + (f" (one of: {', '.join(spec.choices)})" if spec.choices else "")
    descriptor = ParameterDescriptor(description=description, read_only=spec.read_only)
    if spec.min is not None and isinstance(spec.default, float):
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max))]
    elif spec.min is not None and isinstance(spec.default, int) and not isinstance(spec.default, bool):
        descriptor.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)]
    return descriptor


def _choice_error(spec: ParameterSpec, value: Any) -> str | None:
    if spec.choices and value not in spec.choices:
        return f"{spec.name}={value!r} is not one of {', '.join(spec.choices)}"
    return None


def declare_parameters(node: Node, specs: list[ParameterSpec]) -> dict[str, Any]:
    """Declare every parameter; an invalid start-up value is logged with its reason and the default is used."""
    by_name = {spec.name: spec for spec in specs}
    values = {}
    for spec in specs:
        descriptor = _descriptor(spec)
        try:
            value = node.declare_parameter(spec.name, spec.default, descriptor).value
        except (InvalidParameterValueException, TypeError, ValueError) as error:
            node.get_logger().error(f"parameter {spec.name} rejected ({error}); using default {spec.default!r}")
            value = node.declare_parameter(spec.name, spec.default, descriptor, ignore_override=True).value
        if (reason := _choice_error(spec, value)) is not None:
            node.get_logger().error(f"parameter rejected: {reason}; using default {spec.default!r}")
            value = spec.default
        values[spec.name] = value

    def check_choices(parameters: list) -> SetParametersResult:
        for parameter in parameters:
            spec = by_name.get(parameter.name)
            if spec and (reason := _choice_error(spec, parameter.value)) is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(check_choices)
    return values
