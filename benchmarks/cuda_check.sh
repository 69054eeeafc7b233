#!/usr/bin/env bash
# The CUDA path, checked on a GPU machine (no CI machine has one):
#   bash benchmarks/cuda_check.sh [OUT_DIR]
# Runs the CUDA tests and the core tests with the package from this checkout, then
# prints JSON lines: training throughput on the GPU and the CPU of the same machine,
# and one paper-configuration copy run on the GPU with its generalisation table.
set -uo pipefail
OUT="${1:-${OUT:-/tmp/cuda_check}}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
nvidia-smi -L
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
$PY -m pytest tests/test_cuda.py tests/test_addressing.py tests/test_memory.py tests/test_model.py tests/test_training.py \
    -q -p no:cacheprovider -o addopts="" 2>&1 | tee "$OUT/pytest.txt" | tail -15
for dev in cuda cpu; do
  for b in 1 32 256 1024; do
    [ "$dev" = cpu ] && [ "$b" -gt 32 ] && continue
    $PY -m ntm_widgets.cli bench --device $dev --batch-size $b --length 20 --steps 10 --json 2>/dev/null | tail -1 | tee -a "$OUT/bench.jsonl"
  done
done
$PY -m ntm_widgets.cli train --device cuda --seed 3 --target-bits 0.1 --time-limit 150 --out "$OUT/run" --json 2>/dev/null | tail -1 | tee "$OUT/train.json"
$PY -m ntm_widgets.cli eval "$OUT/run" --device cuda --lengths 20,40,80,120 --samples 100 2>/dev/null | tee "$OUT/eval.txt"
