"""Shared test settings for the cnnbook tests (strategies live in _helpers.py).

The hypothesis profile is deterministic (``derandomize=True``, no example
database) and bounded, so the whole ``tests/`` directory runs in seconds;
``HYPOTHESIS_PROFILE=thorough`` draws many more examples for a local soak.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "cnnbook",
    deadline=None,
    max_examples=25,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("cnnbook"),
    max_examples=500,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "cnnbook"))


@pytest.fixture
def rng():
    return np.random.default_rng(20240521)


@pytest.fixture(scope="session")
def playwright_driver():
    """One playwright driver per test process: its sync API allows one at a time, and both browser
    tests (the HTML book and JupyterLab) keep session browsers and may share a worker.  Request it
    only after checking that playwright and the browser exist (test_book._browser_or_skip)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


_UNGROUPED = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under ``--dist loadgroup`` (scripts/test.sh) pytest-xdist keeps the tests of one
    ``xdist_group`` on one worker by appending ``@group`` to their node ids. When that stops working
    (as it did with pytest 9.2, pytest-xdist issue 1386), nothing fails by itself: every worker
    builds the book or waits for another's build, and the suite runs minutes longer. So those
    tests fail, saying why (a worker's collection error would only show as an INTERNALERROR)."""
    if not getattr(config.option, "loadgroup", False):   # set on xdist workers only
        return
    for item in items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            item.stash[_UNGROUPED] = (
                f"--dist loadgroup did not group {item.nodeid} (marked xdist_group): this "
                "pytest-xdist does not work with this pytest; see requirements.txt")


def pytest_runtest_setup(item):
    if _UNGROUPED in item.stash:
        pytest.fail(item.stash[_UNGROUPED], pytrace=False)
