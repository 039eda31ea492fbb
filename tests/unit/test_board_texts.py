"""The board's words: dates as people write them, the page language, the waiting list's reasons and
next steps, the referral form's mapping to intake's JSON, and the Dutch catalog being complete."""

from __future__ import annotations

from datetime import date

import pytest

from services.board import i18n
from services.board.app import bed_weeks, form_event, form_field, form_referral, local_path
from services.board.texts import waiting_words
from tools.board_catalog import untranslated

NL = i18n.load("nl").gettext


def nl_day(value: object) -> str:
    return i18n.day(value, "nl")  # type: ignore[arg-type]


def test_days_are_written_as_people_write_them() -> None:
    this_year = date.today().year
    assert i18n.day(date(this_year, 12, 7), "nl").startswith(("ma 7 dec", "di 7 dec", "wo 7 dec", "do 7 dec"))
    assert i18n.day("2026-12-07", "nl") in ("ma 7 dec", "ma 7 dec 2026")
    assert i18n.day("2026-12-07", "en") in ("Mon 7 Dec", "Mon 7 Dec 2026")
    assert "." not in i18n.day("2026-02-03", "nl")  # Babel's "feb." loses its dot
    assert i18n.day_long("2026-12-07", "nl") == "maandag 7 december 2026"
    assert i18n.moment("2026-12-07T13:30", "nl").endswith("13:30")
    assert i18n.day(None, "nl") == ""


@pytest.mark.parametrize(
    ("chosen", "header", "expected"),
    [
        (None, None, "nl"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "de-DE,de;q=0.9", "nl"),
        (None, "de;q=0.9,en;q=0.8,nl;q=0.95", "nl"),
        ("en", "nl-NL", "en"),
        ("fr", "en", "en"),
        (None, "en;q=0", "nl"),
    ],
)
def test_the_page_language_is_the_choice_then_the_browser_then_dutch(
    chosen: str | None, header: str | None, expected: str
) -> None:
    assert i18n.choose(chosen, header) == expected


def test_every_message_of_the_board_has_dutch() -> None:
    assert untranslated("nl") == []
    assert NL("Waiting list") == "Wachtlijst"


def test_why_a_case_waits_and_what_would_help_in_dutch() -> None:
    # Not yet waiting: needed before the first day it could start; waiting already: at once.
    machtiging = {"code": "machtiging_needed", "kind": "thuisbest", "waiting_since": "2027-02-03"}
    why, step = waiting_words(machtiging | {"days_waiting": 0}, NL, nl_day)
    assert "machtiging" in why.lower()
    assert step.startswith("Machtiging nodig vóór") and "3 feb" in step
    _, step = waiting_words(machtiging | {"days_waiting": 9}, NL, nl_day)
    assert step.startswith("Machtiging zo snel mogelijk nodig")
    no_bed = {"code": "no_bed_in_time", "kind": "thuisbest", "start_limit": "2027-01-12"}
    why, step = waiting_words(no_bed, NL, nl_day)
    assert why.startswith("Geen gesloten bed in bereik vóór") and "12 jan" in why
    why, _ = waiting_words({"code": "no_bed", "kind": "thuisbest_open"}, NL, nl_day)
    assert "open bed" in why
    planned = {"code": "planned", "kind": "thuisbest", "planned": {"start": "2027-01-04"}}
    assert "4 jan" in waiting_words(planned, NL, nl_day)[0]
    for code in ("not_yet_allowed", "no_staff_or_slot", "machtiging_lapsed", "too_old", "not_planned_yet"):
        why, step = waiting_words({"code": code, "kind": "thuisbest"}, NL, nl_day)
        assert why and step and "{" not in why + step


def test_the_referral_form_becomes_intakes_json() -> None:
    form = {
        "case": " c-9 ",
        "kind": "thuisbest",
        "birth_date": "2012-05-01",
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "urgency": "urgent",
        "earliest_start": "2026-03-05",
        "stay_days": "42",
        "conflicts_with": "c-1, c-2;c-3",
        "machtiging_valid_from": "2026-03-01",
        "machtiging_valid_until": "",
        "name": "",
        "bsn": "",
    }
    body = form_referral(form)
    assert body["case"] == "c-9" and body["stay_days"] == 42
    assert body["conflicts_with"] == ["c-1", "c-2", "c-3"]
    assert body["machtiging"] == {"valid_from": "2026-03-01", "valid_until": None}
    assert "name" not in body and "bsn" not in body  # empty: left out, not sent as ""
    assert form_referral(form | {"stay_days": "zes"})["stay_days"] == "zes"  # intake names the error
    assert "machtiging" not in form_referral(form | {"machtiging_valid_from": ""})
    assert form_field("machtiging.valid_until") == "machtiging_valid_until"
    assert form_field("machtiging") == "machtiging_valid_until"
    assert form_field("conflicts_with.1") == "conflicts_with"
    assert form_field("earliest_start") == "earliest_start"


def test_event_forms_become_intakes_json() -> None:
    assert form_event({"type": "timeout_request", "days": "3"}) == {"type": "timeout_request", "days": 3}
    assert form_event({"type": "discharge", "date": "2026-04-01"}) == {
        "type": "discharge",
        "date": "2026-04-01",
    }
    assert form_event({"type": "close", "date": "x"}) == {"type": "close"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/casussen/c-1", "/casussen/c-1"),
        ("/bedden?vanaf=2026-03-02", "/bedden?vanaf=2026-03-02"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_only_local_paths_are_gone_back_to(value: str | None, expected: str) -> None:
    assert local_path(value) == expected


def test_bed_days_are_laid_out_in_weeks_from_monday() -> None:
    days = [{"date": f"2026-03-{d:02d}"} for d in range(4, 12)]  # Wednesday 4 .. Wednesday 11 March
    weeks = bed_weeks({"days": days})
    assert len(weeks) == 2 and all(len(w) == 7 for w in weeks)
    assert weeks[0][0] is None and weeks[0][1] is None and weeks[0][2] == {"date": "2026-03-04"}
    assert weeks[1][2] == {"date": "2026-03-11"} and weeks[1][3] is None
    assert bed_weeks({"days": []}) == []
