#!/usr/bin/env bash
# Strict build of the HTML book: every notebook is executed, and any Sphinx warning or
# failing cell makes the build fail (all problems are listed, thanks to --keep-going).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

# Start from scratch: an incremental Sphinx build does not repeat the warnings of pages it
# does not re-read, so a reused _build/ could hide a problem.
rm -rf _build
start=$SECONDS
.venv/bin/jupyter-book build . -W -n --keep-going
echo "build: done in $((SECONDS - start)) s. Open $(pwd)/_build/html/index.html"
