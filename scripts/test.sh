#!/usr/bin/env bash
# The test suite: the package's tests, the book's notebooks (nbval), the student edition, the
# strict build with the HTML browser test, and the chapters run in JupyterLab, as configured in
# pyproject.toml. Three workers (CNNBOOK_WORKERS) share the tests on CI's two cores: much of the
# suite waits (on a browser, a JupyterLab kernel, a notebook being executed), and with two workers
# a CI run used about one core on average (user + sys time over wall time); with three, the same
# suite took 468 s instead of 513-560 s. --dist loadgroup keeps the built book's module (its build
# and browser are module fixtures) on one worker and spreads the rest, such as the chapters in
# JupyterLab and their student editions. Arguments are passed to pytest, e.g.
# `bash scripts/test.sh -x -k conv`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
# JAX's compiled programs are kept between the three runs of each chapter (see cnnbook.reference).
export CNNBOOK_JAX_CACHE="${CNNBOOK_JAX_CACHE:-$(pwd)/.jax_cache}"
exec .venv/bin/python -m pytest -n "${CNNBOOK_WORKERS:-3}" --dist loadgroup "$@"
