"""The instructor's tools: the student edition and the grader (`python -m cnnbook.exercises`).

Small notebooks written here play the student: an untouched stub, a wrong attempt, a right one,
a syntax error, an endless loop and a kernel crash; each must get its own verdict, and none may
pass.  The chapters themselves are tested in test_chapters.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnnbook.exercises._notebooks import (grade_executed, grade_notebook, strip_solution_regions,
                                          student_notebook, write_student_edition)

ROOT = Path(__file__).resolve().parent.parent

STUB = """def tanh_neuron_grads(x, w, b, t):
    '''dE/dw and dE/db of a tanh neuron.'''
    raise NotImplementedError"""
RIGHT = """def tanh_neuron_grads(x, w, b, t):
    y = np.tanh(x @ w + b)
    delta = (y - t) * (1 - y**2)
    return delta * x, delta"""
WRONG = RIGHT.replace("(1 - y**2)", "(1 - np.tanh(y)**2)")   # tanh applied to the output again
CHECK = "from cnnbook.exercises import check_tanh_neuron\ncheck_tanh_neuron(tanh_neuron_grads)"
SOLUTION = "### BEGIN SOLUTION\n" + RIGHT + "\n### END SOLUTION\ncheck_tanh_neuron(tanh_neuron_grads).raise_if_wrong()"


def notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src, *tags in cells:
        cell = (nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell)(src)
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    return nb


def chapter(attempt: str) -> nbformat.NotebookNode:
    return notebook(("md", "# A chapter"), ("code", "import numpy as np"),
                    ("code", attempt, "exercise"), ("code", CHECK),
                    ("code", SOLUTION, "solution", "hide-input"))


def grade(tmp_path, nb, name="nb.ipynb", **kw):
    path = tmp_path / name
    nbformat.write(nb, path)
    return grade_notebook(path, **kw)


def test_strip_solution_regions_keeps_the_indent_and_the_rest():
    code = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\nf(1)"
    assert strip_solution_regions(code) == ("def f(x):\n    '''doc'''\n    # YOUR CODE HERE\n"
                                            "    raise NotImplementedError()\nf(1)")
    with pytest.raises(ValueError, match="without"):
        strip_solution_regions("### BEGIN SOLUTION\nx = 1")


def test_student_edition_drops_solutions_and_keeps_stubs():
    student = student_notebook(json.loads(nbformat.writes(chapter(STUB))))
    sources = ["".join(c["source"]) for c in student["cells"]]
    assert not any("BEGIN SOLUTION" in s or "delta" in s for s in sources)
    assert STUB in sources and CHECK in sources
    assert "Student edition" in sources[1]


def test_student_edition_of_a_book(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    nbformat.write(chapter(STUB), book / "a.ipynb")
    (book / "references.md").write_text("# References\n")
    written = write_student_edition(book, tmp_path / "out")
    assert [p.name for p in written] == ["a.ipynb"] and (tmp_path / "out" / "references.md").exists()


def test_the_reference_passes_the_untouched_student_edition_is_not_attempted(tmp_path):
    g = grade(tmp_path, chapter(STUB))
    assert [(v.checker, v.status) for v in g.verdicts] == [("check_tanh_neuron", "passed")]
    assert g.has_solutions and "reference solutions" in g.text()
    student = nbformat.reads(json.dumps(student_notebook(json.loads(nbformat.writes(chapter(STUB))))), 4)
    g = grade(tmp_path, student, "student.ipynb")
    assert [v.status for v in g.verdicts] == ["not attempted"] and not g.problems


@pytest.mark.parametrize("attempt,status,detail", [
    (WRONG, "wrong", "evaluated at the output"),
    (RIGHT, "passed", ""),
    (RIGHT.replace("return", "retrun"), "crashed", "NameError"),        # the def itself fails
    ("def tanh_neuron_grads(x, w, b, t):\n    while True:\n        pass", "timed out", "timed out after 5 s"),
])
def test_each_attempt_gets_its_verdict(tmp_path, attempt, status, detail):
    nb = notebook(("code", "import numpy as np"), ("code", attempt, "exercise"), ("code", CHECK))
    g = grade(tmp_path, nb, timeout=5)
    (v,) = g.verdicts
    assert v.status == status and detail in v.detail, g.text()


def test_a_dead_kernel_is_not_a_pass(tmp_path):
    crash = "import os\ndef tanh_neuron_grads(x, w, b, t):\n    os._exit(1)"
    nb = notebook(("code", "import numpy as np"), ("code", crash, "exercise"), ("code", CHECK))
    g = grade(tmp_path, nb, timeout=20)
    (v,) = g.verdicts
    assert v.status == "crashed" and "kernel died" in v.detail, g.text()


def test_deliberate_demonstrations_are_not_graded(tmp_path):
    nb = notebook(("code", "import numpy as np"), ("code", WRONG),
                  ("code", CHECK + ".as_deliberate()"),
                  ("code", STUB, "exercise"), ("code", CHECK))
    g = grade(tmp_path, nb)
    assert [v.status for v in g.verdicts] == ["not attempted"], g.text()


def test_grade_executed_reads_the_outputs_without_running(tmp_path):
    nb = chapter(STUB)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    grade_notebook(path)   # executes a copy; now execute for real and keep the outputs
    from nbclient import NotebookClient
    NotebookClient(nb, kernel_name="python3", allow_errors=True).execute()
    assert [v.status for v in grade_executed(nb).verdicts] == ["passed"]


def test_the_command_line(tmp_path):
    path = tmp_path / "student.ipynb"
    nbformat.write(notebook(("code", "import numpy as np"), ("code", WRONG, "exercise"), ("code", CHECK)), path)
    run = subprocess.run([sys.executable, "-m", "cnnbook.exercises", "grade", str(path)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "wrong: " in run.stdout and "tanh neuron" in run.stdout, run.stdout + run.stderr
