#!/usr/bin/env bash
# Set up .venv, lint, and run the whole test suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup_env.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest tests "$@"
