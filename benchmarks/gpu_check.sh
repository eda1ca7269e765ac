#!/usr/bin/env bash
# GPU check, ready to run on a machine with an NVIDIA GPU (torch with CUDA; TensorRT where its Python package is):
# the GPU tests, the detector benchmark on the torch CUDA backend (and TensorRT fp16/int8), and TensorRT's INT8
# engine built from the symmetric Q/DQ ONNX with its accuracy against the float model (eval-int8). Each check runs
# under `timeout`, within one budget (BUDGET_S, default 450 s), so the script ends in under 8 minutes; it prints one
# markdown table (check, result, seconds) and says what it skipped and why. Exit status 1 if a check that ran failed.
#
#   benchmarks/gpu_check.sh            # from anywhere; PYTHON=... picks the interpreter (default: .venv/bin/python)
#   LOG_DIR=/tmp/gpu-check benchmarks/gpu_check.sh   # full outputs of every check (default: a new temp folder)
set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3 || command -v python)"
BUDGET_S="${BUDGET_S:-450}"
LOG_DIR="${LOG_DIR:-$(mktemp -d /tmp/gpu-check.XXXXXX)}"
mkdir -p "$LOG_DIR"
START=$(date +%s)
ROWS=()
FAILED=0

row() { ROWS+=("| $1 | $2 | $3 |"); }

# run_check NAME TIMEOUT_S LOG COMMAND...: runs within what is left of the budget, records pass/fail/timeout.
run_check() {
    local name="$1" limit="$2" log="$3"
    shift 3
    local left=$((BUDGET_S - ($(date +%s) - START)))
    if [ "$left" -lt 30 ]; then
        row "$name" "skipped: time budget of ${BUDGET_S} s spent" "0"
        return
    fi
    [ "$limit" -gt "$left" ] && limit="$left"
    local began=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >"$LOG_DIR/$log" 2>&1
    local status=$? seconds=$(($(date +%s) - began)) result
    case "$status" in
        0) result="passed"
           case "$log" in pytest*) result="passed: $(tail -n 1 "$LOG_DIR/$log" | tr -d '=' | xargs)" ;; esac ;;
        124 | 137) result="FAILED: timed out after ${limit} s"; FAILED=1 ;;
        *) result="FAILED (exit $status): $(tail -n 1 "$LOG_DIR/$log" | tr '|' '/' | cut -c1-150)"; FAILED=1 ;;
    esac
    row "$name" "$result (log: $LOG_DIR/$log)" "$seconds"
}

CHECKS=("GPU tests (test/test_detection_real_images.py: torch CUDA fp16, TensorRT fp16)"
        "detector benchmark (benchmarks/detector.py): torch CUDA, TensorRT fp16 and int8"
        "TensorRT INT8 engine from the symmetric Q/DQ ONNX (perception build-engine --precision int8)"
        "TensorRT INT8 accuracy against float (perception eval-int8 --backend tensorrt)")

GPU_REASON=""
if ! command -v nvidia-smi >/dev/null 2>&1; then
    GPU_REASON="no NVIDIA GPU (nvidia-smi not found)"
elif ! nvidia-smi -L >/dev/null 2>&1; then
    GPU_REASON="no NVIDIA GPU (nvidia-smi -L failed: $(nvidia-smi -L 2>&1 | head -n 1))"
elif ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
    GPU_REASON="torch sees no CUDA device ($("$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1 | tail -n 1))"
fi

if [ -n "$GPU_REASON" ]; then
    for check in "${CHECKS[@]}"; do row "$check" "skipped: $GPU_REASON" "0"; done
else
    echo "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)" >&2
    TENSORRT=""
    if "$PYTHON" -c "import tensorrt" >/dev/null 2>&1; then
        TENSORRT="$("$PYTHON" -c "import tensorrt; print(tensorrt.__version__)")"
    fi
    run_check "${CHECKS[0]}" 150 pytest_gpu.log \
        bash -c "cd test && '$PYTHON' -m pytest -q -rs test_detection_real_images.py -k 'cuda or tensorrt'"
    BACKENDS=(torch)
    [ -n "$TENSORRT" ] && BACKENDS+=(tensorrt tensorrt:int8)
    run_check "${CHECKS[1]}" 150 benchmark.log \
        "$PYTHON" benchmarks/detector.py --only-backends --backends "${BACKENDS[@]}" --frames 60
    if [ -n "$TENSORRT" ]; then
        run_check "${CHECKS[2]} (TensorRT $TENSORRT)" 120 build_engine_int8.log \
            "$PYTHON" -m perception build-engine --precision int8
        run_check "${CHECKS[3]}" 90 eval_int8_tensorrt.log \
            "$PYTHON" -m perception eval-int8 --backend tensorrt
    else
        row "${CHECKS[2]}" "skipped: the tensorrt Python package is not installed (import tensorrt failed)" "0"
        row "${CHECKS[3]}" "skipped: the tensorrt Python package is not installed (import tensorrt failed)" "0"
    fi
fi

echo "GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), total $(($(date +%s) - START)) s"
echo
echo "| check | result | seconds |"
echo "|---|---|---|"
printf '%s\n' "${ROWS[@]}"
for log in benchmark.log eval_int8_tensorrt.log; do
    if [ -s "$LOG_DIR/$log" ] && grep -q '^|' "$LOG_DIR/$log"; then
        echo
        echo "$log:"
        grep '^|' "$LOG_DIR/$log"
    fi
done
exit "$FAILED"
