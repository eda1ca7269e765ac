# Two commands set up everything on a fresh Debian 12 / Python 3.11 machine:
#   make demo   - the whole graph on the bundled sample bag (CPU), report in out/
#   make test   - the test suite
# Both create .venv, install the pinned dependencies (requirements.txt), build our ROS 2
# interfaces into the venv with CMake and install the package. Re-running is quick.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3.11
VENV ?= $(CURDIR)/.venv
BUILD_DIR ?= $(CURDIR)/build/venv
BIN := $(VENV)/bin
# pip prints a warning per package for the machine's local mirrors; keep the log readable.
PIP_FILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := 0
export YOLO_CONFIG_DIR := $(VENV)/ultralytics
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: setup install demo test benchmarks colcon-check clean

setup: $(VENV)/.deps-installed install

$(VENV)/.deps-installed: requirements.txt requirements-runtime.txt cmake/fix_wheel_cmake_paths.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | $(PIP_FILTER)
	$(BIN)/python -m pip install --quiet -r requirements.txt 2>&1 | $(PIP_FILTER)
	$(BIN)/python cmake/fix_wheel_cmake_paths.py $(VENV)
	touch $@

# CMake builds msg/ and installs interfaces, Python package, launch/config/models/data into the venv;
# pip then installs the console scripts (setup.py). Both copy the same perception/ sources.
install: $(VENV)/.deps-installed
	mkdir -p $(dir $(BUILD_DIR))
	PATH=$(BIN):$$PATH $(BIN)/cmake -S . -B $(BUILD_DIR) -G Ninja -Wno-dev \
	  -DCMAKE_INSTALL_PREFIX=$(VENV) -DCMAKE_PREFIX_PATH=$(VENV) \
	  -DPython3_EXECUTABLE=$(BIN)/python3 -DBUILD_TESTING=OFF > $(BUILD_DIR).log 2>&1 \
	  || (cat $(BUILD_DIR).log; exit 1)
	PATH=$(BIN):$$PATH $(BIN)/cmake --build $(BUILD_DIR) >> $(BUILD_DIR).log 2>&1 || (cat $(BUILD_DIR).log; exit 1)
	$(BIN)/cmake --install $(BUILD_DIR) >> $(BUILD_DIR).log 2>&1 || (cat $(BUILD_DIR).log; exit 1)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --no-compile . 2>&1 | $(PIP_FILTER)
	rm -rf perception_ros.egg-info

demo: setup
	$(BIN)/perception demo

test: setup
	cd test && $(BIN)/pytest -q

benchmarks: setup
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# colcon build of this repo inside a temporary ROS 2 workspace, against the venv's Jazzy wheels.
colcon-check: setup
	$(BIN)/python -m pip install --quiet -r requirements-colcon.txt 2>&1 | $(PIP_FILTER)
	PATH=$(BIN):$$PATH bash test/colcon_check.sh $(VENV)

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).log build/colcon out
