#!/usr/bin/env bash
# The whole demo on a fresh machine: set up .venv, generate the demo dataset,
# train OCRNet on it, evaluate (per-class IoU, mIoU) and draw predictions.
# Everything lands in work_dirs/demo/. Extra arguments go to tools/train.py.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

bash tools/setup_env.sh
py=.venv/bin/python
config=configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py
work_dir=work_dirs/demo

$py tools/misc/make_demo_dataset.py data/demo_cityscapes --size 128 256 \
  --num-train 100 --num-val 20
$py tools/train.py "$config" --work-dir "$work_dir" "$@"
$py tools/test.py "$config" "$work_dir/iter_200.pth" --work-dir "$work_dir" \
  --show-dir "$work_dir/predictions"
echo "demo: done in $(($(date +%s) - start)) s; see $work_dir"
