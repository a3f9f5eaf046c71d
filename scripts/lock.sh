#!/usr/bin/env bash
# Regenerates requirements.txt (what Azure's remote build installs) from requirements.in, every
# version pinned, for the Functions host's Python 3.11 on Linux. Run after changing requirements.in.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/uv pip compile requirements.in -o requirements.txt --python-version 3.11 --python-platform linux \
  --custom-compile-command "bash scripts/lock.sh" -q
