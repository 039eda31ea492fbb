"""A coordinator who never saw the API, in Chromium, on the whole stack (intake, scheduler, notifier
and board as processes on the embedded PostgreSQL and broker): signs in with a one-time link,
registers a referral through the form (first with a mistake intake refuses), watches the case page
update itself when the scheduler decides, acknowledges an alert, reports a discharge, looks at the
bed board and previews a capacity cut; every page is checked with axe-core (WCAG 2.1 AA) and timed.

`THUISBEST_SCREENSHOTS=1 pytest tests/browser -s` also writes the README's screenshots (docs/board)
and prints each page's load time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import assert_accessible, screenshot
from tests.integration.conftest import StartStack
from tools.cli import ServiceProcesses, signin_link
from tools.trust import EmbeddedTrust

LOADS: dict[str, float] = {}  # page -> seconds to load, printed at the end
AXE: dict[str, str] = {}  # page -> axe-core's findings in short


@pytest.fixture(scope="module")
def stack(
    start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcesses, EmbeddedTrust]]:
    with start_stack(tmp_path_factory.mktemp("board"), "br") as running:
        yield running


async def visit(page: Page, url: str, name: str) -> None:
    """Open a page, note its load time, and check it with axe-core."""
    started = time.perf_counter()
    await page.goto(url, wait_until="load")
    LOADS[name] = time.perf_counter() - started
    await checked(page, name)


async def checked(page: Page, name: str) -> None:
    results = await assert_accessible(page, name)
    counts: dict[str, int] = {}
    for violation in results.response["violations"]:
        counts[violation["impact"] or "none"] = counts.get(violation["impact"] or "none", 0) + 1
    AXE[name] = ", ".join(f"{n} {impact}" for impact, n in sorted(counts.items())) or "no violations"
    await screenshot(page, name)


async def test_a_coordinator_works_from_the_board_alone(
    page: Page, stack: tuple[ServiceProcesses, EmbeddedTrust]
) -> None:
    services, trust = stack
    board = services.url("board")

    # Signing in: the one-time link asks first, then signs in; a second use is refused.
    link = signin_link(trust.issuer, "coord", board)
    await page.goto(link)
    await expect(page.get_by_text("Aanmelden als Annemiek Vermeulen")).to_be_visible()
    await checked(page, "aanmelden")
    await page.get_by_role("button", name="Aanmelden").click()
    await expect(page).to_have_url(f"{board}/wachtlijst")
    await checked(page, "wachtlijst-leeg")

    # A referral through the form: intake's refusal shows next to its field, nothing typed is lost.
    await page.get_by_role("link", name="Nieuwe aanmelding").click()
    await expect(page.get_by_role("heading", name="Nieuwe aanmelding")).to_be_visible()
    case = "c-browser-1"
    today = date.today()
    await page.get_by_label("Casusnummer").fill(case)
    await page.get_by_label("Zorgvorm").select_option(label="ThuisBest (open)")
    await page.get_by_label("Urgentie").select_option(label="urgent")
    await page.get_by_label("Woonregio").select_option(label="Zeeland")
    await page.get_by_label("Verwijzer").select_option(label="Pieter Bakker")
    start = today + timedelta(days=7)  # planned, not started: it stays on the waiting list
    await page.get_by_label("Vroegste start").fill(start.isoformat())
    await page.get_by_label("Geboortedatum").fill("1990-01-01")  # far too old for ThuisBest
    await page.get_by_label("Time-outadres").fill("Bij oma, Dorpsstraat 1, Goes")
    await page.get_by_role("button", name="Aanmelding registreren").click()
    birth = page.get_by_label("Geboortedatum")
    await expect(birth).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_role("alert").first).to_contain_text("niet opgeslagen")
    await expect(page.get_by_label("Casusnummer")).to_have_value(case)
    await checked(page, "aanmelding-fout")
    await birth.fill((today - timedelta(days=365 * 14)).isoformat())
    await page.get_by_role("button", name="Aanmelding registreren").click()

    # The case page opens and updates itself (server-sent events) when the scheduler decides.
    await expect(page).to_have_url(f"{board}/casussen/{case}")
    await expect(page.locator("#status")).to_have_text("gepland", timeout=30_000)
    plan = page.locator("#plan")
    await expect(plan).to_contain_text("MST-therapeut")
    await expect(page.get_by_role("heading", name="Startgesprek")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("th-ZL-")  # people by name, not by id
    await visit(page, f"{board}/casussen/{case}", "casus")

    # The waiting list and the bed board show it, the case id linking to its page.
    await visit(page, f"{board}/wachtlijst", "wachtlijst")
    await expect(page.get_by_role("link", name=case)).to_be_visible()
    await visit(page, f"{board}/bedden", "bedden")
    await expect(page.get_by_role("link", name=case).first).to_be_visible()

    # An alert: the referral's notice to the coordinators, acknowledged from the board.
    await visit(page, f"{board}/meldingen", "meldingen")
    button = page.get_by_role("button", name="Bevestigen: ").filter(has_text="Bevestigen").first
    await expect(button).to_be_visible(timeout=15_000)
    before = await page.get_by_role("button", name="Bevestigen").count()
    await button.click()
    await expect(page.get_by_role("status")).to_contain_text("Bevestigd")
    assert await page.get_by_role("button", name="Bevestigen").count() == before - 1

    # A discharge, reported on the case page.
    await page.goto(f"{board}/casussen/{case}")
    discharge = page.get_by_role("form", name="Ontslag gemeld")
    await discharge.get_by_label("Ontslagdatum").fill((start + timedelta(days=21)).isoformat())
    await discharge.get_by_role("button").click()
    await expect(page.get_by_role("status")).to_contain_text("Vastgelegd")
    await expect(page.get_by_role("table", name="Wat voor deze casus is gemeld")).to_contain_text(
        "Ontslag gemeld"
    )

    # A capacity cut: first what it would move, nothing changed until confirmed.
    await page.goto(f"{board}/casussen/{case}")
    group = (await page.locator("#plan dd").first.inner_text()).strip()  # where the youth is planned
    await visit(page, f"{board}/capaciteit", "capaciteit")
    await page.get_by_label("Groep").select_option(label=group)
    await page.get_by_label("Bedden in die periode").fill("0")
    await page.get_by_label("Vanaf (eerste nacht)").fill(today.isoformat())
    await page.get_by_label("Tot (de eerste nacht").fill((today + timedelta(days=14)).isoformat())
    await page.get_by_role("button", name="Bekijk wat het verschuift").click()
    await expect(page.get_by_role("heading", name="Wat deze wijziging doet")).to_be_visible()
    # No bed on that group for two weeks: the planned youth would have to move (or wait).
    moved = page.get_by_role("table", name="Casussen van uw regio’s die veranderen")
    await expect(moved.get_by_role("link", name=case)).to_be_visible()
    await checked(page, "capaciteit-voorbeeld")
    await page.get_by_role("button", name="Wijziging bevestigen").click()
    await expect(page.get_by_role("status")).to_contain_text("Capaciteitswijziging doorgegeven")

    # A staff change: the form, and the scheduler's refusal next to its field (a return before the
    # first day away is refused whoever asks).
    await visit(page, f"{board}/personeel", "personeel")
    await page.get_by_label("Wie").select_option(label="Sanne Jansen (MST-therapeut)")
    await page.get_by_label("Wat er is").select_option(label="afwezig (ziek, met verlof)")
    await page.get_by_label("Vanaf (de eerste dag weg)").fill((today + timedelta(days=7)).isoformat())
    await page.get_by_label("Terug op").fill((today + timedelta(days=3)).isoformat())
    await page.get_by_role("button", name="Wijziging doorgeven").click()
    await expect(page.get_by_role("alert")).to_contain_text("niet vastgelegd")
    await expect(page.get_by_label("Terug op")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Wie")).to_have_value("th-ZL-0")  # nothing chosen is lost
    await checked(page, "personeel-fout")

    # A case that is not one of yours: the same page as a case that does not exist.
    missing = await page.goto(f"{board}/casussen/c-not-mine")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_role("heading", name="Niet gevonden")).to_be_visible()
    await checked(page, "niet-gevonden")

    # English by choice.
    await page.goto(f"{board}/wachtlijst")
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("link", name="Waiting list")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await checked(page, "waiting-list-en")

    print("\npage load (s):", ", ".join(f"{name} {s:.3f}" for name, s in LOADS.items()))
    print("axe-core (WCAG 2.1 AA):", "; ".join(f"{name}: {found}" for name, found in AXE.items()))


async def test_the_board_works_by_keyboard_alone(
    page: Page, stack: tuple[ServiceProcesses, EmbeddedTrust]
) -> None:
    services, trust = stack
    board = services.url("board")
    await page.goto(f"{board}/wachtlijst")  # not signed in: to the sign-in page
    await expect(page).to_have_url(re.compile(r"/aanmelden\?next=%2Fwachtlijst$"))
    await checked(page, "aanmelden-zonder-link")
    await page.goto(signin_link(trust.issuer, "coord", board))
    await page.keyboard.press("Tab")  # the skip link first
    await expect(page.get_by_role("link", name="Naar de inhoud")).to_be_focused()
    await page.get_by_role("button", name="Aanmelden").focus()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{board}/wachtlijst")
    # Tab through the header to the navigation, open "Nieuwe aanmelding" with Enter.
    for _ in range(12):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.textContent.trim()")
        if focused == "Nieuwe aanmelding":
            break
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Nieuwe aanmelding")).to_be_visible()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused control shows no focus outline"


def test_screenshots_are_where_the_readme_shows_them() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in ("wachtlijst", "casus", "bedden", "meldingen", "aanmelding-fout", "capaciteit-voorbeeld"):
        assert f"docs/board/{name}.png" in readme
