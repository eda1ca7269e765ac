"""Where the installed package keeps its shared files (config, models, sample data, launch)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "perception"
# Environment variables that select a Fast DDS XML profile: Fast DDS 2.x (Humble, Jazzy), Fast DDS 3 (Kilted).
DDS_PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def share_dir() -> Path:
    """share/perception of the install: from the ament index (colcon), else the venv prefix."""
    if os.environ.get("AMENT_PREFIX_PATH"):
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory(PACKAGE))
        except PackageNotFoundError:
            pass
    candidate = Path(sys.prefix, "share", PACKAGE)
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(
        f"share/{PACKAGE} not found (AMENT_PREFIX_PATH={os.environ.get('AMENT_PREFIX_PATH', '')!r}, "
        f"prefix {sys.prefix}): install the package with `make setup` or `colcon build`."
    )


def config_path(name: str) -> Path:
    return share_dir() / "config" / name


def model_path(name: str) -> Path:
    return share_dir() / "models" / name


def data_path(name: str) -> Path:
    return share_dir() / "data" / name


def use_local_dds_profile(environment: dict[str, str]) -> None:
    """Select the shipped shared-memory Fast DDS profile in `environment`, unless a profile is already chosen."""
    for variable in DDS_PROFILE_VARIABLES:
        environment.setdefault(variable, str(config_path("fastdds_shm.xml")))
