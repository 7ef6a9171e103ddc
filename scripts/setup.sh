#!/usr/bin/env bash
# Idempotent set-up: the virtual environment in .venv (created if absent), the Python
# requirements (re-installed only when requirements.txt or pyproject.toml changed), and the
# browser assets of the HTML book (npm registry -> node_modules -> _vendor/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.cnnbook-requirements.sha256"

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

wanted="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$wanted" ]; then
    echo "setup: installing requirements.txt into $VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
        -r requirements.txt
    echo "$wanted" > "$STAMP"
else
    echo "setup: $VENV is up to date with requirements.txt"
fi

"$VENV/bin/python" scripts/vendor_assets.py
