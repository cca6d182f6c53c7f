"""What every browser test shares: Debian's Chromium with the flags this machine needs, and the tiny-model
settings a person types."""

from __future__ import annotations

import logging
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]


@contextmanager
def chromium():
    """A headless Chromium (never a browser Playwright downloads itself)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is not installed (apt-get install chromium); scripts/test.sh installs it.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def set_small_settings(page, tab: str, size_text: str = "128x128", frames: str = "9") -> None:
    """Tiny-model settings a person would type: the size, the frames, 2 steps, seed 5."""
    panel = page.locator(f"#tab-{tab}")
    size = panel.get_by_label("Size (W x H)")
    if not size.is_visible():  # the accordion is closed
        panel.get_by_text("Generation settings").click()
    size.fill(size_text)
    size.press("Enter")
    page.wait_for_timeout(300)
    for label, value in (("Frames (4n+1)", frames), ("Seed (-1 = random)", "5"), ("number input for Steps", "2")):
        field = panel.get_by_label(label)
        if field.is_visible():  # a hosted backend hides what it does not honour
            field.fill(value)
            field.press("Tab")


def history_card(page, job_id: str):
    """The History gallery's card of a job (its caption ends with the job id)."""
    return page.locator("#history-gallery button").filter(has_text=job_id).filter(visible=True).first


def open_tab(page, title: str) -> None:
    """Click a top-level tab, through the tab bar's overflow menu on a narrow screen."""
    tab = page.get_by_role("tab", name=title, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator(".overflow-menu button, button.overflow-menu").first.click()
    page.locator(".overflow-dropdown button").filter(has_text=title).first.click()


ERROR_BADGES = "() => [...document.querySelectorAll('span.error')].filter(e => e.offsetParent).length"


class Tracebacks(logging.Handler):
    """Collects the server log's errors and tracebacks while a browser test clicks (attach to the root logger)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)
