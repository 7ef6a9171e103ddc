"""The student edition of every chapter (what an instructor hands out) runs top to bottom with
no error, and the grader finds every exercise there, untouched: "not attempted".

The reference side (every exercise of the book passes, graded from the notebooks the strict
build executed) is in test_book.py, which owns the build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnbook.exercises._notebooks import exercises_of, grade_notebook, write_student_edition
from test_chapter_order import chapters

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = chapters() + ["common_mistakes"]


@pytest.fixture(scope="module")
def student_book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    write_student_edition(ROOT / "book", out)
    return out


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_edition_runs_and_every_exercise_is_open(student_book, name):
    grade = grade_notebook(student_book / f"{name}.ipynb", timeout=300)
    assert not grade.problems, grade.text()
    assert not grade.has_solutions
    assert all(v.status == "not attempted" for v in grade.verdicts), grade.text()


def test_every_chapter_has_exercises():
    import json
    for name in chapters():
        nb = json.loads((ROOT / "book" / f"{name}.ipynb").read_text())
        assert exercises_of(nb["cells"]), f"{name} has no exercise (stub + checker + solution)"
