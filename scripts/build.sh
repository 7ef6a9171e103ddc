#!/usr/bin/env bash
# Strict build of the HTML book: every notebook is executed, and any Sphinx warning or
# failing cell makes the build fail (all problems are listed, thanks to --keep-going).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

# A strict build of exactly these sources is already there (e.g. the tests built it for the
# browser test): nothing to do. `bash scripts/build.sh --force` rebuilds anyway.
if [ "${1:-}" != "--force" ] && .venv/bin/python scripts/book_stamp.py check; then
    echo "build: _build/html is a strict build of the current sources. Open $(pwd)/_build/html/index.html"
    exit 0
fi

# Start from scratch: an incremental Sphinx build does not repeat the warnings of pages it
# does not re-read, so a reused _build/ could hide a problem. The browser tests' screenshots and
# the student edition are not build products and stay (the JupyterLab test may be writing its
# screenshots while this runs).
mkdir -p _build
find _build -mindepth 1 -maxdepth 1 ! -name screenshots ! -name student -exec rm -rf {} +
start=$SECONDS
export CNNBOOK_JAX_CACHE="${CNNBOOK_JAX_CACHE:-$(pwd)/.jax_cache}"   # see cnnbook.reference
.venv/bin/jupyter-book build . -W -n --keep-going
.venv/bin/python scripts/book_stamp.py write
echo "build: done in $((SECONDS - start)) s. Open $(pwd)/_build/html/index.html"
