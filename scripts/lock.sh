#!/usr/bin/env bash
# Regenerates the lock files from the ranges: requirements.lock (the app, from requirements.txt) and
# requirements-dev.lock (the app and the tests, from requirements-dev.txt), exact versions with sha256 hashes for
# CPython 3.11 on Linux x86_64 (manylinux_2_28), torch's CUDA wheels and their nvidia-* packages included.
# Current pins are kept where the ranges still allow them; pass --upgrade to move every package to the newest
# allowed release, or --upgrade-package NAME for one. Uses `uv` from PATH, else installs uv 0.13 into a temp venv.
set -euo pipefail
cd "$(dirname "$0")/.."

UV="${UV:-uv}"
if ! command -v "$UV" >/dev/null 2>&1; then
  tools="${TMPDIR:-/tmp}/vace-lock-tools"
  [ -x "$tools/bin/uv" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q "uv==0.13.*"; }
  UV="$tools/bin/uv"
fi

common=(--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
        --custom-compile-command "bash scripts/lock.sh" --quiet)
"$UV" pip compile requirements.txt "${common[@]}" -o requirements.lock "$@"
# The test set is the app's locked set plus the test tools: shared packages keep the app lock's versions.
"$UV" pip compile requirements-dev.txt -c requirements.lock "${common[@]}" -o requirements-dev.lock "$@"
echo "wrote requirements.lock ($(grep -c '^[a-z0-9]' requirements.lock) packages)," \
     "requirements-dev.lock ($(grep -c '^[a-z0-9]' requirements-dev.lock) packages)"
