#!/usr/bin/env bash
# Build this repo with colcon as src/perception of a fresh ROS 2 workspace, against the Jazzy wheels
# of the venv given as $1, then import the built interfaces and our code from the install space.
set -euo pipefail
VENV=$(cd "$1" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORKSPACE=$(mktemp -d /tmp/perception-colcon-XXXXXX)
trap 'rm -rf "$WORKSPACE"' EXIT
mkdir -p "$WORKSPACE/src"
# A clean copy of the sources (tracked files only), as a clone would have them.
mkdir -p "$WORKSPACE/src/perception" && (cd "$REPO" && git ls-files -z | xargs -0 cp --parents -t "$WORKSPACE/src/perception")
cd "$WORKSPACE"
export PATH="$VENV/bin:$PATH" CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
start=$(date +%s)
colcon build --cmake-args -G Ninja -DBUILD_TESTING=OFF \
  -DPython3_EXECUTABLE="$VENV/bin/python3" > build.log 2>&1 || { cat build.log; exit 1; }
echo "colcon build: $(( $(date +%s) - start )) s"
set +u
source install/setup.bash
set -u
cd /tmp
python3 - <<'PY'
import perception, perception.msg
from perception.graph import load_graph
from perception.resources import config_path, share_dir
assert "install" in perception.__file__, perception.__file__
assert "install" in str(share_dir()), share_dir()
message = perception.msg.TrackedObjects()
print("colcon install OK:", perception.__file__, "|", share_dir(), "|", type(message).__name__,
      "|", len(load_graph(config_path("perception.yaml")).nodes), "nodes in the graph")
PY
test -x "$WORKSPACE/install/perception/lib/perception/detector"
# Executables start the Python the build was configured with, not whichever python3 PATH finds first.
shebang=$(head -n 1 "$WORKSPACE/install/perception/lib/perception/detector")
test "$shebang" = "#!$VENV/bin/python3" || { echo "detector starts with '$shebang', expected #!$VENV/bin/python3"; exit 1; }
echo "entry points run $VENV/bin/python3"
