"""The instructor's tools: a student edition of the chapters, and a grader for notebooks.

Student edition
    Every cell tagged ``solution`` (the collapsed reference solutions and written answers) is
    dropped; in any other code cell, the lines from ``### BEGIN SOLUTION`` to
    ``### END SOLUTION`` become ``raise NotImplementedError()`` (the convention of nbgrader,
    for exercises an instructor adds); outputs are cleared.

Grader
    The notebook is executed with nbclient, cell by cell with a time limit per cell.  Every
    checker report carries a summary in its output metadata (see ``Report.summary``); an
    exercise's verdict is the last report of its checker that is not a deliberate demonstration.
    A checker whose cell never produced a report is reported with the reason: the cell raised,
    timed out, the kernel died, or the cell was not reached.  A crash or a timeout is never a pass.
"""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

SOLUTION_TAG = "solution"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUDENT_NOTE = (
    "**Student edition.** The reference solutions of the exercises are removed from this copy. "
    "Fill in each exercise's stub (replace `raise NotImplementedError`), then run the checker cell "
    "under it: it names the mistake if there is one."
)


# --------------------------------------------------------------------------- student edition


def strip_solution_regions(code: str) -> str:
    """Replace each BEGIN/END SOLUTION region by ``raise NotImplementedError()`` at its indent."""
    out, inside = [], False
    for line in code.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"nested {BEGIN!r} in:\n{code}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f"{indent}raise NotImplementedError()")
        elif stripped == END:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r} in:\n{code}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r} in:\n{code}")
    return "\n".join(out)


def student_notebook(nb: dict) -> dict:
    """The student edition of one notebook (a new dict; nbformat JSON)."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb["cells"]:
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            if BEGIN in src:
                cell["source"] = strip_solution_regions(src)
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    note = {"cell_type": "markdown", "metadata": {}, "source": STUDENT_NOTE}
    if "id" in nb["cells"][0]:
        note["id"] = "cnnbook-student-edition"
    nb["cells"] = [cells[0], note, *cells[1:]] if cells and cells[0]["cell_type"] == "markdown" else [note, *cells]
    return nb


def write_student_edition(book: Path, out: Path) -> list[Path]:
    """Student editions of every notebook in ``book``; the other files are copied as they are
    (so that links between chapters resolve).  Returns the notebooks written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(book.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        target = out / path.name
        if path.suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf-8"))
            target.write_text(json.dumps(student_notebook(nb), indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")
            written.append(target)
        else:
            target.write_bytes(path.read_bytes())
    return written


# --------------------------------------------------------------------------- grader


@dataclass
class Verdict:
    checker: str
    title: str = ""
    status: str = "not run"        # passed | not attempted | wrong | crashed | timed out | not run
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class Grade:
    notebook: str
    verdicts: list[Verdict] = field(default_factory=list)
    has_solutions: bool = False
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)   # errors outside the exercises

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in self.verdicts:
            counts[v.status] = counts.get(v.status, 0) + 1
        return counts

    def text(self) -> str:
        lines = [f"{self.notebook}: {len(self.verdicts)} exercises, graded in {self.seconds:.0f} s"]
        if self.has_solutions:
            lines.append("  note: this notebook still holds the reference solutions (cells tagged "
                         "'solution'); their reports count. Grade the student edition instead.")
        width = max((len(v.title or v.checker) for v in self.verdicts), default=0)
        for v in self.verdicts:
            detail = f": {v.detail}" if v.detail and not v.passed else ""
            lines.append(f"  {(v.title or v.checker):<{width}}  {v.status}{detail}")
        lines += [f"  problem: {p}" for p in self.problems]
        summary = ", ".join(f"{n} {status}" for status, n in sorted(self.counts().items()))
        lines.append(f"  summary: {summary or 'no exercises'}")
        return "\n".join(lines)


def _checker_names() -> set[str]:
    from . import CHECKERS
    return set(CHECKERS)


def _calls(code: str, names: set[str]) -> list[str]:
    return [m for m in re.findall(r"\b(check_\w+)\s*\(", code) if m in names]


def exercises_of(cells: list) -> list[str]:
    """The checkers of the notebook's exercises, in order: those called in the two code cells
    after a cell tagged ``exercise`` (the stub) or in a ``solution`` cell.  Checkers called
    elsewhere (a deliberate demonstration in a lesson) are not exercises."""
    names = _checker_names()
    found: list[str] = []
    code = [c for c in cells if c["cell_type"] == "code"]
    for i, cell in enumerate(code):
        tags = cell.get("metadata", {}).get("tags", [])
        window = code[i + 1:i + 3] if "exercise" in tags else [cell] if SOLUTION_TAG in tags else []
        for other in window:
            for name in _calls("".join(other["source"]), names):
                if name not in found:
                    found.append(name)
    return found


def _read_cell(cell, index: int, verdicts: dict, grade: Grade) -> None:
    """Take the reports and the error of one executed cell into the verdicts."""
    called = [n for n in _calls("".join(cell["source"]), set(verdicts))]
    reported = set()
    for out in cell.get("outputs", []):
        summary = out.get("metadata", {}).get("cnnbook")
        if summary and not summary.get("deliberate") and summary.get("checker") in verdicts:
            v = verdicts[summary["checker"]]
            v.title, v.status = summary["title"], summary["status"]
            v.detail = "" if summary["status"] == "passed" else summary["diagnosis"].splitlines()[0]
            reported.add(summary["checker"])
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        reason = f"cell {index} raised {errors[0].get('ename')}: {errors[0].get('evalue')}"
        missing = [n for n in called if n not in reported]
        for name in missing:
            verdicts[name].status, verdicts[name].detail = "crashed", reason
        if not missing:
            grade.problems.append(reason)


def grade_executed(nb: dict, name: str = "notebook") -> Grade:
    """Grade a notebook that was executed already (e.g. by the book build)."""
    grade = Grade(name)
    grade.has_solutions = any(SOLUTION_TAG in c.get("metadata", {}).get("tags", []) for c in nb["cells"])
    verdicts = {n: Verdict(n) for n in exercises_of(nb["cells"])}
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            _read_cell(cell, index, verdicts, grade)
    grade.verdicts = list(verdicts.values())
    return grade


def grade_notebook(path: Path, *, timeout: float = 120.0, kernel_name: str = "python3") -> Grade:
    """Execute the notebook at ``path`` and grade every exercise in it."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    grade = Grade(path.name)
    grade.has_solutions = any(SOLUTION_TAG in c.get("metadata", {}).get("tags", []) for c in nb.cells)
    verdicts = {n: Verdict(n) for n in exercises_of(nb.cells)}

    timeout_error = {"ename": "CellTimeoutError", "evalue": f"timed out after {timeout:g} s", "traceback": []}
    replies: dict[int, dict] = {}

    def keep_reply(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply

    # A cell that runs too long is interrupted and answered with timeout_error, so the run goes on.
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                            interrupt_on_timeout=True, error_on_timeout=timeout_error,
                            on_cell_executed=keep_reply,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.perf_counter()
    stopped = None
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            called = _calls(cell.source, set(verdicts))
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                stopped = f"the kernel died in cell {index}"
                for name in called:
                    verdicts[name].status, verdicts[name].detail = "crashed", stopped
                grade.problems.append(stopped)
                break
            if replies.get(index, {}).get("content", {}).get("ename") == "CellTimeoutError":
                reason = f"timed out after {timeout:g} s in cell {index}"
                for name in called:
                    verdicts[name].status, verdicts[name].detail = "timed out", reason
                if not called:
                    grade.problems.append(reason)
                continue
            _read_cell(cell, index, verdicts, grade)
    grade.seconds = time.perf_counter() - start
    for v in verdicts.values():
        if v.status == "not run" and stopped:
            v.detail = f"not reached: {stopped}"
    grade.verdicts = list(verdicts.values())
    return grade
