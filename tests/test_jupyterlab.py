"""Every chapter as a student sees it in JupyterLab 4 with jupyterlab-myst, in real Chromium.

One ``jupyter lab`` (from this environment, on 127.0.0.1, a token, no browser, no news or update
check) serves a temporary copy of ``book/`` (autosave and checkpoints never touch the repository)
to Debian's Chromium, driven by playwright (never with a browser playwright downloads); requests
to any other host are blocked and reported.  For every chapter notebook of ``_toc.yml``, in its
student edition (what a student opens: exercises unsolved, solutions removed), in a fresh page:
open it, click Run > Run All Cells, wait until the kernel is idle and every non-empty
code cell has an execution count (or Run All stopped at an error), then fail on

- a cell error (an ``error`` output, or a traceback printed to stderr), hidden outputs included;
- literal MyST in rendered Markdown (math excluded): ``{eq}`` and other roles, ``:class:`` and
  other directive options, ``[^``, ``:::``, a "```{" fence, ``$$``, a line that is only
  ``(label)``; a Markdown cell left unrendered; a directive rendered as a code block or as
  jupyterlab-myst's red "Unknown Directive" box;
- a footnote whose text is not in the page (jupyterlab-myst never renders footnote definitions),
  and anything jupyterlab-myst shows as its yellow warning span: a reference it cannot resolve
  ("Cross Reference Not Found", e.g. an ``{eq}`` to another notebook's label) or math KaTeX
  cannot typeset;
- an ``{eval}`` number in the prose that failed or was never evaluated (jupyterlab-myst keeps
  the results in the cell's ``user_expressions`` metadata);
- a link that does not resolve: a relative link (jupyterlab-myst turns it into ``/files/<path>``)
  must name a file of the book, an in-page ``#anchor`` an element of the page (links to other
  sites are not fetched);
- a widget that does not render ("Loading widget...", "Error displaying widget", "model not
  found", a failed view or model class);
- an exercise the grader does not find, in the executed notebook, untouched ("not attempted"),
  or a solution left in the student edition;
- an explorer (``cnnbook.widgets.Explorer``) control whose move does not show the view made for
  the new control values: every control of every visible explorer is moved to another value and
  back, and after each move the one visible view must carry ``cnnbook-view-<indices>`` (as in
  the static-page test, test_book.py; here the moves prove the jslinks work in JupyterLab).

Screenshots go to ``_build/screenshots/jupyterlab/``: the top of each notebook, each Summary box,
each exercise (statement, stub, checker report, collapsed solution) and each explorer.

``test_canary_notebook_trips_every_check`` runs the same checks on a canary notebook made to
fail each of them (and to pass where the markup is right), so that a JupyterLab or jupyterlab-myst
upgrade cannot turn these checks vacuous.

Select with ``pytest tests/test_jupyterlab.py`` or ``-k test_jupyterlab`` (``-k "not
test_jupyterlab"`` leaves it out; a bare ``-k jupyterlab`` also matches tests of
test_notebook_cells.py); one chapter: ``pytest tests/test_jupyterlab.py -k "softmax or canary"``.
Without playwright, /usr/bin/chromium or jupyterlab-myst it skips, unless CI is set, where it
fails.  CNNBOOK_LAB_TIMEOUT sets the seconds allowed per Run All (default 300).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import time
from pathlib import Path

import pytest
import yaml

from cnnbook.exercises._notebooks import exercises_of, grade_executed, write_student_edition
from _jupyterlab import (check_explorer, inspect_notebook, lab_server, open_notebook, run_all,
                         screenshot_regions)
from test_book import CHROMIUM, _browser_or_skip

ROOT = Path(__file__).resolve().parent.parent
# The server and the browser are session fixtures: with two test workers each starts its own, and
# the chapters are shared out between them.
SHOTS = ROOT / "_build" / "screenshots" / "jupyterlab"
RUN_TIMEOUT = float(os.environ.get("CNNBOOK_LAB_TIMEOUT", "300"))


_NOTEBOOK_JS = "() => window.jupyterapp.shell.currentWidget.context.model.toJSON()"


def _chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return [Path(f).name + ".ipynb" for f in files
            if f.startswith("book/") and (ROOT / (f + ".ipynb")).exists()]


CHAPTERS = _chapters()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    _browser_or_skip()
    if importlib.util.find_spec("jupyterlab_myst") is None:
        reason = "jupyterlab-myst is not installed (pip install -r requirements.txt)"
        if os.environ.get("CI"):
            pytest.fail(f"the JupyterLab test must run in CI: {reason}")
        pytest.skip(reason)
    with lab_server(ROOT / "book", tmp_path_factory.mktemp("jupyterlab")) as server:
        # The chapters are opened as a student opens them: the student edition, exercises unsolved
        # (the strict build runs the reference solutions and test_book.py grades them). So Run All
        # here also proves that the student edition runs top to bottom.
        write_student_edition(ROOT / "book", server.root)
        yield server


@pytest.fixture(scope="session")
def browser(lab, request):
    """One Chromium and one browser context for all notebooks (JupyterLab's scripts load from the
    cache after the first page).  Requests to other hosts go to a dead proxy, so they fail; the
    page fixture reports them.  (A playwright route would do the same but disables the cache.)"""
    pw = request.getfixturevalue("playwright_driver")
    browser = pw.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              f"--proxy-server=http://127.0.0.1:{_dead_port()}", "--proxy-bypass-list=127.0.0.1"],
    )
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield context
    finally:
        context.close()
        browser.close()


def _dead_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def page(browser, lab):
    """A fresh page; afterwards its kernels are shut down.  ``page.cnnbook_log`` collects
    requests to other hosts (they fail at the dead proxy) and console errors."""
    log = {"external": [], "console": []}

    def request(r):
        if not r.url.startswith((lab.url + "/", "data:", "blob:")):
            log["external"].append(r.url)

    pg = browser.new_page()
    pg.on("request", request)
    pg.on("console", lambda m: m.type == "error" and log["console"].append(m.text.splitlines()[0][:300]))
    pg.on("pageerror", lambda e: log["console"].append(str(e).splitlines()[0][:300]))
    pg.cnnbook_log = log
    try:
        yield pg
    finally:
        pg.close()
        lab.shutdown_kernels()


def _check_notebook(page, lab, name: str) -> tuple[list[str], str]:
    """Open, Run All, inspect, move every explorer; (problems, one line of timings)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    open_notebook(page, lab, name)
    t1 = time.perf_counter()
    state = run_all(page, name, RUN_TIMEOUT)
    t2 = time.perf_counter()
    report = inspect_notebook(page, lab)
    problems = report.problems
    never = [c["i"] for c in state["cells"] if c["type"] == "code" and not c["empty"] and c["count"] is None]
    if never:
        problems.append(f"Run All stopped at the error: cells {never} never ran")
    t_inspect = time.perf_counter()
    screenshot_regions(page, SHOTS, name)
    t_shots = time.perf_counter()
    # explorers the reader sees (one in a collapsed output is not shown, so not moved)
    explorers = page.locator(".jp-Notebook .cnnbook-explorer >> visible=true")
    checks = 0
    for k in range(explorers.count()):
        ex = explorers.nth(k)
        where = f"cell {ex.evaluate('e => e.closest(`.jp-Cell`).dataset.windowedListIndex')}: explorer {k}"
        ex.scroll_into_view_if_needed()
        ex.screenshot(path=str(SHOTS / f"{Path(name).stem}_explorer{k}.png"))
        try:
            checks += check_explorer(page, ex, where)
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
        except Exception as e:  # a timeout waiting for a view is a frozen explorer
            problems.append(f"{where}: {type(e).__name__}: {str(e).splitlines()[0]}")
    t3 = time.perf_counter()
    problems.sort(key=lambda p: int(m.group(1)) if (m := re.match(r"cell (\d+):", p)) else 10**9)
    log = page.cnnbook_log
    problems += [f"a request to another host (blocked): {u}" for u in log["external"]]
    timing = (f"{name}: opened {t1 - t0:.1f} s, Run All {t2 - t1:.1f} s, page checks "
              f"{t_inspect - t2:.1f} s ({report.links} links), screenshots {t_shots - t_inspect:.1f} s, "
              f"explorers {t3 - t_shots:.1f} s ({explorers.count()} explorers, {checks} views)")
    return problems, timing


@pytest.mark.parametrize("name", CHAPTERS, ids=[Path(c).stem for c in CHAPTERS])
def test_chapter_in_jupyterlab(name, lab, page):
    problems, timing = _check_notebook(page, lab, name)
    # the grader reads the executed student edition: every exercise is there and "not attempted"
    executed = page.evaluate(_NOTEBOOK_JS)
    grade = grade_executed(executed, name)
    expected = exercises_of(json.loads((ROOT / "book" / name).read_text())["cells"])
    if len(grade.verdicts) != len(expected):
        problems.append(f"the grader finds {len(grade.verdicts)} exercises in the executed student edition, "
                        f"the chapter has {len(expected)}")
    problems += [f"grading the student edition: {p}" for p in grade.problems]
    if grade.has_solutions:
        problems.append("the student edition still holds solution cells")
    problems += [f"exercise '{v.title or v.checker}' is {v.status}, not 'not attempted': {v.detail}"
                 for v in grade.verdicts if v.status != "not attempted"]
    print(timing)
    if problems and page.cnnbook_log["console"]:
        print("browser console errors:\n  " + "\n  ".join(dict.fromkeys(page.cnnbook_log["console"])))
    assert not problems, f"{name} in JupyterLab:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------- the canary

_GOOD_MD = """# Canary

A labelled equation

$$ y = (x) $$ (good-eq)

and a reference to it, {eq}`good-eq`; inline math $(x)$ alone in a line:

$(z)$

A [good link](chain_rule.ipynb), a [link to the appendix](references.md), an
[anchor that exists](#good-eq), [an external site](https://example.org).

:::{admonition} Summary
:class: important
The take-away, $a^2$.
:::

:::{dropdown} Hint
The hint.
:::
"""

_BAD_MD = [
    # (markdown source, a fragment of the problem line it must cause)
    ("A footnote[^fn].\n\n[^fn]: its text.", "footnote [1] whose text JupyterLab does not show"),
    ("See {doc}`chain_rule`.", "link 'chain_rule' -> chain_rule: no such file"),
    ("An equation nobody defined: {eq}`no-such-eq`.", "unresolved reference 'no-such-eq'"),
    ("A [broken link](no_such_chapter.ipynb).", "link 'broken link' -> no_such_chapter.ipynb: no such file"),
    ("A [broken anchor](#no-such-anchor).", "link 'broken anchor' to #no-such-anchor: no such anchor"),
    ("A bare label line:\n\n(bare-label)\n", "a bare '(label)' line"),
    ("An option out of place:\n\n:class: important\n", "a literal directive option"),
    ("Escaped role: \\{eq}`x`", "a literal role"),
    ("```{nosuchdirective}\nbody\n```", "Unknown Directive"),
    ("Bad math $\\nosuchmacro{x}$.", "jupyterlab-myst cannot render"),
    ("A remote image: ![remote](https://example.org/remote.png)",
     "a request to another host (blocked): https://example.org/remote.png"),
]

_CODE = [
    # the second explorer is frozen: its links are gone, so its views never switch
    ("from cnnbook import widgets\n"
     "good = widgets.explorer(lambda a, b: f'<b>a={a} b={b}</b>', {'a': [1, 2, 3], 'b': ['x', 'y']},"
     " dropdown=['b'])\ngood", None),
    ("frozen = widgets.explorer(lambda a: f'<i>a={a}</i>', {'a': [1, 2]})\n"
     "for link in frozen.links:\n    link.unlink()\nfrozen", "cell 13: explorer 1: controls at [1] show"),
    ("from IPython.display import display\n"
     "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'f' * 32, 'version_major': 2,"
     " 'version_minor': 0}}, raw=True)", "a widget that does not render"),
    ("import traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc()",
     "a traceback printed to stderr: ZeroDivisionError"),
    ("raise ValueError('the canary fails here')", "error ValueError: the canary fails here"),
    ("print('never reached: Run All stops at the error')", "cells [17] never ran"),
]


def _canary(root: Path) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(_GOOD_MD)]
    nb.cells += [nbformat.v4.new_markdown_cell(md) for md, _ in _BAD_MD]
    nb.cells += [nbformat.v4.new_code_cell(src) for src, _ in _CODE]
    name = "_canary.ipynb"
    nbformat.write(nb, root / name)
    return name


def test_canary_notebook_trips_every_check(lab, page):
    name = _canary(lab.root)
    try:
        problems, timing = _check_notebook(page, lab, name)
    finally:
        (lab.root / name).unlink()
    print(timing)
    text = "\n".join(problems)
    missing = [want for _, want in _BAD_MD + _CODE if want and want not in text]
    assert not missing, f"the checks missed {missing}; they reported:\n{text}"
    # nothing about the correct markup (cell 0) nor the working explorer (cell 12)
    false = [p for p in problems if p.startswith(("cell 0:", "cell 12:"))]
    assert not false, f"false alarms on correct markup: {false}"
    # each bad Markdown cell gives its problem on its own cell
    for k, (_, want) in enumerate(_BAD_MD, start=1):
        if not want.startswith("a request"):
            assert any(p.startswith(f"cell {k}:") and want in p for p in problems), (k, want, text)
    # requests to other hosts are reported, and they do fail
    assert [p for p in problems if p.startswith("a request")] == [_BAD_MD[-1][1]], text
    assert page.evaluate("() => fetch('http://example.org/').then(() => 'loaded', () => 'blocked')") == "blocked"
    # a relative link opens the file in JupyterLab when clicked: the link check relies on that
    page.locator(".jp-MarkdownCell a", has_text="good link").click()
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.context.path === 'chain_rule.ipynb'",
                           timeout=30000)
    shots = sorted(p.name for p in SHOTS.glob("_canary*.png"))
    assert "_canary.png" in shots and "_canary_summary0.png" in shots, shots
    for f in SHOTS.glob("_canary*.png"):
        f.unlink()


def test_canary_numbers_from_the_run(lab, page):
    """The {eval} numbers: one from the run shows, one whose name the kernel lacks is reported.
    (A notebook of its own: an error cell, as in the canary above, stops Run All before
    jupyterlab-myst evaluates the Markdown cells' expressions, so it would hide this case.)"""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("peak_text = f'{1.1269280110429727:.3f}'"),
                nbformat.v4.new_markdown_cell("The peak is at {eval}`peak_text`."),
                nbformat.v4.new_markdown_cell("A number the run never made: {eval}`no_such_number`.")]
    name = "_canary_eval.ipynb"
    nbformat.write(nb, lab.root / name)
    try:
        problems, timing = _check_notebook(page, lab, name)
        shown = page.locator(".jp-MarkdownCell").nth(0).inner_text()
    finally:
        (lab.root / name).unlink()
        for f in SHOTS.glob("_canary_eval*.png"):
            f.unlink()
    assert "The peak is at 1.127." in shown, shown
    assert problems == ["cell 2: the number {eval}`no_such_number` fails: NameError: "
                        "name 'no_such_number' is not defined"], problems
