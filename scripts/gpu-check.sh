#!/usr/bin/env bash
# GPU check for a classroom server: the CUDA tests, the engine's and lessons' tests on the GPU, the
# benchmark and the load test at two run caps. Needs python3 with torch and torchvision (Streamlit not
# needed); writes every log and JSON file into the folder given (default: gpu-check/).
#   scripts/gpu-check.sh [OUT_DIR]
set -u
out=${1:-gpu-check}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 CLASSROOM_DATA_DIR=$(mktemp -d)
py=${PYTHON:-python3}

{ nvidia-smi -L; $py -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name())"; } 2>&1 | tee "$out/machine.txt"

echo "== CUDA tests"
timeout 150 $py -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/test_cuda.log" | tail -15

echo "== bench"
timeout 200 $py -m engine bench --json > "$out/bench.json" 2> "$out/bench.err"; echo "rc $?"; cat "$out/bench.json"

echo "== load test, 30 students, 200 steps"
for cap in 2 8; do
  timeout 120 $py -c "import json, sys; from engine.tools.loadtest import run_loadtest; r = run_loadtest(students=30, steps=200, max_running=$cap); print(json.dumps(r))" \
    > "$out/load_cap$cap.json" 2> "$out/load_cap$cap.err"; echo "cap $cap rc $?"; head -c 1500 "$out/load_cap$cap.json"; echo
done

echo "== engine and lesson tests on the GPU (device auto picks CUDA)"
timeout 240 $py -m pytest -q -p no:cacheprovider -n 8 --dist loadfile tests/test_trainer.py tests/test_strategies.py tests/test_faults.py \
  tests/test_manager.py tests/test_schedules.py tests/test_lr_finder.py tests/test_notice_hour*.py 2>&1 | tee "$out/tests_on_gpu.log" | tail -40
