"""Starting a command loads only what it needs: `perception detect` does not import torch (1.5 s of start-up on the
2-core build machine; the predictor commands import it when they run)."""
import subprocess
import sys


def test_the_command_line_starts_without_torch():
    code = ("import sys; from perception.cli import build_parser; build_parser(); "
            "print('torch' in sys.modules, 'ultralytics' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "False"]
