"""`perception replay` on a bag it cannot read: a non-zero exit and one clear line naming the file, no traceback."""
import os
import subprocess
import sys

import pytest

from perception.resources import data_path

SAMPLE_BAG = data_path("sample_highway_960x540.mcap")


@pytest.mark.parametrize("case, reason", [
    ("truncated", "cannot read the bag (corrupt or truncated?): ReaderError"),
    ("not_a_bag", "cannot read the bag (corrupt or truncated?): ReaderError: File magic is invalid"),
    ("missing", "no such bag"),
])
def test_replay_of_a_bad_bag_exits_non_zero_with_a_clear_message(tmp_path, case, reason):
    bag = tmp_path / f"{case}.mcap"
    if case == "truncated":
        data = SAMPLE_BAG.read_bytes()
        bag.write_bytes(data[: len(data) * 3 // 5])
    elif case == "not_a_bag":
        bag.write_bytes(os.urandom(4096))
    player = subprocess.run([sys.executable, "-m", "perception", "replay", str(bag)], capture_output=True,
                            text=True, timeout=180)
    output = player.stdout + player.stderr
    assert player.returncode == 1, output
    assert f"perception replay: {bag}: {reason}" in player.stderr, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
