#!/usr/bin/env bash
# The test suite: the package's tests, the book's notebooks (nbval), the student edition, the
# strict build with the HTML browser test, and the chapters run in JupyterLab, as configured in
# pyproject.toml. Two workers (CNNBOOK_WORKERS) share the tests; --dist loadgroup keeps each
# browser module (its build, browser and server are module fixtures) on one worker and spreads the
# rest, such as the chapters' student editions, over both. Arguments are passed to
# pytest, e.g. `bash scripts/test.sh -x -k conv`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
# JAX's compiled programs are kept between the three runs of each chapter (see cnnbook.reference).
export CNNBOOK_JAX_CACHE="${CNNBOOK_JAX_CACHE:-$(pwd)/.jax_cache}"
exec .venv/bin/python -m pytest -n "${CNNBOOK_WORKERS:-2}" --dist loadgroup "$@"
