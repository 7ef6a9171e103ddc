"""The built HTML book, as a reader's browser sees it.

Every page is opened in Debian's Chromium (driven by playwright, never with a
browser playwright downloads) from a server on 127.0.0.1, and must:
make no request to another host, log no JavaScript error, typeset every math
node without an ``mjx-merror``, render every explorer, and show no figure as
the text "<Figure size ...>".  Every explorer's controls are then moved to
another value and back; after each move the visible view must be the one
Python rendered for those control values (views carry
``cnnbook-view-<indices>``).  That every combination of values has its own
view is checked in Python (tests/test_widgets.py); here the moves prove that
the page's JavaScript links work.

A link check reads every built page and requires every relative link and
asset to exist (anchors included).

The book is built strictly by scripts/build.sh, which reuses ``_build/html``
when it is a strict build of exactly the current sources; CNNBOOK_HTML names
another built book to check instead.  Screenshots of
each page and each explorer go to ``_build/screenshots/html/``.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import socketserver
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The tests of this module go to one worker (--dist loadgroup); the fixtures are session-scoped,
# so other tests that run in between on that worker do not tear them down; and the build is
# serialised by a lock (html_dir) in case another worker asks for it too.
pytestmark = pytest.mark.xdist_group("book")
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if os.environ.get("CNNBOOK_HTML"):
        return Path(os.environ["CNNBOOK_HTML"])
    # scripts/build.sh reuses _build/html only when it is a strict build of exactly the
    # current sources (scripts/book_stamp.py); otherwise it builds the book from scratch. Two test
    # workers must never build at once (one would clear the pages the other is checking): the
    # second waits for the lock, then finds a fresh build.
    import fcntl
    import hashlib
    import tempfile

    lock = Path(tempfile.gettempdir()) / f"cnnbook-build-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = subprocess.run(["bash", "scripts/build.sh"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("the strict book build failed:\n" + (result.stdout + result.stderr)[-6000:])
    return ROOT / "_build" / "html"


def _pages(html_dir: Path) -> list[str]:
    pages = [p.relative_to(html_dir).as_posix() for p in sorted((html_dir / "book").glob("*.html"))]
    assert pages, f"no pages under {html_dir / 'book'}"
    return pages  # index.html only redirects to the intro


# --------------------------------------------------------------------------- links


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_internal_link_and_asset_exists(html_dir):
    broken = []
    for page in sorted(html_dir.rglob("*.html")):
        if "_static" in page.relative_to(html_dir).parts:
            continue
        links = _parse(page)
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # navigation to other sites (repository, launch buttons): not loaded
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(html_dir)}: {link} (no file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(html_dir)}: {link} (no anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


# --------------------------------------------------------------------------- browser


def _browser_or_skip():
    reason = None
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install -r requirements.txt)"
    if reason is None and not CHROMIUM.exists():
        reason = f"no browser at {CHROMIUM} (apt-get install chromium)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_page(html_dir, request):
    """(tabs, base, logs): two pages of one Chromium, each in a browser context of its own, with
    one log each (requests to other hosts, console errors, failed responses); the page test loads
    the next page in one tab while it checks the current page in the other."""
    _browser_or_skip()
    pw = request.getfixturevalue("playwright_driver")

    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    def tab(browser):
        log = {"external": [], "errors": [], "failed": []}

        def route(route):  # playwright hangs on a handler with any other signature
            url = route.request.url
            if url.startswith(base) or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                log["external"].append(url)
                route.abort()

        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        page.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and log["errors"].append(m.text))
        page.on("pageerror", lambda e: log["errors"].append(str(e)))
        page.on("response", lambda r: r.status >= 400 and log["failed"].append(f"{r.status} {r.url}"))
        return page, log

    browser = pw.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run"],
    )
    (page, log), (spare, spare_log) = tab(browser), tab(browser)
    try:
        yield (page, spare), base, (log, spare_log)
    finally:
        browser.close()
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


SHOTS = ROOT / "_build" / "screenshots" / "html"   # test_jupyterlab.py writes beside it, to jupyterlab/


def _start(page, base, rel):
    """Begin loading a page; _open finishes it (meanwhile the caller can work on another tab)."""
    page.goto(base + rel, wait_until="commit")


def _open(page):
    page.wait_for_load_state("load")
    # MathJax loads only on pages with math; wait until it has typeset everything.
    if page.evaluate("() => !!(window.MathJax && MathJax.startup)"):
        page.evaluate("() => MathJax.startup.promise")
    # The explorers among the page's widgets (others, like a progress bar, are not moved),
    # from the widget state that the page embeds.
    n_explorers = page.evaluate(
        """() => {
            const state = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
            if (!state) return 0;
            const models = JSON.parse(state.textContent).state;
            return [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
                .map(s => models[JSON.parse(s.textContent).model_id])
                .filter(m => m && (m.state._dom_classes || []).includes('cnnbook-explorer')).length;
        }"""
    )
    # Widgets render after the page's load event; give the manager time to build them.
    if n_explorers:
        page.wait_for_function(
            f"() => document.querySelectorAll('.cnnbook-explorer').length >= {n_explorers}", timeout=30000
        )
    return n_explorers


def _visible_views(explorer) -> list[str]:
    return explorer.evaluate(
        """e => [...e.querySelectorAll('.cnnbook-view')]
              .filter(v => v.offsetParent !== null)
              .map(v => [...v.classList].find(c => /^cnnbook-view-\\d/.test(c)))"""
    )


def _control_state(control) -> tuple[int, int]:
    """(current index, number of values) of a slider or dropdown control."""
    select = control.locator("select")
    if select.count():
        return select.evaluate("s => [s.selectedIndex, s.options.length]")
    handle = control.locator(".noUi-handle")
    now, top = handle.evaluate(
        "h => [Number(h.getAttribute('aria-valuenow')), Number(h.getAttribute('aria-valuemax'))]"
    )
    return round(now), round(top) + 1


def _move(page, control, index: int) -> None:
    select = control.locator("select")
    if select.count():
        select.select_option(index=index)
    else:
        handle = control.locator(".noUi-handle")
        now, _ = _control_state(control)
        handle.focus()
        for _ in range(abs(index - now)):
            page.keyboard.press("ArrowRight" if index > now else "ArrowLeft")


def _check_explorer(page, explorer, where: str, *, sweep: bool = True) -> int:
    """Move each control of an explorer and check the visible view after every move: to every
    value in turn (sweep), or only to another value and back (enough to prove the links work).
    Returns the number of views checked."""
    controls = explorer.locator(".cnnbook-control")
    n = controls.count()
    assert n >= 1, f"{where}: an explorer without controls"
    state = [_control_state(controls.nth(k)) for k in range(n)]
    current = [s[0] for s in state]

    def expect_view(indices):
        want = "cnnbook-view-" + "-".join(map(str, indices))
        try:  # the switch happens in JavaScript, after the key press returns
            page.wait_for_function(
                """([e, want]) => [...e.querySelectorAll('.' + want)].some(v => v.offsetParent !== null)""",
                arg=[explorer.element_handle(), want], timeout=5000,
            )
        except Exception:
            pass  # reported below with what is shown instead
        shown = _visible_views(explorer)
        assert shown == [want], f"{where}: controls at {indices} show {shown}, expected [{want}]"

    expect_view(current)
    checks = 1
    for k in range(n):
        start, size = current[k], state[k][1]
        assert size >= 2, f"{where}: control {k} has a single value"
        other = size - 1 if start != size - 1 else 0
        for target in ([*range(size), start] if sweep else [other, start]):
            _move(page, controls.nth(k), target)
            assert _control_state(controls.nth(k))[0] == target, f"{where}: control {k} did not move"
            current[k] = target
            expect_view(current)
            checks += 1
    return checks


def test_every_page_offline_typeset_and_every_explorer_responds(html_dir, browser_page):
    tabs, base, logs = browser_page
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    problems, summary = [], []
    pages = _pages(html_dir)
    # Two tabs take turns: while one page is checked, the next one loads and MathJax typesets it
    # in the other tab's renderer (a process of its own, so on the other core).
    _start(tabs[0], base, pages[0])
    for k, rel in enumerate(pages):
        page, log = tabs[k % 2], logs[k % 2]
        if k + 1 < len(pages):
            _start(tabs[(k + 1) % 2], base, pages[k + 1])
        started = time.perf_counter()
        n_explorers = _open(page)
        opened = time.perf_counter() - started
        name = rel.replace("/", "_").removesuffix(".html")
        page.screenshot(path=str(SHOTS / f"{name}.png"))

        untypeset = page.evaluate(
            "() => [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).length"
        )
        merrors = page.evaluate(
            "() => [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error'))"
        )
        if untypeset:
            problems.append(f"{rel}: {untypeset} math nodes were never typeset")
        if merrors:
            problems.append(f"{rel}: MathJax errors {merrors}")
        text = page.inner_text("article") if page.locator("article").count() else page.inner_text("body")
        if re.search(r"<Figure size \d", text):
            problems.append(f"{rel}: a figure shows as text ('<Figure size ...>'), not as an image")

        explorers = page.locator(".cnnbook-explorer")
        if explorers.count() != n_explorers:
            problems.append(f"{rel}: {n_explorers} explorers in the page's widget state, "
                            f"{explorers.count()} rendered")
        checks = 0
        for i in range(explorers.count()):
            explorer = explorers.nth(i)
            explorer.scroll_into_view_if_needed()
            explorer.screenshot(path=str(SHOTS / f"{name}_explorer{i}.png"))
            try:
                checks += _check_explorer(page, explorer, f"{rel} explorer {i}", sweep=False)
            except AssertionError as e:
                problems.append(str(e))
            except Exception as e:  # a timeout waiting for a view is a frozen explorer
                problems.append(f"{rel} explorer {i}: {type(e).__name__}: {str(e).splitlines()[0]}")
        for key in log:
            problems += [f"{rel}: {key}: {entry}" for entry in log[key]]
            log[key].clear()
        summary.append(f"{rel}: opened in {opened:.1f} s; {explorers.count()} explorers, "
                       f"{checks} views checked in {time.perf_counter() - started - opened:.1f} s")
    print("\n".join(summary))
    assert not problems, "\n".join(problems)


def test_search_finds_the_chapter_that_defines_a_term(browser_page):
    (page, _), base, _ = browser_page
    page.goto(base + "search.html?q=dilated", wait_until="load")
    page.wait_for_selector("#search-results li", timeout=30000)
    hits = page.locator("#search-results li a").all_inner_texts()
    assert any("Convolution" in h for h in hits), hits


def test_launch_and_download_buttons(html_dir):
    page = (html_dir / "book" / "convolution.html").read_text(encoding="utf-8")
    assert "mybinder.org/v2/gh/cnnbook/cnnbook/main?urlpath=tree/book/convolution.ipynb" in page
    assert "colab.research.google.com/github/cnnbook/cnnbook/blob/main/book/convolution.ipynb" in page
    assert '_sources/book/convolution.ipynb' in page  # the notebook download


# --------------------------------------------------------------------------- exercises


def test_every_exercise_solution_shown_in_the_book_passes(html_dir):
    """The notebooks as the strict build executed them: every exercise's last report (the
    reference solution's, in the cell the book shows collapsed) says passed."""
    import json

    from cnnbook.exercises._notebooks import grade_executed

    executed = sorted((html_dir.parent / "jupyter_execute" / "book").glob("*.ipynb"))
    assert executed, f"no executed notebooks under {html_dir.parent / 'jupyter_execute'}"
    graded = 0
    for path in executed:
        grade = grade_executed(json.loads(path.read_text(encoding="utf-8")), path.name)
        assert not grade.problems, grade.text()
        assert all(v.passed for v in grade.verdicts), grade.text()
        graded += len(grade.verdicts)
    assert graded >= 20, f"only {graded} exercises graded"
