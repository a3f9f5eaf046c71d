#!/usr/bin/env bash
# Runs the test suite from a fresh machine: installs, lints, then pytest (which starts Azurite if none runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check ecommerce_tasks tests bench soak function_app.py
exec .venv/bin/python -m pytest "$@"
