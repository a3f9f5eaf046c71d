#!/usr/bin/env bash
# The demo from a fresh machine: installs, starts Azurite and the sandbox providers, seeds a sample
# shop, runs every task through the local runner and prints what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/autopilot demo "$@"
