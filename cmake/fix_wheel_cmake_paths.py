"""Point the CMake exports of the ROS 2 PyPI wheels at this environment's Python and numpy.

The wheels' exported CMake files carry the include paths of the machine that built them
(/opt/python/cp311-cp311/...), and CMake's generate step fails on them. Idempotent.
Usage: python cmake/fix_wheel_cmake_paths.py PREFIX
"""
import re
import sys
import sysconfig
from pathlib import Path

import numpy

WHEEL_BUILD_PREFIX = re.compile(r"/opt/python/cp3\d+-cp3\d+")


def replacement_paths() -> dict[re.Pattern, str]:
    python_include = sysconfig.get_paths()["include"]
    return {
        re.compile(WHEEL_BUILD_PREFIX.pattern + r"/lib/python3\.\d+/site-packages/numpy/_core/include"): numpy.get_include(),
        re.compile(WHEEL_BUILD_PREFIX.pattern + r"/include/python3\.\d+"): python_include,
    }


def main(prefix: str) -> int:
    replacements = replacement_paths()
    fixed = 0
    for path in Path(prefix, "share").rglob("*.cmake"):
        text = path.read_text()
        if not WHEEL_BUILD_PREFIX.search(text):
            continue
        for pattern, value in replacements.items():
            text = pattern.sub(value, text)
        path.write_text(text)
        fixed += 1
    print(f"fix_wheel_cmake_paths: rewrote {fixed} CMake files under {prefix}/share")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
