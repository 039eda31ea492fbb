"""The board's words: dates as people write them, the page language, the waiting list's reasons and
next steps, the referral form's mapping to intake's JSON, and the Dutch catalog being complete."""

from __future__ import annotations

from datetime import date
from typing import get_args

import pytest

from services.board import i18n, texts
from services.board.app import (
    bed_weeks,
    case_plan,
    event_fields,
    form_event,
    form_field,
    form_referral,
    local_path,
    staff_body,
)
from services.board.texts import handover_words, waiting_words
from services.notifier.rules import load_rules
from shared.inputs import LATER_EVENTS, CloseReason
from shared.kinds import KINDS, kind_for_group_kind
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
    # A close with its reason and outcome: the outcome an object of booleans, empty answers left out.
    close = {
        "type": "close",
        "reason": "goal_reached",
        "outcome.at_home": "yes",
        "outcome.day_activity": "no",
    }
    assert form_event(close) == {
        "type": "close",
        "reason": "goal_reached",
        "outcome": {"at_home": True, "day_activity": False},
    }
    blank = {"type": "close", "reason": "", "outcome.at_home": "", "outcome.day_activity": ""}
    assert form_event(blank) == {"type": "close"}  # no empty strings: intake takes a bare close
    half = form_event({"type": "close", "outcome.at_home": "no"})
    assert half == {"type": "close", "outcome": {"at_home": False}}  # intake names the missing answer
    assert form_event({"type": "follow_up", "relapse": "no"}) == {"type": "follow_up", "relapse": False}
    assert form_event({"type": "follow_up", "relapse": "perhaps"}) == {
        "type": "follow_up",
        "relapse": "perhaps",
    }
    assert form_event({"type": "follow_up"}) == {"type": "follow_up"}  # intake says it is required
    address = {"type": "timeout_address", "address": " Bij oma, Dorpsstraat 1 "}
    assert form_event(address) == {"type": "timeout_address", "address": "Bij oma, Dorpsstraat 1"}
    assert form_event({"type": "withdraw", "csrf": "x"}) == {"type": "withdraw"}


def test_every_later_event_has_its_form_fields_and_words() -> None:
    assert event_fields("close") == ["reason", "outcome.at_home", "outcome.day_activity"]
    assert event_fields("follow_up") == ["relapse"] and event_fields("timeout_address") == ["address"]
    assert event_fields("nonsense") == []
    assert set(texts.EVENT) >= set(LATER_EVENTS)
    assert set(texts.CLOSE_REASON) == set(get_args(CloseReason))
    rules = {rule.name for rule in load_rules().rules}
    assert rules <= set(texts.NOTIFICATION), rules - set(texts.NOTIFICATION)  # every notification by name


def test_the_referral_form_takes_the_fields_of_the_new_kinds() -> None:
    form = {"case": "c-9", "kind": "x", "program_weeks": "30", "nights_per_week": "3"}
    body = form_referral(form | {"preferred_nights": "mon,wed", "current_therapist": "th-ZL-0"})
    assert (body["program_weeks"], body["nights_per_week"]) == (30, 3)
    assert body["preferred_nights"] == ["mon", "wed"] and body["current_therapist"] == "th-ZL-0"
    assert "preferred_nights" not in form_referral(form) and "stay_days" not in form_referral(form)
    assert form_field("preferred_nights[1]") == "preferred_nights"


def test_the_case_page_takes_its_own_part_of_the_plan() -> None:
    plan = {
        "stays": [
            {"case": "c-1", "type": "timeout", "group": "g"},
            {"case": "c-1", "type": "placement", "group": "p", "nights": ["mon", "tue"]},
            {"case": "c-2", "type": "placement", "group": "q"},
        ],
        "meetings": [
            {"case": "c-1", "meeting": "startgesprek", "start": "2026-03-20T10:00"},
            {"case": "c-1", "meeting": "kennismaking", "start": "2026-03-05T13:00"},
            {"case": "c-2", "meeting": "kennismaking", "start": "2026-03-04T13:00"},
        ],
        "handovers": [
            {"case": "c-1", "at": "2026-05-02T09:00", "successor": "b"},
            {"case": "c-1", "at": "2026-04-01T09:00", "successor": "a"},
        ],
    }
    mine = case_plan(plan, "c-1")
    assert mine is not None and mine["stay"]["group"] == "p"
    assert [m["meeting"] for m in mine["meetings"]] == ["kennismaking", "startgesprek"]  # by start
    assert [h["successor"] for h in mine["handovers"]] == ["a", "b"]
    assert case_plan(None, "c-1") is None
    assert case_plan({"stays": []}, "c-1") == {"stay": None, "meetings": [], "handovers": []}


def test_a_staff_change_form_becomes_the_schedulers_json() -> None:
    form = {"person": "th-ZL-0", "status": "absent", "from": "2026-03-09", "until": ""}
    assert staff_body(form) == {"person": "th-ZL-0", "status": "absent", "from": "2026-03-09"}
    assert staff_body(form | {"until": "2026-04-01"})["until"] == "2026-04-01"
    assert staff_body({}) == {}  # the scheduler names every missing field


def test_night_patterns_and_handovers_in_dutch() -> None:
    assert i18n.nights(["wed", "mon", "tue"], "nl") == "ma di wo"
    assert i18n.nights(["sun", "sat"], "en") == "Sat Sun"
    assert i18n.nights([], "nl") == "" and i18n.nights(None, "nl") == ""
    assert [name for name, _ in i18n.weekday_names("nl")][:2] == ["mon", "tue"]
    assert i18n.weekday_names("nl")[0][1] == "maandag"
    person = {"th-1": "Sanne Jansen"}.get
    assert (
        handover_words("th-1 has left", NL, nl_day, lambda p: person(p) or p) == "Sanne Jansen is uit dienst"
    )
    absent = handover_words("th-1 is absent until 2026-04-01", NL, nl_day, lambda p: person(p) or p)
    assert absent is not None and absent.startswith("Sanne Jansen is afwezig tot wo 1 apr")
    assert handover_words("something else", NL, nl_day, str) is None


def test_why_a_case_of_a_new_kind_waits_in_dutch() -> None:
    day_kind = kind_for_group_kind("day").name
    why, step = waiting_words({"code": "no_bed", "kind": day_kind}, NL, nl_day)
    assert "dagbehandelingsplek" in why and "plek" in step
    no_mst = next(spec.name for spec in KINDS.values() if not spec.needs_mst_therapist)
    why, step = waiting_words({"code": "no_staff_or_slot", "kind": no_mst}, NL, nl_day)
    assert "trajectbegeleider" in why and "MST" not in why + step
    part_time = next(spec.name for spec in KINDS.values() if spec.part_time)
    why, _ = waiting_words(
        {"code": "no_bed_in_time", "kind": part_time, "start_limit": "2027-01-12"}, NL, nl_day
    )
    assert why.startswith("Geen deeltijdbed in bereik vóór")


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
