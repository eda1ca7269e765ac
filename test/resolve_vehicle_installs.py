"""pip's resolver on the README's vehicle install commands, for platforms this machine is not (no download).

(a) Jetson: Linux aarch64, Python 3.10, with stand-in wheels for JetPack's torch/torchvision (empty packages with
    NVIDIA's version numbers, pinned like the README's jetpack-torch.txt): everything must resolve to binary wheels,
    numpy < 2, torch must stay JetPack's, and a requirement for another torch must fail rather than replace it.
(b) Jazzy on Ubuntu 24.04: Linux x86_64 (glibc 2.39), Python 3.12, torch from PyPI.
Usage: python test/resolve_vehicle_installs.py [PIP]   (PIP: a pip >= 23, default .venv310/bin/pip)
"""
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
JETPACK_TORCH = {"torch": "2.5.0a0+872d972e41.nv24.08", "torchvision": "0.20.0a0+afc54f7"}
SHOWN = ("numpy", "torch", "torchvision", "scipy", "opencv-python", "onnxruntime", "ultralytics", "trackeval")


def stand_in_wheel(folder: Path, name: str, version: str) -> None:
    """An installable, empty `name` wheel of `version` (JetPack's packages are not on any index here)."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: stand-in\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{name}/__init__.py": "",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


def platform_options(arch: str, newest_glibc_minor: int) -> list[str]:
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest_glibc_minor, 16, -1)] + [f"manylinux2014_{arch}"]
    return [option for tag in tags for option in ("--platform", tag)]


def resolve(pip: str, python_version: str, platforms: list[str], args: list[str]) -> dict[str, str]:
    """name -> version pip would install (raises CalledProcessError with pip's output when it cannot resolve)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        subprocess.run([pip, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                        "--python-version", python_version, *platforms, "--only-binary=:all:", *args],
                       cwd=REPO_ROOT, check=True, capture_output=True, text=True)
        return {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}


def show(title: str, versions: dict[str, str]) -> None:
    print(f"{title}: {len(versions)} packages;", " ".join(f"{n}=={versions[n]}" for n in SHOWN if n in versions))


def main(pip: str) -> int:
    runtime = ["-r", "requirements-runtime.txt", "-c", "constraints-numpy1.txt"]
    eval_only = ["--no-deps", "-r", "requirements-eval.txt", "-c", "constraints-numpy1.txt"]
    with tempfile.TemporaryDirectory() as folder:
        for name, version in JETPACK_TORCH.items():
            stand_in_wheel(Path(folder), name, version)
        jetpack_torch = Path(folder, "jetpack-torch.txt")
        jetpack_torch.write_text("".join(f"{name}=={version}\n" for name, version in JETPACK_TORCH.items()))
        jetson = [*platform_options("aarch64", 35), "--find-links", folder, "-c", str(jetpack_torch)]
        versions = resolve(pip, "3.10", jetson, runtime)
        show("(a) Jetson, aarch64, Python 3.10", versions)
        assert versions["numpy"].startswith("1."), versions["numpy"]
        assert "+872d972e41" in versions["torch"], f"JetPack's torch replaced by {versions['torch']}"
        show("(a) Jetson, requirements-eval.txt", resolve(pip, "3.10", jetson, eval_only))
        newer_torch = Path(folder, "newer-torch.txt")
        newer_torch.write_text("torch>=2.6\n")
        try:
            resolve(pip, "3.10", jetson, [*runtime, "-r", str(newer_torch)])
            raise AssertionError("a requirement for torch>=2.6 resolved although JetPack's torch is pinned")
        except subprocess.CalledProcessError as error:
            assert "ResolutionImpossible" in error.stderr, error.stderr[-2000:]
            print("(a) Jetson, with an extra torch>=2.6 requirement: ResolutionImpossible (JetPack's torch kept)")
    jazzy = platform_options("x86_64", 39)
    versions = resolve(pip, "3.12", jazzy, ["torch==2.14.1", "torchvision==0.29.1", *runtime])
    show("(b) Jazzy, x86_64, Python 3.12", versions)
    assert versions["numpy"].startswith("1."), versions["numpy"]
    show("(b) Jazzy, requirements-eval.txt", resolve(pip, "3.12", jazzy, eval_only))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(REPO_ROOT / ".venv310" / "bin" / "pip")))
