#!/usr/bin/env bash
# The test suite: the package's tests, the book's notebooks (nbval), the student edition, the
# strict build with the HTML browser test, and the chapters run in JupyterLab, as configured in
# pyproject.toml. Three workers (CNNBOOK_WORKERS) share the tests on CI's two cores: much of the
# suite waits (on a browser, a JupyterLab kernel, a notebook being executed), and with two workers
# a CI run used about one core on average (user + sys time over wall time). --dist loadgroup keeps
# the built book's module (its build and browser are module fixtures) on one worker while the
# other two run the chapters in JupyterLab: 337-395 s in a working copy on a 2-core machine,
# against 489 s when the grouping was lost and all three workers waited for the one build (see
# requirements.txt); 421-428 s on a clean clone (.ci/run, 8 min 21 s in all).
# Arguments are passed to pytest, e.g. `bash scripts/test.sh -x -k conv`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
# JAX's compiled programs are kept between the three runs of each chapter (see cnnbook.reference).
export CNNBOOK_JAX_CACHE="${CNNBOOK_JAX_CACHE:-$(pwd)/.jax_cache}"
exec .venv/bin/python -m pytest -n "${CNNBOOK_WORKERS:-3}" --dist loadgroup "$@"
