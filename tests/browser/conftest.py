"""Browser tests of the board: Playwright drives Debian's chromium, axe-core checks accessibility.

Playwright's ASYNC API, on pytest-asyncio's session loop (asyncio_mode = "auto" in pyproject.toml):
the sync API marks its own event loop as running on the main thread between calls for as long as
it lives, so a session-scoped sync browser makes every async test that runs after it fail with
"Cannot run the event loop while another loop is running".

The browser is Debian's chromium (`make chromium`), never Playwright's own download. Fixtures:
`playwright`, `browser` (session), `page` (a new context per test: nl-NL, 1280x900). Helpers, to
import from here: `await assert_accessible(page, name)` and `await screenshot(page, name)`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from axe_playwright_python.base import AxeResults
from playwright.async_api import Browser, Page, Playwright, ViewportSize, async_playwright

# The whole stack as processes (the board's tests drive it): the integration tests' fixtures.
from tests.integration.conftest import kafka_bootstrap, start_stack  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
# The screenshots the README shows, written with THUISBEST_SCREENSHOTS=1.
SCREENSHOT_DIR = ROOT / "docs" / "board"
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
LOCALE = "nl-NL"
# axe-core rule tags of WCAG 2.0 and 2.1, levels A and AA.
WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = frozenset({"serious", "critical"})

_axe = Axe()
_tmp_screenshots: Path | None = None


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not on PATH: run `make chromium` (it installs Debian's chromium package); "
            "Playwright's own browser download is not used",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    # Playwright adds --no-sandbox itself unless chromium_sandbox=True; said here as well, since
    # chromium refuses to start as root with its sandbox on.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
    yield browser
    await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(locale=LOCALE, viewport=VIEWPORT)
    try:
        yield await context.new_page()
    finally:
        await context.close()


def _describe(violation: dict[str, Any]) -> str:
    lines = [f"- {violation['id']} ({violation['impact']}): {violation['help']} [{violation['helpUrl']}]"]
    for node in violation["nodes"]:
        target = " ".join(map(str, node["target"]))
        html = " ".join(str(node.get("html", "")).split())
        lines.append(f"    {target}: {html[:200]}")
    return "\n".join(lines)


async def assert_accessible(page: Page, name: str, context: str | None = None) -> AxeResults:
    """Runs axe-core's WCAG 2.1 A/AA rules on the page as it is now (or on the elements that the
    `context` selector picks) and fails listing every violation of impact serious or critical,
    with the elements it found. Returns the whole result (`.response` is axe's JSON: violations,
    passes, incomplete, inapplicable) so the caller can report counts of the milder ones."""
    options = {"runOnly": {"type": "tag", "values": WCAG21_AA}, "resultTypes": ["violations"]}
    results = await _axe.run(page, context=context, options=options)
    failing = [v for v in results.response["violations"] if v["impact"] in FAILING_IMPACTS]
    if failing:
        report = "\n".join(_describe(v) for v in failing)
        pytest.fail(f"{name}: {len(failing)} serious or critical accessibility violation(s):\n{report}")
    return results


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Saves a PNG of the page: to docs/board/<name>.png with THUISBEST_SCREENSHOTS=1 (the pictures
    the README shows), else to a temporary directory of this test run. Returns the path."""
    global _tmp_screenshots
    if os.environ.get("THUISBEST_SCREENSHOTS") == "1":
        folder = SCREENSHOT_DIR
    else:
        if _tmp_screenshots is None:
            _tmp_screenshots = Path(tempfile.mkdtemp(prefix="thuisbest-screenshots-"))
        folder = _tmp_screenshots
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path
