"""`perception eval` and `perception replay` on input that is not a bag: one line on stderr naming the file and the
reason, exit status 1, no traceback (the real command in a subprocess)."""
import subprocess
import sys

import pytest

from perception.resources import data_path

SAMPLE_BAG = data_path("sample_highway_960x540.mcap")


def not_a_bag(tmp_path, case: str):
    if case == "text_file":
        path = tmp_path / "notes.txt"
        path.write_text("this is not a bag\n")
    elif case == "truncated_bag":
        path = tmp_path / "truncated.mcap"
        data = SAMPLE_BAG.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path = tmp_path / "folder_without_bag"
        path.mkdir()
        (path / "readme.txt").write_text("no metadata.yaml here\n")
    return path


@pytest.mark.parametrize("command", [["eval", "--out", "{out}"], ["replay"]])
@pytest.mark.parametrize("case, reason", [
    ("text_file", "not a bag (expected a .mcap, .db3 or ROS 1 .bag file, or a ROS 2 bag folder)"),
    ("truncated_bag", "cannot read the bag (corrupt or truncated?): ReaderError"),
    ("folder", "a folder without metadata.yaml is not a ROS 2 bag"),
])
def test_a_file_that_is_not_a_bag_gives_one_line_and_exit_status_1(tmp_path, command, case, reason):
    path = not_a_bag(tmp_path, case)
    arguments = [argument.format(out=tmp_path / "out") for argument in command]
    run = subprocess.run([sys.executable, "-m", "perception", arguments[0], str(path), *arguments[1:]],
                         capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert run.stderr.startswith(f"perception {arguments[0]}: {path}: {reason}"), output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
