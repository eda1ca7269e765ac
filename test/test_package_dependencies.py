"""package.xml declares every runtime import of perception that has a rosdep key; the others come from pip.

The imports are read from the source tree (an AST walk over perception/ and launch/, imports inside functions
included). Each must be the standard library, perception itself, a ROS 2 package or rosdep key declared in
package.xml, or a pip-only package (PIP_ONLY) whose distribution is in the requirement files and named in the
README or docs/install.md. The pinned versions (desk venv, numpy 1.x constraints) must lie inside the ranges of
requirements-runtime.txt.
"""
import ast
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]

# Imports whose rosdep key is not their own name (a ROS 2 package's key is its import name).
ROSDEP_KEYS = {
    "numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml", "scipy": "python3-scipy",
    "matplotlib": "python3-matplotlib", "PIL": "python3-pil", "google": "python3-protobuf", "tqdm": "python3-tqdm",
    "tf2_ros": "tf2_ros_py",
}
# Imports without a rosdep key (on every platform), and the pip distribution that provides each.
PIP_ONLY = {
    "torch": "torch", "ultralytics": "ultralytics", "onnx": "onnx", "onnxruntime": "onnxruntime",
    "openvino": "openvino", "nncf": "nncf", "rosbags": "rosbags", "lap": "lap", "trackeval": "trackeval", "ray": "ray",
}
# Imports that neither rosdep nor pip provides here.
ELSEWHERE = {"tensorrt": "JetPack (python3-libnvinfer) or NVIDIA's packages"}
REQUIREMENT_FILES = ("requirements-runtime.txt", "requirements-eval.txt", "requirements.txt")


def imported_packages() -> dict[str, str]:
    """Top-level package of every absolute import under perception/ and launch/ -> one file that imports it."""
    found: dict[str, str] = {}
    for path in sorted([*(REPO_ROOT / "perception").rglob("*.py"), *(REPO_ROOT / "launch").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.partition(".")[0], str(path.relative_to(REPO_ROOT)))
    return found


def declared_dependencies() -> set[str]:
    """Keys of package.xml's run-time dependencies (depend, exec_depend)."""
    root = ElementTree.parse(REPO_ROOT / "package.xml").getroot()
    return {element.text.strip() for tag in ("depend", "exec_depend") for element in root.iter(tag)}


def requirements(name: str) -> dict[str, Requirement]:
    """The requirements of one file (its own lines, not those of files it includes), by canonical name."""
    lines = (line.split("#")[0].strip() for line in (REPO_ROOT / name).read_text().splitlines())
    parsed = (Requirement(line) for line in lines if line and not line.startswith("-"))
    return {canonicalize_name(requirement.name): requirement for requirement in parsed}


def test_every_import_is_declared_in_package_xml_or_a_documented_pip_package():
    declared = declared_dependencies()
    from_pip = set().union(*(requirements(name) for name in REQUIREMENT_FILES))
    undeclared = []
    for package, where in imported_packages().items():
        if package in sys.stdlib_module_names or package == "perception" or package in ELSEWHERE:
            continue
        if package in PIP_ONLY:
            assert canonicalize_name(PIP_ONLY[package]) in from_pip, f"{PIP_ONLY[package]} ({where}) in no requirements file"
        elif ROSDEP_KEYS.get(package, package) not in declared:
            undeclared.append(f"{package} ({where})")
    assert not undeclared, f"imports with no rosdep key in package.xml and not in PIP_ONLY: {undeclared}"


def test_every_python_key_in_package_xml_is_imported():
    used = {ROSDEP_KEYS[package] for package in imported_packages() if package in ROSDEP_KEYS}
    python_keys = {key for key in declared_dependencies() if key.startswith("python3-")}
    assert python_keys <= used, f"declared but not imported: {sorted(python_keys - used)}"


def test_the_readme_names_the_pip_only_packages():
    readme = "\n".join((REPO_ROOT / name).read_text() for name in ("README.md", "docs/install.md"))
    missing = [distribution for distribution in [*PIP_ONLY.values(), *ELSEWHERE] if f"`{distribution}`" not in readme]
    assert not missing, f"README.md and docs/install.md do not name these pip-only packages: {missing}"


@pytest.mark.parametrize("pins", ["requirements.txt", "constraints-numpy1.txt"])
def test_pinned_versions_lie_inside_the_runtime_ranges(pins):
    pinned = {name: str(next(iter(r.specifier))).removeprefix("==") for name, r in requirements(pins).items()
              if re.fullmatch(r"==[^*]+", str(r.specifier))}
    for name, requirement in {**requirements("requirements-runtime.txt"), **requirements("requirements-eval.txt")}.items():
        assert name in pinned, f"{pins} pins no version of {name}"
        assert requirement.specifier.contains(pinned[name]), f"{pins}: {name}=={pinned[name]} not in {requirement}"


def test_numpy_1_constraints_keep_numpy_below_2():
    assert requirements("constraints-numpy1.txt")["numpy"].specifier.contains("1.26.4")
    assert not requirements("constraints-numpy1.txt")["numpy"].specifier.contains("2.0.0")
