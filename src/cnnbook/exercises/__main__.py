"""Command line for instructors.

    python -m cnnbook.exercises grade NOTEBOOK.ipynb [NOTEBOOK.ipynb ...] [--timeout SECONDS]
    python -m cnnbook.exercises student-edition [BOOK_DIR] [OUT_DIR]

``grade`` executes each notebook (nbclient, a time limit per cell) and prints, per exercise:
passed, not attempted, wrong (with the named mistake), crashed or timed out.  It exits 0 when
every exercise passed, 1 otherwise.  ``student-edition`` writes the chapters without their
solutions (default: book/ -> _build/student/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._notebooks import grade_notebook, write_student_edition


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnbook.exercises", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="execute notebooks and grade their exercises")
    g.add_argument("notebooks", nargs="+", type=Path)
    g.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per cell (default 120)")
    s = sub.add_parser("student-edition", help="write the chapters without their solutions")
    s.add_argument("book", nargs="?", type=Path, default=Path("book"))
    s.add_argument("out", nargs="?", type=Path, default=Path("_build/student"))
    args = parser.parse_args(argv)

    if args.command == "student-edition":
        if not args.book.is_dir():
            parser.error(f"BOOK_DIR {args.book} is not a directory")
        written = write_student_edition(args.book, args.out)
        print(f"student edition: {len(written)} notebooks in {args.out}")
        return 0

    all_passed = True
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"NOTEBOOK {path} does not exist")
        grade = grade_notebook(path, timeout=args.timeout)
        print(grade.text())
        all_passed &= all(v.passed for v in grade.verdicts) and not grade.problems
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
