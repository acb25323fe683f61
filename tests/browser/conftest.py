"""What the browser tests share: Debian's chromium driven by Playwright (never a downloaded
browser), one demo shop per module (shop + FiC sandbox + worker on free ports), Italian pages that
leave a screenshot in the test's tmp dir (orders: ``demo.place_order(body)``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator:
    from fic_demo.testing import DemoServer

    with DemoServer(tmp_path_factory.mktemp("demo"), worker_interval=0.2) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not on PATH (make test installs it; never download a browser)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, tmp_path, request) -> Iterator[Callable[..., Any]]:
    """``open_page(viewport)``: a new Italian page; after the test, its screenshot, and closed."""
    opened: list = []

    def open_(viewport: dict = DESKTOP):
        context = browser.new_context(locale="it-IT", viewport=viewport)
        page = context.new_page()
        page.set_default_timeout(15_000)
        opened.append((context, page))
        return page

    yield open_
    for number, (context, page) in enumerate(opened):
        suffix = f"-{number}" if number else ""
        page.screenshot(path=str(tmp_path / f"{request.node.name}{suffix}.png"), full_page=True)
        context.close()

