"""`perception` command line: one subcommand per job, registered by the modules of this package (one per area)."""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules exposing `register(subparsers)`, which adds subcommands whose `func(args) -> int` runs them.
SUBCOMMAND_MODULES = [
    "perception.cli.runtime",
    "perception.cli.detection",
    "perception.cli.signs",
    "perception.cli.tracking",
    "perception.cli.prediction",
    "perception.cli.kitti",
]


class OneLineErrorParser(argparse.ArgumentParser):
    """A bad option value gives one line (`perception eval: error: ...`) and exit status 2, without the usage."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="perception", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def explained_error_types() -> tuple[type[Exception], ...]:
    """Errors whose message says all a user needs (a bad bag, model or camera choice): one line, no traceback.

    Imported only once a command has failed, so that starting a command never loads these modules.
    """
    from perception.bags import BagReadError, BagWriteError
    from perception.camera_calibration import CalibrationError
    from perception.detection.errors import DetectorSetupError
    from perception.runtime.bag_cameras import CameraSelectionError
    from perception.runtime.video_to_bag import VideoReadError

    return BagReadError, BagWriteError, CalibrationError, CameraSelectionError, DetectorSetupError, VideoReadError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as error:
        if not isinstance(error, explained_error_types()):
            raise
        print(f"perception {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
