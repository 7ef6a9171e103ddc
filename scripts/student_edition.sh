#!/usr/bin/env bash
# The student edition of the book, for handing out: every chapter notebook without the reference
# solutions (cells tagged `solution`; nbgrader-style BEGIN/END SOLUTION regions become stubs),
# in _build/student/ (or the folder given as the first argument).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh >/dev/null
.venv/bin/python -m cnnbook.exercises student-edition book "${1:-_build/student}"
