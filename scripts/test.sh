#!/usr/bin/env bash
# Runs the test suite from a fresh machine: installs, lints (ruff, bandit, import contracts, mypy), then pytest (which starts Azurite if none runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The integration guide's PHP example is run by a test (docs/integrating.md): PHP from Debian's archive.
if ! command -v php > /dev/null; then
  apt-get update -qq && apt-get install -y -qq php-cli > /dev/null
fi
.venv/bin/ruff check ecommerce_tasks autopilot_local autopilot_sandbox autopilot_demo tests bench soak function_app.py
.venv/bin/bandit -q -r ecommerce_tasks function_app.py  # security lint of the app: must stay clean
.venv/bin/lint-imports --no-cache  # the architecture contracts in pyproject.toml
.venv/bin/mypy  # types of the app and the tooling (pyproject.toml says which)
exec .venv/bin/python -m pytest "$@"
