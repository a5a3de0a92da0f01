"""Debian's chromium, driven by Playwright: the wire page's tests and its benchmark look at it as a person would.

Never `playwright install`: the browser is the system's (`deploy/setup.sh --test` installs `chromium`), so nothing
is downloaded at run time.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)


def chromium_path() -> Path:
    """The system's chromium; a test skips with a message when it is absent (`deploy/setup.sh --test`)."""
    found = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or "")
    if not found.name:
        pytest.skip("needs Debian's chromium (bash deploy/setup.sh --test installs it)")
    return found


def launch_chromium(playwright: Playwright) -> Browser:
    """A headless chromium with no network of its own (no updates, no sync, no first-run fetches)."""
    return playwright.chromium.launch(executable_path=str(chromium_path()), args=CHROMIUM_ARGS)
