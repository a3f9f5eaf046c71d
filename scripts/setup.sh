#!/usr/bin/env bash
# The one place things get installed: a Python venv with the app and dev requirements, and Azurite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# This checkout itself, editable: puts the `autopilot` command (the local host and operator CLI) on .venv/bin.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
if [ ! -x node_modules/.bin/azurite ]; then
  npm ci --no-audit --no-fund --silent
fi
