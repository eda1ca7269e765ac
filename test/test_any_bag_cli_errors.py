"""Every error of the bag commands (eval, replay, convert-bag, video-to-bag) is one line on stderr and an exit status,
never a traceback: missing files, folders, files that are not bags or videos, bags without cameras, bad option
values. (test_cli_errors.py covers eval and replay on non-bag files.) The real command, in a subprocess."""
import subprocess
import sys

import pytest
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.typesys import Stores, get_typestore

from perception.resources import data_path
from perception.bags import McapFileWriter, perception_typestore

USAGE = 2  # argparse: a bad option value
FAILED = 1  # the command ran and said why it could not do its job


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder, a text file, a file with a bag's name but not a bag's content, and bags without image topics."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "notes.txt").write_text("not a bag\n")
    (folder / "fake.bag").write_bytes(b"#ROSBAG V2.0\n" + b"\0" * 64)
    (folder / "dir").mkdir()
    with McapFileWriter(folder / "no_images.mcap", perception_typestore()) as writer:
        writer.add_topic("/odom", "nav_msgs/msg/Odometry")
    typestore = get_typestore(Stores.ROS1_NOETIC)
    with Ros1Writer(folder / "no_images.bag") as writer:
        connection = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=typestore)
        message = typestore.types["std_msgs/msg/String"](data="hello")
        writer.write(connection, 1, typestore.serialize_ros1(message, "std_msgs/msg/String"))
    return folder


CASES = [
    # (arguments with {d} = the inputs folder and {s} the sample bag, exit status, start of the message after
    # "perception <command>: ")
    ("eval {d}/missing.mcap", FAILED, "{d}/missing.mcap: no such bag"),
    ("replay {d}/missing.mcap", FAILED, "{d}/missing.mcap: no such bag"),
    ("convert-bag {d}/missing.bag {d}/out.mcap", FAILED, "{d}/missing.bag: no such bag"),
    ("video-to-bag {d}/missing.mp4 {d}/out.mcap", FAILED, "{d}/missing.mp4: cannot open as a video"),
    ("convert-bag {d}/dir {d}/out.mcap", FAILED, "{d}/dir: not a ROS 1 .bag file"),
    ("video-to-bag {d}/dir {d}/out.mcap", FAILED, "{d}/dir: cannot open as a video"),
    ("convert-bag {d}/notes.txt {d}/out.mcap", FAILED, "{d}/notes.txt: not a ROS 1 .bag file"),
    ("convert-bag {d}/fake.bag {d}/out.mcap", FAILED, "{d}/fake.bag: cannot read the bag (corrupt or truncated?)"),
    ("eval {d}/fake.bag", FAILED, "{d}/fake.bag: cannot read the bag (corrupt or truncated?)"),
    ("video-to-bag {d}/notes.txt {d}/out.mcap", FAILED, "{d}/notes.txt: cannot open as a video"),
    ("eval {d}/no_images.mcap", FAILED, "{d}/no_images.mcap: no image topics"),
    ("eval {d}/no_images.mcap --mode live", FAILED, "{d}/no_images.mcap: no image topics"),
    ("eval {d}/no_images.bag", FAILED, "{d}/no_images.bag: no image topics"),
    ("replay {d}/no_images.mcap --as-camera front", FAILED, "{d}/no_images.mcap: no image topics"),
    ("replay {d}/no_images.mcap --camera-topic /cam/image_raw", FAILED, "{d}/no_images.mcap: no image topics"),
    ("replay {d}/no_images.mcap --topics /cam/image_raw", FAILED, "{d}/no_images.mcap: no topics ['/cam/image_raw']"),
    ("convert-bag {d}/no_images.mcap {d}/out.mcap", FAILED, "{d}/no_images.mcap: not a ROS 1 .bag file"),
    ("eval {d}/no_images.mcap --mode fast", USAGE, "error: argument --mode: invalid choice: 'fast'"),
    ("eval {d}/no_images.mcap --fov 200", USAGE, "error: argument --fov: a horizontal field of view"),
    ("eval {d}/no_images.mcap --camera-info {d}/notes.txt", FAILED, "{d}/notes.txt: not a camera_info YAML file"),
    ("replay {d}/no_images.mcap --rate 0", USAGE, "error: argument --rate: must be > 0, got 0"),
    ("replay {d}/no_images.mcap --rate fast", USAGE, "error: argument --rate: invalid positive value: 'fast'"),
    ("eval {s} --camera rear", FAILED, "no camera 'rear' (cameras: front)"),
    ("eval {s} --camera-topic /cam/image_raw", FAILED, "{s}: no image topic /cam/image_raw; its image topics: "),
    ("eval {s} --info-topic /cam/camera_info", FAILED, "{s}: no CameraInfo topic /cam/camera_info; its CameraInfo"),
    ("replay {s} --as-camera rear", FAILED, "no camera 'rear' (cameras: front)"),
    ("video-to-bag {d}/missing.mp4 {d}/out.mcap --encoding yuv999", FAILED, "cannot write images in encoding 'yuv999'"),
    ("convert-bag {d}/no_images.bag {d}/out.db3", FAILED, "{d}/out.db3: the output file must end in .mcap"),
    ("convert-bag {d}/no_images.bag {d}/no_images.mcap", FAILED, "{d}/no_images.mcap exists already, not overwriting"),
]


@pytest.mark.parametrize("arguments, status, message", CASES, ids=[case[0].replace("{d}/", "") for case in CASES])
def test_bag_command_errors_are_one_line_and_an_exit_status(inputs, arguments, status, message):
    arguments = arguments.format(d=inputs, s=data_path("sample_highway_960x540.mcap")).split()
    run = subprocess.run([sys.executable, "-m", "perception", *arguments], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == status, run.stderr
    message = message.format(d=inputs, s=data_path("sample_highway_960x540.mcap"))
    assert run.stderr.startswith(f"perception {arguments[0]}: ") and message in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr, run.stderr
    assert not (inputs / "out.mcap").exists()
