"""The browser tooling itself: chromium starts, axe-core finds a real accessibility error (so a
passing check means something), the same page fixed passes, and screenshots are written."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from tests.browser.conftest import LOCALE, assert_accessible, screenshot

PAGE = """<!doctype html>
<html lang="nl">
<head><meta charset="utf-8"><title>Zelftest</title></head>
<body>
  <main>
    <h1>Zelftest</h1>
    <form>
      {field}
      <button type="submit">Opslaan</button>
    </form>
  </main>
</body>
</html>"""

UNLABELLED = '<input type="text" name="naam">'
LABELLED = '<label for="naam">Naam</label> <input type="text" id="naam" name="naam">'


async def test_browser_runs_with_the_dutch_locale(page: Page) -> None:
    await page.set_content(PAGE.format(field=LABELLED))
    assert await page.evaluate("navigator.language") == LOCALE
    assert await page.evaluate("[innerWidth, innerHeight]") == [1280, 900]
    assert await page.title() == "Zelftest"


async def test_axe_catches_an_input_without_label(page: Page) -> None:
    await page.set_content(PAGE.format(field=UNLABELLED))
    with pytest.raises(pytest.fail.Exception) as failed:
        await assert_accessible(page, "unlabelled")
    message = str(failed.value)
    assert "unlabelled: 1 serious or critical accessibility violation(s)" in message
    assert "- label (critical): Form elements must have labels" in message
    assert '    input: <input type="text" name="naam">' in message


async def test_axe_passes_the_same_page_with_a_label(page: Page) -> None:
    await page.set_content(PAGE.format(field=LABELLED))
    results = await assert_accessible(page, "labelled")
    assert results.response["violations"] == []
    assert results.response["testEngine"]["name"] == "axe-core"
    # The WCAG 2.1 A/AA rules ran, and only those (a best-practice rule such as "region" did not).
    tags = {tag for rule in results.response["passes"] for tag in rule["tags"]}
    assert "wcag2a" in tags
    assert "label" in {rule["id"] for rule in results.response["passes"]}
    ran = {r["id"] for key in ("passes", "incomplete", "inapplicable") for r in results.response[key]}
    assert "region" not in ran


async def test_screenshot_is_a_png(page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THUISBEST_SCREENSHOTS", raising=False)
    await page.set_content(PAGE.format(field=LABELLED))
    path = await screenshot(page, "zelftest/formulier")
    assert path.name == "zelftest-formulier.png"
    assert "docs" not in path.parts
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
