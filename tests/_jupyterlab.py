"""Driving JupyterLab 4 (with jupyterlab-myst) in Chromium: the machinery of test_jupyterlab.py.

``lab_server`` starts ``python -m jupyterlab`` on 127.0.0.1 in a directory of its own (user
settings, workspaces, Jupyter config/data/runtime and IPython dirs all inside it), with a token,
no browser, no news or update check, and ``window.jupyterapp`` exposed so that the test can read
the notebook model.  ``open_notebook`` opens a notebook in a page, ``run_all`` clicks Run > Run
All Cells and waits until nothing runs any more; ``inspect_notebook`` then reads the model and the
page and returns one line per problem, ``check_explorer`` moves an explorer's controls, and
``screenshot_regions`` saves the regions a reviewer looks at.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Windowing "none": every cell is attached to the DOM, so the whole notebook can be read and its
# widgets are all rendered (the default windowing detaches cells outside the viewport).
# No news feed, no update check (they fetch from the internet).
USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}


@dataclass
class Lab:
    url: str          # http://127.0.0.1:PORT (no trailing slash)
    token: str
    root: Path        # the directory the server serves (a copy of book/)
    log: Path

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for s in self.api("GET", "/api/sessions"):
            with contextlib.suppress(urllib.error.HTTPError):
                self.api("DELETE", f"/api/sessions/{s['id']}")
        for k in self.api("GET", "/api/kernels"):
            with contextlib.suppress(urllib.error.HTTPError):
                self.api("DELETE", f"/api/kernels/{k['id']}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_server(book: Path, tmp: Path, *, startup_timeout: float = 120):
    """A JupyterLab serving a copy of ``book`` (so autosave and checkpoints never touch it)."""
    root = tmp / "book"
    shutil.copytree(book, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_build"))
    for rel, values in USER_SETTINGS.items():
        f = tmp / "lab-settings" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")]:
        (tmp / sub).mkdir(exist_ok=True)
        env[var] = str(tmp / sub)
    env.pop("JUPYTER_PATH", None)
    token = os.urandom(16).hex()
    port = _free_port()
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        f"--LabApp.user_settings_dir={tmp / 'lab-settings'}",
        f"--LabApp.workspaces_dir={tmp / 'lab-workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
    ]
    log = tmp / "jupyterlab.log"
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n"
                                       + log.read_text(errors="replace")[-4000:])
                try:
                    lab.api("GET", "/api/status")
                    break
                except (urllib.error.URLError, ConnectionError, OSError):
                    if time.monotonic() > deadline:
                        raise RuntimeError("jupyter lab did not answer within "
                                           f"{startup_timeout} s:\n" + log.read_text(errors="replace")[-4000:])
                    time.sleep(0.3)
            yield lab
        finally:
            with contextlib.suppress(Exception):
                lab.api("POST", "/api/shutdown")   # shuts the kernels down too
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# --------------------------------------------------------------------------- running a notebook

_NB = "window.jupyterapp.shell.currentWidget"

_STATE_JS = """() => {
    const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!nb || !nb.content || !nb.sessionContext) return null;
    const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
    const cells = nb.content.widgets.map((c, i) => ({
        i, type: c.model.type,
        empty: c.model.sharedModel.getSource().trim() === '',
        count: c.model.type === 'code' ? c.model.executionCount : null,
        running: c.model.type === 'code' && (c.model.executionState === 'running'
                 || ((c.node.querySelector('.jp-InputPrompt') || {}).textContent || '').includes('*')),
        error: c.model.type === 'code' && c.model.outputs.toJSON().some(o => o.output_type === 'error'),
    }));
    return {path: nb.context.path, kernel: kernel ? kernel.status : null,
            ready: nb.context.isReady, cells};
}"""


def _state(page) -> dict | None:
    return page.evaluate(_STATE_JS)


def _wait(page, predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        state = _state(page)
        if state is not None and predicate(state):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (after {timeout:.0f} s; last state: {_summarise(state)})")
        page.wait_for_timeout(poll * 1000)


def _summarise(state) -> str:
    if state is None:
        return "no notebook open"
    code = [c for c in state["cells"] if c["type"] == "code" and not c["empty"]]
    pending = [c["i"] for c in code if c["count"] is None]
    running = [c["i"] for c in code if c["running"]]
    return (f"kernel {state['kernel']}, {len(code)} code cells, running {running[:5]}, "
            f"without execution count {pending[:10]}{' ...' if len(pending) > 10 else ''}")


def _finished(state) -> bool:
    code = [c for c in state["cells"] if c["type"] == "code" and not c["empty"]]
    if state["kernel"] != "idle" or any(c["running"] for c in code):
        return False
    # Run All stops at the first error: the cells after it keep no execution count.
    return all(c["count"] is not None for c in code) or any(c["error"] for c in code)


def open_notebook(page, lab: Lab, name: str, timeout: float = 120) -> dict:
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}", wait_until="load")
    state = _wait(page, lambda s: s["path"] == name and s["ready"] and s["kernel"] == "idle",
                  timeout, f"{name}: the notebook did not open with an idle kernel")
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")   # the file browser: more room
    return state


def run_all(page, name: str, timeout: float) -> dict:
    """Run > Run All Cells (the menu, as a reader does it), then wait until nothing runs."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has=page.locator(
        ".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).click()
    return _wait(page, _finished, timeout, f"{name}: Run All did not finish")


# --------------------------------------------------------------------------- inspecting the page

# Literal MyST that should have been rendered (checked on the text of rendered Markdown, math
# excluded).  A role's backticks disappear in rendering (the body becomes <code>), so a literal
# role reads "{eq}body".
LITERAL = [
    ("a literal role", re.compile(
        r"\{(?:eq|doc|ref|numref|term|cite(?::\w+)?|download|abbr|sub|sup|glue(?::\w+)?|prf:\w+|index|"
        r"math|dfn|kbd|guilabel|menuselection|external(?:[\w:+-]*))\}")),
    ("a literal directive option", re.compile(r"(?m)^\s*:(?:class|label|name|open|icon|width|align|"
                                                 r"enumerated|nowrap|tags|figwidth|alt|dropdown):")),
    ("a literal ':class:'", re.compile(r":class:")),
    ("a literal footnote '[^'", re.compile(r"\[\^")),
    ("a literal ':::' fence", re.compile(r":::")),
    ("a literal '```{' fence", re.compile(r"```\{")),
    ("untypeset display math '$$'", re.compile(r"\$\$")),
    ("a bare '(label)' line", re.compile(r"(?m)^[ \t]*\([A-Za-z][\w.:-]*\)=?[ \t]*$")),
]

WIDGET_FAILURES = ["Loading widget...", "Error displaying widget", "model not found",
                   "Failed to create view", "Failed to load model class", "Failed to load view class"]

_PAGE_JS = r"""() => {
    // The text of a rendered element, one line per block; math and icons become a placeholder so
    // that TeX neither hides nor fakes literal MyST, editors (the cell source) are skipped.
    const SKIP = '.jp-Editor, .jp-InputPrompt, script, style';
    const MATH = '.katex, .katex-display, mjx-container, .MathJax, svg';
    function blockText(el) {
        let s = '';
        const walk = (n) => {
            if (n.nodeType === 3) { s += n.data; return; }
            if (n.nodeType !== 1) return;
            if (n.matches(SKIP)) return;
            if (n.matches(MATH)) { s += ' \u2063 '; return; }
            const d = getComputedStyle(n).display;
            const block = !(d.startsWith('inline') || d === 'contents') || n.tagName === 'BR';
            if (block) s += '\n';
            for (const c of n.childNodes) walk(c);
            if (block) s += '\n';
        };
        walk(el);
        return s;
    }
    const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
    const out = {markdown: [], unrendered: [], footnotes: [], unresolved: [], katex: [],
                 unknown: [], links: [], anchors: [], fences: [], widgets: [],
                 explorers: 0};
    cells.forEach((cell) => {
        const i = Number(cell.dataset.windowedListIndex);
        const rendered = [];
        if (cell.classList.contains('jp-MarkdownCell')) {
            if (!cell.classList.contains('jp-mod-rendered')) out.unrendered.push(i);
            const area = cell.querySelector('.jp-Cell-inputArea');
            if (area) rendered.push(area);
        } else {
            rendered.push(...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="text/markdown"]'));
        }
        for (const r of rendered) {
            out.markdown.push([i, blockText(r)]);
            for (const f of r.querySelectorAll('[id^="fnref-"]')) {
                const a = f.querySelector('a[href^="#"]');
                const target = a && document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1)));
                if (!target || !target.textContent.trim())
                    out.footnotes.push([i, f.textContent.trim(), a ? a.getAttribute('href') : null]);
            }
            // jupyterlab-myst shows a reference it cannot resolve as a yellow warning span whose
            // title says why ("Cross Reference Not Found", "Citation Has No Label", ...).
            for (const u of r.querySelectorAll('span.text-yellow-600[title]'))
                out.unresolved.push([i, u.textContent.trim(), u.getAttribute('title')]);
            for (const k of r.querySelectorAll('.katex-error'))
                out.katex.push([i, k.textContent.trim().slice(0, 80), k.getAttribute('title')]);
            // jupyterlab-myst's red box for a directive (or role) it does not know
            for (const u of r.querySelectorAll('aside, details, div')) {
                const m = /(\S+) - Unknown (Directive|Role)/.exec(u.firstElementChild ? u.firstElementChild.textContent : '');
                if (m) out.unknown.push([i, `{${m[1]}} - Unknown ${m[2]}`]);
            }
            for (const c of r.querySelectorAll('code[class*="language-{"]'))
                out.fences.push([i, c.className]);
            for (const a of r.querySelectorAll('a[href]')) {
                if (a.closest('[id^="fnref-"]')) continue;   // reported as a footnote
                const href = a.getAttribute('href');
                if (href.startsWith('#')) {
                    const id = decodeURIComponent(href.slice(1));
                    if (!document.getElementById(id)) out.anchors.push([i, a.textContent.trim(), href]);
                } else {
                    out.links.push([i, a.textContent.trim(), a.href]);
                }
            }
        }
        if (cell.classList.contains('jp-CodeCell')) {
            for (const w of cell.querySelectorAll('.jp-OutputArea-output')) {
                if (w.matches('[data-mime-type^="application/vnd.jupyter.std"], [data-mime-type^="text/"], [data-mime-type^="image/"]')) continue;
                const t = w.textContent.trim();
                const bad = %WIDGET_FAILURES%.find(s => t.startsWith(s) || (t.length < 300 && t.includes(s)));
                const err = w.querySelector('.jupyter-widgets-error-widget, .widget-error');
                if (bad || err) out.widgets.push([i, t.slice(0, 160) || 'an error widget']);
            }
            out.explorers += cell.querySelectorAll('.cnnbook-explorer').length;
        }
    });
    return out;
}""".replace("%WIDGET_FAILURES%", json.dumps(WIDGET_FAILURES))

_MODEL_JS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map((c, i) => ({
    i, type: c.model.type,
    tags: c.model.getMetadata('tags') || [],
    outputs: c.model.type === 'code' ? c.model.outputs.toJSON() : [],
    source: c.model.type === 'markdown' ? c.model.sharedModel.getSource() : '',
    user_expressions: c.model.getMetadata('user_expressions') || [],
}))"""


def _failing_line(traceback: list[str]) -> str:
    """' at <the last '---->' line of an IPython traceback>', or ''."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback))
    arrows = re.findall(r"^-+> *(\d+ .*)$", plain, re.M)
    return f" at line {' '.join(arrows[-1].split())[:160]}" if arrows else ""


def _first_line(text: str, n: int = 160) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line[:n]


def _context(text: str, m: re.Match, n: int = 50) -> str:
    s = text[max(0, m.start() - n): m.end() + n]
    return " ".join(s.split())


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    explorers: int = 0
    links: int = 0


def _evals_pending(model) -> bool:
    for c in model:
        done = {e.get("expression") for e in c["user_expressions"]}
        if any(expr not in done for expr in re.findall(r"\{eval\}`([^`]*)`", c["source"])):
            return True
    return False


def _model_with_evals(page, timeout: float = 30) -> list[dict]:
    """The notebook's cells, once jupyterlab-myst has stored the result of every {eval} (it asks
    the kernel after the code cells have run, so the results can arrive after Run All ends on a
    busy machine); after ``timeout`` seconds, the cells as they are."""
    deadline = time.monotonic() + timeout
    model = page.evaluate(_MODEL_JS)
    while _evals_pending(model) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        model = page.evaluate(_MODEL_JS)
    return model


def inspect_notebook(page, lab: Lab) -> Report:
    """Every problem of the rendered, executed notebook open in ``page``, one line each."""
    rep = Report()
    p = rep.problems
    model = _model_with_evals(page)
    for c in model:
        for o in c["outputs"]:
            if o.get("output_type") == "error":
                p.append(f"cell {c['i']}: error {o.get('ename')}: {o.get('evalue', '')[:200]}"
                         + _failing_line(o.get("traceback", []))
                         + (" (tagged raises-exception, still a traceback to the reader)"
                            if "raises-exception" in c["tags"] else ""))
            elif o.get("output_type") == "stream" and o.get("name") == "stderr" and "Traceback" in o.get("text", ""):
                p.append(f"cell {c['i']}: a traceback printed to stderr: "
                         + _first_line(o["text"].strip().splitlines()[-1]))
        # {eval} numbers: jupyterlab-myst evaluates them when the cell is run and keeps the results
        # in the cell's metadata; a failed or never-evaluated one leaves the reader without it
        results = {e.get("expression"): e.get("result", {}) for e in c["user_expressions"]}
        for expr in re.findall(r"\{eval\}`([^`]*)`", c["source"]):
            r = results.get(expr)
            if r is None:
                p.append(f"cell {c['i']}: the number {{eval}}`{expr}` was never evaluated")
            elif r.get("status") != "ok":
                p.append(f"cell {c['i']}: the number {{eval}}`{expr}` fails: {r.get('ename')}: "
                         + _first_line(r.get("evalue", "")))
    # give widgets and MyST cross-references a moment to settle
    page.wait_for_timeout(500)
    loading_deadline = time.monotonic() + 30
    while True:
        found = page.evaluate(_PAGE_JS)
        if not any(w[1].startswith("Loading widget") for w in found["widgets"]) or time.monotonic() > loading_deadline:
            break
        page.wait_for_timeout(500)
    rep.explorers = found["explorers"]
    for i, text in found["markdown"]:
        covered: list[range] = []
        for what, rx in LITERAL:
            for m in rx.finditer(text):
                if any(m.start() in r or m.end() - 1 in r for r in covered):
                    continue        # already reported by a more specific pattern
                covered.append(range(m.start(), m.end()))
                p.append(f"cell {i}: {what} in rendered Markdown: ...{_context(text, m)}...")
    for i in found["unrendered"]:
        p.append(f"cell {i}: a Markdown cell is not rendered")
    for i, text, href in found["footnotes"]:
        p.append(f"cell {i}: footnote {text} whose text JupyterLab does not show (link {href})")
    for i, text, title in found["unresolved"]:
        if re.search(r"reference|citation|label|footnote", title, re.I):
            p.append(f"cell {i}: unresolved reference '{text}' ({title})")
        else:
            p.append(f"cell {i}: jupyterlab-myst cannot render '{text}': {title}")
    for i, text, title in found["katex"]:
        p.append(f"cell {i}: math that does not typeset: {text!r} ({title})")
    for i, text in dict.fromkeys(map(tuple, found["unknown"])):
        p.append(f"cell {i}: {text}")
    for i, cls in found["fences"]:
        p.append(f"cell {i}: a directive rendered as a code block ({cls})")
    for i, text, href in found["anchors"]:
        p.append(f"cell {i}: link '{text}' to {href}: no such anchor in the notebook")
    for i, text, href in found["links"]:
        rep.links += 1
        problem = _check_link(lab, href)
        if problem:
            p.append(f"cell {i}: link '{text}' -> {problem}")
    for i, text in found["widgets"]:
        p.append(f"cell {i}: a widget that does not render: {text}")
    return rep


def _check_link(lab: Lab, href: str) -> str | None:
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https"):
        return None                      # mailto: and the like
    if f"{parts.scheme}://{parts.netloc}" != lab.url:
        return None                      # another site: not fetched (no network in the tests)
    path = unquote(parts.path)
    for prefix in ("/files/", "/lab/tree/", "/tree/"):
        if path.startswith(prefix):
            rel = path[len(prefix):]
            target = (lab.root / rel).resolve()
            if not target.is_relative_to(lab.root.resolve()):
                return f"{rel}: outside the book"
            if not target.exists():
                hint = next((f" (a {{doc}} role? JupyterLab needs the file name, {rel}{ext})"
                             for ext in (".ipynb", ".md") if not target.suffix
                             and target.with_suffix(ext).exists()), "")
                return f"{rel}: no such file in the book{hint}"
            return None
    try:
        lab.api("GET", path)
    except urllib.error.HTTPError as e:
        return f"{path}: HTTP {e.code}"
    return None


# --------------------------------------------------------------------------- screenshots


def _cell(page, i: int):
    return page.locator(f'.jp-Notebook .jp-Cell[data-windowed-list-index="{i}"]')


def screenshot_regions(page, shots: Path, name: str, model: list[dict] | None = None) -> list[str]:
    """The top of the notebook, each Summary box, each exercise (statement, stub, checker report,
    collapsed solution).  Returns the file names written."""
    stem = Path(name).stem
    for old in shots.glob(f"{stem}*.png"):
        old.unlink()
    written = []

    def shot(fname, **kw):
        page.screenshot(path=str(shots / fname), **kw)
        written.append(fname)

    page.evaluate(f"() => {_NB}.content.scrollToItem ? {_NB}.content.scrollToItem(0) : null")
    page.locator(".jp-Notebook .jp-Cell").first.scroll_into_view_if_needed()
    shot(f"{stem}.png")
    model = model or page.evaluate(_MODEL_JS)

    summaries = page.locator(".jp-Notebook aside.myst-admonition", has=page.locator(
        ".myst-admonition-header", has_text=re.compile(r"^\s*Summary", re.I)))
    for k in range(summaries.count()):
        box = summaries.nth(k)
        box.scroll_into_view_if_needed()
        box.screenshot(path=str(shots / f"{stem}_summary{k}.png"))
        written.append(f"{stem}_summary{k}.png")

    stubs = [c["i"] for c in model if "exercise" in c["tags"]]
    for k, i in enumerate(stubs):
        first = i - 1 if i > 0 and model[i - 1]["type"] == "markdown" else i
        last = next((j for j in range(i + 1, min(i + 6, len(model))) if "solution" in model[j]["tags"]), i + 1)
        last = min(last, len(model) - 1)
        _region_shot(page, [first, last], shots / f"{stem}_exercise{k}.png")
        written.append(f"{stem}_exercise{k}.png")
    return written


def _region_shot(page, cells: list[int], path: Path) -> None:
    top, bottom = _cell(page, cells[0]), _cell(page, cells[-1])
    size = page.viewport_size
    h = page.evaluate("([a, b]) => b.getBoundingClientRect().bottom - a.getBoundingClientRect().top",
                      [top.element_handle(), bottom.element_handle()])
    grown = h + 200 > size["height"]
    if grown:
        page.set_viewport_size({"width": size["width"], "height": int(min(h + 200, 12000))})
        page.wait_for_timeout(300)
    top.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(100)
    a = top.bounding_box()
    b = bottom.bounding_box()
    vp = page.viewport_size
    y0 = max(0, a["y"])
    y1 = min(vp["height"], b["y"] + b["height"])
    page.screenshot(path=str(path), clip={"x": a["x"], "y": y0, "width": a["width"], "height": max(1, y1 - y0)})
    if grown:
        page.set_viewport_size(size)


# --------------------------------------------------------------------------- explorers


def check_explorer(page, explorer, where: str) -> int:
    """Move each control of an explorer to another value and back; after each move the one
    visible view must be the one made for the controls' values.  Returns the number of views
    checked.  (As in the static page, tests/test_book.py: a move only has to prove that the
    jslinks work; tests/test_widgets.py checks that every combination of values has its view.)"""
    from test_book import _check_explorer

    return _check_explorer(page, explorer, where, sweep=False)
