"""`perception` command line: one subcommand per job, each registered by the module that owns it."""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules exposing `register(subparsers)`, which adds subcommands whose `func(args) -> int` runs them.
SUBCOMMAND_MODULES = [
    "perception.runtime.cli",
    "perception.detection.cli",
    "perception.tracking.cli",
    "perception.prediction.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perception", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
