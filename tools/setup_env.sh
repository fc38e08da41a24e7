#!/usr/bin/env bash
# Create .venv with the tested stack and this plugin installed (editable).
# Idempotent: does nothing when the requirements did not change since the
# last successful run. torch is installed first and pinned: an unpinned torch
# pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

stamp="$VENV/.mmseg_ocr_plus_installed"
want=$(cat requirements/*.txt setup.py | sha256sum | cut -c1-16)-$TORCH_SPEC
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip="$VENV/bin/python -m pip"
$pip install -q --disable-pip-version-check "$TORCH_SPEC"
$pip install -q --disable-pip-version-check -e '.[tests]'
echo "$want" >"$stamp"
echo "setup_env: installed into $VENV in $(($(date +%s) - start)) s"
