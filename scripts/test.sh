#!/usr/bin/env bash
# Sets up and runs the whole test suite on a fresh machine: Debian's Chromium for the browser tests, a virtual
# environment with the app's and the tests' locked requirements, then pytest (slow tests included). Safe to run again (skips what is there).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/python -m pip install -q --upgrade pip; }
# The locked test set (requirements-dev.lock; regenerate with scripts/lock.sh), installed once per lock content.
stamp=.venv/.requirements-dev.lock.sha256
want="$(sha256sum requirements-dev.lock | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --require-hashes -r requirements-dev.lock
  echo "$want" > "$stamp"
fi

export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
.venv/bin/ruff check .  # style: pyproject.toml (E, F, I, W; line length 119)
exec .venv/bin/python -m pytest "$@"
