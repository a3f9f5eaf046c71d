#!/usr/bin/env bash
# The one place things get installed: a Python venv with the app and dev requirements, and Azurite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if [ ! -x node_modules/.bin/azurite ]; then
  npm ci --no-audit --no-fund --silent
fi
