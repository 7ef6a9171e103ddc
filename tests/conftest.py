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
