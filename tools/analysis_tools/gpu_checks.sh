#!/usr/bin/env bash
# The GPU checks of the fast inference path, in one run on a CUDA machine:
# the CUDA tests (which skip without a GPU), then benchmark_inference.py
# --device cuda without and with the compiled backend. Each step has its
# own time limit, so one that hangs leaves the others their time.
#
#   bash tools/analysis_tools/gpu_checks.sh [OUT_DIR]   # default work_dirs/gpu_checks
#
# OUT_DIR gets env.txt, tests.txt, bench.txt/.json and compile.txt/.json.
set -u
OUT=${1:-work_dirs/gpu_checks}
mkdir -p "$OUT"
export PYTHONWARNINGS=ignore PYTHONUNBUFFERED=1
BENCH=tools/analysis_tools/benchmark_inference.py
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 -c "import mmseg_ocr_plus, torch, mmseg; print('torch', \
torch.__version__, 'mmseg', mmseg.__version__, torch.cuda.get_device_name())"
} 2>&1 | tee "$OUT/env.txt"
echo "== benchmark $(date -u +%T)"
timeout 230 python3 $BENCH --device cuda --repeats 30 --warmup 5 \
    --backends stock-fp32 stock-fp16 ours-fp32 fast-fp32 fast-fp16 \
    fast-fp16-cl fast-fp16-graph --json "$OUT/bench.json" 2>&1 |
    tee "$OUT/bench.txt"
echo "== tests $(date -u +%T)"
timeout 200 python3 -m pytest -q -rs -p no:cacheprovider -s -k cuda \
    tests/test_deploy/test_cuda_inference.py \
    tests/test_compat/test_mmcv_ops.py \
    tests/test_tools/test_benchmark_inference.py \
    tests/test_tools/test_fast_inference.py >"$OUT/tests.txt" 2>&1
tail -n 25 "$OUT/tests.txt"
echo "== compile $(date -u +%T)"
timeout 150 python3 $BENCH --device cuda --repeats 30 --warmup 5 \
    --backends stock-fp16 fast-fp16 fast-fp16-compile \
    --json "$OUT/compile.json" 2>&1 | tee "$OUT/compile.txt"
echo "== end $(date -u +%T)"
