"""The student edition of every chapter (what an instructor hands out) keeps every exercise and
drops every solution; test_jupyterlab.py runs it top to bottom in JupyterLab, where the grader
finds every exercise untouched: "not attempted".

The reference side (every exercise of the book passes, graded from the notebooks the strict
build executed) is in test_book.py, which owns the build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnbook.exercises._notebooks import exercises_of, write_student_edition
from test_chapter_order import chapters

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = chapters() + ["common_mistakes"]


@pytest.fixture(scope="module")
def student_book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    write_student_edition(ROOT / "book", out)
    return out


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_edition_keeps_every_exercise_and_no_solution(student_book, name):
    """The student edition holds every exercise of the chapter (stub and checker) and no solution.
    That it runs top to bottom with every exercise "not attempted" is tested where a student runs
    it: tests/test_jupyterlab.py opens the student editions in JupyterLab and runs them all (one
    execution instead of two per chapter keeps the suite within its time)."""
    import json

    book = json.loads((ROOT / "book" / f"{name}.ipynb").read_text())
    student = json.loads((student_book / f"{name}.ipynb").read_text())
    assert exercises_of(student["cells"]) == exercises_of(book["cells"])
    assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in student["cells"])


def test_every_chapter_has_exercises():
    import json
    for name in chapters():
        nb = json.loads((ROOT / "book" / f"{name}.ipynb").read_text())
        assert exercises_of(nb["cells"]), f"{name} has no exercise (stub + checker + solution)"
