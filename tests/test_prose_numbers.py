"""Numbers in the prose come from the run.

A number a code cell computes (a peak, a threshold, an error, an accuracy, a timing, a speed-up)
is written into a chapter's Markdown with the ``{eval}`` role, ``{eval}`name```, where ``name``
is a variable (usually a formatted string) set by a code cell above.  Both myst-nb (the HTML
book, ``execute_notebooks: inline``) and jupyterlab-myst (after Run All) put the value there, so
the text cannot drift from the code.  (myst-nb's ``{glue:text}`` does the same in the HTML but is
not rendered by jupyterlab-myst.)

Every other number that looks measured -- a decimal, a percentage, a power of ten, a speed-up,
a time -- must be *declared exact* in the Markdown cell's metadata::

    "metadata": {"cnnbook": {"exact": ["0.75", "10^{-12}"]}}

for hand-worked values, definitions and constants that the text itself states (and that a check
asserts where they are results).  Timings and speed-ups can never be declared: they are always
from the run.  The scan covers the Markdown of every chapter notebook, math included; integers
without a unit are not scanned (indices, shapes and counts are too many to tell apart).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))

_TIME = r"(?:ms|µs|μs|ns|s|sec|seconds?|minutes?|min)\b"
TIMING = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:\\,|\\ |~|\s|\$|\\text\{|\\mathrm\{)*" + _TIME)
SPEED = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:×|\\times)(?!\s*\d)(?=\s*(?:faster|slower|speed|the|as|$|[).,;:]))"
                   r"|(?<![\w.])\d+(?:\.\d+)?\s+times\s+(?:faster|slower|as fast|quicker)")
NUMBER = re.compile(
    r"(?<![\w.^{])(?:"
    r"\d+(?:\.\d+)?\s?\\?%"                      # a percentage
    r"|\d+(?:\.\d+)?[eE][-+]?\d+"                 # 1e-12
    r"|10\^\{?[-−]?\d+(?:\.\d+)?\}?"              # 10^{-12}
    r"|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+"                         # 10⁻¹²
    r"|\d+\.\d+"                                  # a decimal
    r")"
)
# text that is not prose: {eval} roles (the numbers from the run), inline code, link targets,
# label lines, directive options, HTML comments
_STRIP = [
    re.compile(r"\{eval\}`[^`]*`"),
    re.compile(r"``.*?``|`[^`]*`", re.S),
    re.compile(r"\]\([^)]*\)"),
    re.compile(r"^\(\S+\)=\s*$", re.M),
    re.compile(r"^:[\w-]+:.*$", re.M),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"https?://\S+"),
]


_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S)


def _prose(source: str) -> str:
    for rx in _STRIP:
        source = rx.sub(" ", source)
    return source


def _norm(token: str) -> str:
    return re.sub(r"\s+|\\,|\\ |~", "", token)


def scan_cell(source: str, exact: list[str]) -> list[str]:
    """Problems of one Markdown cell: numbers neither from ``{eval}`` nor declared exact."""
    text = _prose(source)
    problems = []
    found = set()
    timed = []
    # units are read outside math only ($2x$, $5s$ are not times)
    no_math = _MATH.sub(lambda m: " " * len(m.group(0)), text)
    for rx, what in ((TIMING, "a timing"), (SPEED, "a speed-up")):
        for m in rx.finditer(no_math):
            timed.append(range(m.start(), m.end()))
            problems.append(f"{what} typed into the prose: {m.group(0).strip()!r} "
                            f"(timings and speed-ups always come from the run: use {{eval}})")
    declared = {_norm(e) for e in exact}
    # TeX commands become blanks, so that 4.9\cdot10^{-324} is read like 4.9 \cdot 10^{-324}
    bare = re.sub(r"\\[A-Za-z]+", lambda m: " " * len(m.group(0)), text)
    for m in NUMBER.finditer(bare):
        if any(m.start() in r for r in timed):
            continue
        tok = _norm(m.group(0))
        found.add(tok)
        if tok not in declared:
            ctx = text[max(0, m.start() - 40):m.end() + 20].replace("\n", " ")
            problems.append(f"{tok!r} is neither from the run ({{eval}}) nor declared exact: ...{ctx}...")
    for e in sorted(declared - found):
        problems.append(f"{e!r} is declared exact but does not occur in the cell (stale declaration)")
    return problems


def _assigned_names(code_cells: list[str]) -> set[str]:
    names = set()
    for src in code_cells:
        lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def notebook_problems(cells: list[dict]) -> list[str]:
    problems = []
    code_so_far: list[str] = []
    for i, cell in enumerate(cells):
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            code_so_far.append(src)
            continue
        if cell["cell_type"] != "markdown":
            continue
        exact = cell.get("metadata", {}).get("cnnbook", {}).get("exact", [])
        problems += [f"cell {i}: {p}" for p in scan_cell(src, exact)]
        names = re.findall(r"\{eval\}`([^`]*)`", src)
        if names:
            known = _assigned_names(code_so_far)
            for name in names:
                if not re.fullmatch(r"[A-Za-z_]\w*", name):
                    problems.append(f"cell {i}: {{eval}}`{name}`: myst-nb evaluates a variable name only")
                elif name not in known:
                    problems.append(f"cell {i}: {{eval}}`{name}`: no code cell above sets {name}")
    return problems


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_numbers_in_prose_come_from_the_run(nb):
    cells = json.loads(nb.read_text())["cells"]
    problems = notebook_problems(cells)
    assert not problems, f"{nb.name}:\n  " + "\n  ".join(problems)


def test_the_book_runs_inline_so_eval_works():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "inline"


# --------------------------------------------------------------- the scan can fail


def _md(source, exact=()):
    return {"cell_type": "markdown", "source": source, "metadata": {"cnnbook": {"exact": list(exact)}}}


def _code(source):
    return {"cell_type": "code", "source": source, "metadata": {}}


@pytest.mark.parametrize("source, exact, want", [
    ("The peak is near 1.2.", [], "'1.2' is neither"),
    ("It reaches 98% accuracy.", [], "'98%' is neither"),
    ("The step is $h = 10^{-6}$.", [], "'10^{-6}' is neither"),
    ("about 10⁷ operations", [], "'10⁷' is neither"),
    ("$2^{-1074} \\approx 4.9\\cdot10^{-324}$", ["4.9"], "'10^{-324}' is neither"),
    ("clipped at 1e-12", [], "'1e-12' is neither"),
    ("The loop takes 3 s.", [], "a timing typed into the prose: '3 s'"),
    ("one step takes 12.5 ms", ["12.5"], "a timing typed"),
    ("one step takes 0.8 seconds", [], "a timing typed"),
    ("im2col is 40× faster", [], "a speed-up typed into the prose"),
    ("it is 12 times faster", [], "a speed-up typed"),
    ("$w = 0.5$", ["0.25"], "'0.25' is declared exact but does not occur"),
])
def test_scan_catches(source, exact, want):
    problems = scan_cell(source, exact)
    assert any(want in p for p in problems), problems


@pytest.mark.parametrize("source, exact", [
    ("The peak is at {eval}`z0_text`.", []),
    ("$w = (0.5, 0.25)$ and $\\sigma = 3/4 = 0.75$", ["0.5", "0.25", "0.75"]),
    ("a 3×3 kernel, stride 2, `np.float64(0.1)`, [link](a/b1.2.ipynb)", []),
    ("(peak-label)=\n# Heading 2", []),
    ("$2x$, $5s$, $3 \\times 3$", []),
])
def test_scan_accepts(source, exact):
    assert scan_cell(source, exact) == []


def test_eval_names_must_be_set_above():
    cells = [_md("{eval}`later`"), _code("later = '1.5'"), _md("{eval}`later` and {eval}`round(x)`")]
    problems = notebook_problems(cells)
    assert any("cell 0" in p and "no code cell above sets later" in p for p in problems), problems
    assert any("cell 2" in p and "variable name only" in p for p in problems), problems
    assert not any(p.startswith("cell 2") and "sets later" in p for p in problems), problems
