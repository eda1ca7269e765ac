"""Python install of perception for a plain virtual environment (`make setup` does this).

On a ROS 2 machine, colcon builds the package with CMakeLists.txt instead, which installs the
same Python package next to the generated interfaces.
"""
from setuptools import find_packages, setup

NODES = ["detector", "tracker", "predictor", "visualizer", "signs", "fusion"]

setup(
    name="perception-ros",  # distinct from the ament egg-info "perception" that CMake installs
    version="0.1.0",
    description="Camera perception for autonomous driving on ROS 2",
    license="AGPL-3.0-only",
    python_requires=">=3.10",
    packages=find_packages(include=["perception", "perception.*"]),
    entry_points={
        "console_scripts": ["perception = perception.cli:main"]
        + [f"perception-{node} = perception.nodes.{node}:main" for node in NODES],
    },
)
