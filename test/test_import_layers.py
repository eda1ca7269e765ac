"""The layers hold: ROS-free code never imports ROS, the runtime or the command line.

ROS-free code is every module of perception except perception.ros, perception.nodes, perception.runtime,
perception.cli, perception.__main__ (the command line) and the generated perception.msg.

- Import check: one fresh interpreter (sys.executable) imports each ROS-free module of the installed package in
  turn, behind an import hook that refuses rclpy, rosidl_*, any top-level *_msgs or *_interfaces package,
  perception.ros, perception.nodes and perception.msg. A module whose import reaches one of them fails the test.
  A module that needs a missing optional package (tensorrt on a desk) is skipped, and the warning summary names it.
- Source check: no ROS-free module of the source tree imports perception.runtime or perception.cli, nor ROS
  (the refused names above), anywhere in its code, imports inside functions included.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import perception

REPO_ROOT = Path(__file__).resolve().parents[1]
NOT_ROS_FREE = ("perception.ros", "perception.nodes", "perception.runtime", "perception.cli", "perception.__main__",
                "perception.msg")
UPPER_LAYERS = ("perception.runtime", "perception.cli")

# Run in the child interpreter: argv[1] is the folder of the installed perception package, argv[2] the JSON list of
# module prefixes left out. Prints one JSON object: {"blocked": [[module, refused name, where]], "skipped": [...],
# "errors": [...], "imported": count}.
CHILD = r'''
import importlib
import importlib.abc
import json
import linecache
import sys
import traceback
from pathlib import Path

package_dir, left_out = Path(sys.argv[1]), tuple(json.loads(sys.argv[2]))


def refused(name):
    top = name.partition(".")[0]
    return (top == "rclpy" or top.startswith("rosidl_") or top.endswith(("_msgs", "_interfaces"))
            or any(name == prefix or name.startswith(prefix + ".")
                   for prefix in ("perception.ros", "perception.nodes", "perception.msg")))


class RefusedImport(ImportError):
    pass


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if refused(name):
            raise RefusedImport(f"import of {name} refused: ROS-free code must not import ROS", name=name)
        return None


sys.meta_path.insert(0, Refuse())


def where(error):
    """file:line of the innermost perception frame that was importing when the error was raised."""
    found = "?"
    for frame, line in traceback.walk_tb(error.__traceback__):
        file = Path(frame.f_code.co_filename)
        if file.is_relative_to(package_dir):
            statement = linecache.getline(str(file), line).strip()
            found = f"perception/{file.relative_to(package_dir).as_posix()}:{line}: {statement}"
    return found


def module_names():
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        name = ".".join(("perception",) + (parts[:-1] if parts[-1] == "__init__" else parts))
        if not any(name == prefix or name.startswith(prefix + ".") for prefix in left_out):
            yield name


result = {"blocked": [], "skipped": [], "errors": [], "imported": 0}
for name in module_names():
    try:
        importlib.import_module(name)
        result["imported"] += 1
    except RefusedImport as error:
        result["blocked"].append([name, error.name, where(error)])
    except ImportError as error:
        if isinstance(error.__context__, RefusedImport) or refused(error.name or ""):
            result["blocked"].append([name, error.name, where(error)])
        else:
            result["skipped"].append([name, f"{type(error).__name__}: {error}", where(error)])
    except Exception as error:
        result["errors"].append([name, f"{type(error).__name__}: {error}", where(error)])
print(json.dumps(result))
'''


def test_ros_free_modules_import_without_ros(tmp_path):
    package_dir = Path(perception.__file__).resolve().parent
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(package_dir), json.dumps(NOT_ROS_FREE)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    for name, reason, place in result["skipped"]:
        warnings.warn(f"{name} not checked: an optional package is missing ({reason}, at {place})", stacklevel=1)
    print(f"{result['imported']} ROS-free modules import without ROS; skipped: {result['skipped']}")
    blocked = [f"{name} imports {refused} (at {place})" for name, refused, place in result["blocked"]]
    assert not blocked, "ROS-free modules that import ROS, first one first:\n" + "\n".join(blocked)
    errors = [f"{name}: {reason} (at {place})" for name, reason, place in result["errors"]]
    assert not errors, "ROS-free modules that fail to import:\n" + "\n".join(errors)
    assert result["imported"] > 50  # the walk found the package


def is_upper_or_ros(name: str) -> str | None:
    """The rule `name` breaks when a ROS-free module imports it, or None."""
    top = name.partition(".")[0]
    if any(name == layer or name.startswith(layer + ".") for layer in UPPER_LAYERS):
        return "imports a layer above it"
    if (top == "rclpy" or top.startswith("rosidl_") or top.endswith(("_msgs", "_interfaces"))
            or any(name == p or name.startswith(p + ".") for p in ("perception.ros", "perception.nodes",
                                                                   "perception.msg"))):
        return "imports ROS"
    return None


def source_modules() -> dict[str, Path]:
    """Module name -> source file of every ROS-free module of the source tree."""
    modules = {}
    for path in sorted((REPO_ROOT / "perception").rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not any(name == prefix or name.startswith(prefix + ".") for prefix in NOT_ROS_FREE):
            modules[name] = path
    return modules


def imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in the tree; `from a import b` gives a and a.b."""
    package = module if is_package else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.append((base, node.lineno))
            names += [(f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return names


def test_ros_free_modules_import_no_runtime_cli_or_ros_in_their_source():
    modules = source_modules()
    assert len(modules) > 50 and "perception.evaluation.report" in modules
    found = {}  # (file, line) -> what is wrong there: the first name of the statement that breaks a rule
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for name, line in imported_names(tree, module, path.name == "__init__.py"):
            rule = is_upper_or_ros(name)
            if rule:
                found.setdefault((path.relative_to(REPO_ROOT), line), f"{module} {rule}: {name}")
    assert not found, "ROS-free modules importing upwards:\n" + "\n".join(
        f"{path}:{line}: {what}" for (path, line), what in found.items())
