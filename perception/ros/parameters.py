"""Declaring a node's parameters from the parameter table (perception.pipeline.parameters) with descriptors, ranges
and allowed values; bad values are rejected with a reason."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from perception.pipeline.parameters import TABLES, ParameterSpec


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


def declare_parameters(node: Node, executable: str) -> dict[str, Any]:
    """Declare every parameter of the executable's table; an invalid start-up value is logged with its reason and
    the default is used."""
    specs = TABLES[executable]
    by_name = {spec.name: spec for spec in specs}
    values = {}
    for spec in specs:
        descriptor = _descriptor(spec)
        # Choices are checked after declaring: writable until then, so a bad value can be replaced.
        # A list (string array) is first declared by type: an empty default would declare a byte array.
        typed = isinstance(spec.default, list)
        first_descriptor = _descriptor(spec) if spec.choices or typed else descriptor
        first_descriptor.read_only = descriptor.read_only and not (spec.choices or typed)
        try:
            value = node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY if typed else spec.default,
                                           first_descriptor).value
            if value is None:  # declared by type, not set
                value = spec.default
        except (InvalidParameterValueException, InvalidParameterTypeException, TypeError, ValueError) as error:
            # e.g. out of range, or `conf_threshold: 1` (an integer for a float parameter)
            node.get_logger().error(f"parameter {spec.name} rejected ({error}); using default {spec.default!r}")
            value = node.declare_parameter(spec.name, spec.default, descriptor, ignore_override=True).value
            first_descriptor = descriptor
        if (reason := _choice_error(spec, value)) is not None:
            node.get_logger().error(f"parameter rejected: {reason}; using default {spec.default!r}")
            value = spec.default
        if first_descriptor is not descriptor:  # the node reports the value it uses, read-only as specified
            node.undeclare_parameter(spec.name)
            node.declare_parameter(spec.name, value, descriptor, ignore_override=True)
        values[spec.name] = list(value) if typed else value

    def check_choices(parameters: list) -> SetParametersResult:
        for parameter in parameters:
            spec = by_name.get(parameter.name)
            if spec and (reason := _choice_error(spec, parameter.value)) is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(check_choices)
    return values
