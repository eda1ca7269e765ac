"""Sign subcommands: train-signs, eval-signs."""
from __future__ import annotations

import argparse

from perception.signs import evaluation_cli, training_cli


def register(subparsers: argparse._SubParsersAction) -> None:
    training_cli.register(subparsers)
    evaluation_cli.register(subparsers)
