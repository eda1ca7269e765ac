"""Where the installed package keeps its shared files (config, models, sample data, launch)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "perception"
# Environment variables that select a Fast DDS XML profile: Fast DDS 2.x (Humble, Jazzy), Fast DDS 3 (Kilted).
DDS_PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
# The shipped Fast DDS profile of each network setting (see perception.graph.network_environment): local = 32 MiB
# shared memory plus UDPv4 on 127.0.0.1 only; vehicle = the same shared memory plus UDPv4 on every interface.
DDS_PROFILES = {"local": "fastdds_shm.xml", "vehicle": "fastdds_vehicle.xml"}


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


def install_paths() -> dict[str, Path]:
    """The search-path entries a colcon setup.bash would add for the prefix this package is installed in (the venv).

    With them, ROS 2 tools (`ros2 launch`, `ros2 run`) find the package and its executables in the ament index
    (AMENT_PREFIX_PATH), its Python modules (PYTHONPATH), message libraries (LD_LIBRARY_PATH) and commands (PATH).
    """
    site_packages = Path(__file__).parents[1]
    prefix = site_packages.parents[2]  # <prefix>/lib/pythonX.Y/site-packages
    if not (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file():
        raise FileNotFoundError(f"{prefix} has no ament index entry for {PACKAGE}: install with `make setup` or colcon")
    paths = {"AMENT_PREFIX_PATH": prefix, "PYTHONPATH": site_packages, "LD_LIBRARY_PATH": prefix / "lib",
             "PATH": prefix / "bin"}
    return {name: path for name, path in paths.items() if path.is_dir()}


def config_path(name: str) -> Path:
    return share_dir() / "config" / name


def model_path(name: str) -> Path:
    return share_dir() / "models" / name


def data_path(name: str) -> Path:
    return share_dir() / "data" / name


def dds_profile_environment(network: str) -> dict[str, str]:
    """The variables that select the shipped Fast DDS profile of `network` ("local" or "vehicle")."""
    profile = str(config_path(DDS_PROFILES[network]))
    return {variable: profile for variable in DDS_PROFILE_VARIABLES}


def use_local_dds_profile(environment: dict[str, str]) -> None:
    """Select the shipped local Fast DDS profile (shared memory, and UDP on loopback) in `environment`, unless a profile
    is already chosen."""
    for variable, profile in dds_profile_environment("local").items():
        environment.setdefault(variable, profile)
