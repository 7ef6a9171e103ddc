#!/usr/bin/env bash
# The test suite: the package's tests and the book's notebooks (nbval), as configured in
# pyproject.toml. Arguments are passed to pytest, e.g. `bash scripts/test.sh -x -k conv`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
