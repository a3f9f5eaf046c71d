#!/usr/bin/env bash
# Runs the test suite from a fresh machine: installs, then pytest (which starts Azurite if none runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
