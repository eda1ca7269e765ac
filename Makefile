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

.PHONY: setup install demo test test-py310 check-vehicle-installs benchmarks colcon-check launch-test-deps clean

setup: $(VENV)/.deps-installed install

$(VENV)/.deps-installed: requirements.txt requirements-runtime.txt requirements-eval.txt requirements-test.txt \
                         cmake/fix_wheel_cmake_paths.py
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

test: setup launch-test-deps
	cd test && $(BIN)/pytest -q

# CI's second run: the ROS-free tests under Python 3.10 with numpy 1.x (what Humble and JetPack 6 have) in .venv310:
# the exact versions of constraints-numpy1.txt, TrackEval without its numpy>=2 metadata (as on a vehicle, README)
# and torch 2.5 (PyPI's build, used on the CPU; JetPack 6.1 ships a torch 2.5). No ROS 2 there: the package is
# installed with pip plus its share/ files, and tests that need rclpy or the built interfaces are skipped.
PYTHON310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) python3.10)
VENV310 ?= $(CURDIR)/.venv310
TORCH_PY310 := torch==2.5.1 torchvision==0.20.1

$(VENV310)/.deps-installed: requirements-runtime.txt requirements-eval.txt requirements-test.txt constraints-numpy1.txt
	test -x $(VENV310)/bin/python || $(PYTHON310) -m venv $(VENV310)
	$(VENV310)/bin/python -m pip install --quiet --upgrade pip 2>&1 | $(PIP_FILTER)
	$(VENV310)/bin/python -m pip install --quiet -r requirements-runtime.txt -r requirements-test.txt \
	  $(TORCH_PY310) -c constraints-numpy1.txt 2>&1 | $(PIP_FILTER)
	$(VENV310)/bin/python -m pip install --quiet --no-deps -r requirements-eval.txt -c constraints-numpy1.txt 2>&1 \
	  | $(PIP_FILTER)
	touch $@

test-py310: $(VENV310)/.deps-installed
	$(VENV310)/bin/python -m pip install --quiet --no-deps --no-compile . 2>&1 | $(PIP_FILTER)
	rm -rf perception_ros.egg-info $(VENV310)/share/perception && mkdir -p $(VENV310)/share/perception
	cp -r launch config models data msg $(VENV310)/share/perception/
	cd test && YOLO_CONFIG_DIR=$(VENV310)/ultralytics $(VENV310)/bin/pytest -q --without-ros

# pip's resolver on the README's Jetson (aarch64, Python 3.10) and Jazzy (Python 3.12) install commands.
check-vehicle-installs: $(VENV310)/.deps-installed
	$(VENV310)/bin/python test/resolve_vehicle_installs.py $(VENV310)/bin/pip

benchmarks: setup
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# colcon build of this repo inside a temporary ROS 2 workspace, against the venv's Jazzy wheels.
colcon-check: setup
	$(BIN)/python -m pip install --quiet -r requirements-colcon.txt 2>&1 | $(PIP_FILTER)
	PATH=$(BIN):$$PATH bash test/colcon_check.sh $(VENV)

# The real ROS 2 launch tools for the launch tests (Jazzy sources in ../shared/ros2-launch, see its README),
# in build/launch-test/ and never in the venv: the Python packages with pip --target, composition_interfaces
# (which launch_ros imports) with the CMake recipe of our own interfaces. Tests find them there (test/real_launch.py).
SHARED ?= $(CURDIR)/../shared
LAUNCH_SOURCES := $(SHARED)/ros2-launch/src
LAUNCH_TEST_DIR := $(CURDIR)/build/launch-test
LAUNCH_PACKAGES := osrf_pycommon launch launch_xml launch_yaml launch_ros ros2launch

launch-test-deps:
	@if [ -d $(LAUNCH_SOURCES) ]; then $(MAKE) --no-print-directory $(LAUNCH_TEST_DIR)/.ready; \
	else echo "$(LAUNCH_SOURCES) not found: the launch tests will be skipped"; fi

$(LAUNCH_TEST_DIR)/.ready: $(VENV)/.deps-installed
	rm -rf $(LAUNCH_TEST_DIR) && mkdir -p $(LAUNCH_TEST_DIR)/src
	cp -r $(LAUNCH_SOURCES)/. $(LAUNCH_TEST_DIR)/src && chmod -R u+w $(LAUNCH_TEST_DIR)/src
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --target $(LAUNCH_TEST_DIR)/site \
	  $(addprefix $(LAUNCH_TEST_DIR)/src/,$(LAUNCH_PACKAGES)) lark==1.1.9 > $(LAUNCH_TEST_DIR).log 2>&1 \
	  || (cat $(LAUNCH_TEST_DIR).log; exit 1)
	PATH=$(BIN):$$PATH AMENT_PREFIX_PATH=$(VENV) $(BIN)/cmake -S $(LAUNCH_TEST_DIR)/src/composition_interfaces \
	  -B $(LAUNCH_TEST_DIR)/build -G Ninja -Wno-dev \
	  -DCMAKE_INSTALL_PREFIX=$(LAUNCH_TEST_DIR)/install -DCMAKE_PREFIX_PATH=$(VENV) \
	  -DPython3_EXECUTABLE=$(BIN)/python3 -DBUILD_TESTING=OFF >> $(LAUNCH_TEST_DIR).log 2>&1 \
	  || (cat $(LAUNCH_TEST_DIR).log; exit 1)
	PATH=$(BIN):$$PATH $(BIN)/cmake --build $(LAUNCH_TEST_DIR)/build >> $(LAUNCH_TEST_DIR).log 2>&1 \
	  || (cat $(LAUNCH_TEST_DIR).log; exit 1)
	$(BIN)/cmake --install $(LAUNCH_TEST_DIR)/build >> $(LAUNCH_TEST_DIR).log 2>&1 || (cat $(LAUNCH_TEST_DIR).log; exit 1)
	touch $@

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).log build/colcon out
