"""Command-line options made from the parameter table: a command runs the deployed graph's values (config/perception.yaml
or --config) for a node, and an option per table parameter changes one of them for this run, saying so."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from perception.pipeline.parameters import TABLES, ParameterSpec

ALIASES = {"conf_threshold": "--conf", "iou_threshold": "--iou"}  # the short names ultralytics users know


def _option_type(spec: ParameterSpec):
    kind = type(spec.default)
    return {float: float, int: int}.get(kind, str)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path,
                        help="graph file whose node parameters are used (default: the installed, deployed "
                             "config/perception.yaml)")


def add_parameter_options(parser: argparse.ArgumentParser, executable: str, names: list[str]) -> None:
    """--config and an option per named parameter of the executable's table (default: the graph's value)."""
    add_config_option(parser)
    table = {spec.name: spec for spec in TABLES[executable]}
    for name in names:
        spec = table[name]
        flags = [f"--{name.replace('_', '-')}"] + ([ALIASES[name]] if name in ALIASES else [])
        help_text = f"{executable} parameter {name}: {spec.description} (default: the graph file's value)"
        if isinstance(spec.default, bool):
            parser.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(*flags, dest=name, type=_option_type(spec), choices=spec.choices, default=None,
                                help=help_text)


def node_settings(args: argparse.Namespace, executable: str, camera: str = "front") -> tuple[dict[str, Any], str]:
    """The node's parameters for this run: the graph file's (args.config or the deployed one) with the options given
    on the command line; and a line that says which, for the command's output. SystemExit for a refused value."""
    from perception.pipeline.parameters import deployed_parameters, resolve
    from perception.resources import config_path

    config = args.config or config_path("perception.yaml")
    try:
        deployed = deployed_parameters(executable, config, camera)
    except (OSError, ValueError) as error:
        raise SystemExit(f"{config}: {error}") from None
    given = {spec.name: getattr(args, spec.name) for spec in TABLES[executable]
             if getattr(args, spec.name, None) is not None}
    values, problems = resolve(executable, {**deployed, **given})
    if problems:
        raise SystemExit("; ".join(problems))
    changed = {name: value for name, value in given.items() if value != deployed[name]}
    shown = ", ".join(f"{spec.name}={values[spec.name]!r}" for spec in TABLES[executable] if hasattr(args, spec.name))
    source = "the deployed configuration" if args.config is None else "the graph file"
    said = f"{executable} settings: {shown} ({config}: {source}" + (
        f"; changed for this run: {', '.join(changed)})" if changed else ")")
    return values, said
