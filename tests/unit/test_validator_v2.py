"""The independent validator on version 2 scenarios (PATHWAY-V2): one caught and one accepted plan per rule.

The plan `v2_plan()` is correct: g1 (gezinsbehandeling_plus) on a day group, b1 (beter_met_thuis) on a
part-time group on Monday and Tuesday nights, each with a kennismaking at home and a startgesprek.
"""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_validator import assert_fails, assert_ok, check, rules

from tools.scenario import load_scenario
from tools.validator import main, validate_report

JSON = dict[str, Any]

START, END = "2026-01-05", "2026-06-30"  # Monday 5 January
SAMPLE_V2 = Path("/work/shared/scenarios/landsdeel-zuid-v2.json")
LOCATION_OF = {"n-closed": "loc-n", "n-open": "loc-n", "n-day": "loc-n", "n-pt": "loc-n", "z-open": "loc-z"}
BORN = {
    "thuisbest": "2011-03-02",
    "gezinsbehandeling_plus": "2011-03-02",
    "beter_met_thuis": "2016-05-05",
    "thuisbest_open": "2012-06-01",
}

# ---------------------------------------------------------------------------- builders


def network() -> JSON:
    """Regions N and Z; in N a day group with 1 place and a part-time group with 1 bed (and an open
    and a closed group); one supervisor, therapist, trajectbegeleider and referrer per region."""
    return {
        "scenario_version": 2,
        "name": "unit-v2",
        "start": START,
        "end": END,
        "settings": {
            "startgesprek_within_working_days": 3,
            "meeting_minutes": 90,
            "working_hours": ["09:00", "17:00"],
            "holidays": [],
            "mst_weeks": 20,
            "kennismaking_within_working_days": 5,
        },
        "regions": [{"code": "N", "name": "Noord"}, {"code": "Z", "name": "Zuid"}],
        "travel_minutes": [["N", "Z", 40]],
        "locations": [
            {
                "id": "loc-n",
                "name": "Noordstad",
                "region": "N",
                "groups": [
                    {"id": "n-closed", "kind": "closed", "beds": 1, "timeout_beds": 0},
                    {"id": "n-open", "kind": "open", "beds": 1, "timeout_beds": 0},
                    {"id": "n-day", "kind": "day", "places": 1},
                    {"id": "n-pt", "kind": "part_time", "beds": 1},
                ],
            },
            {
                "id": "loc-z",
                "name": "Zuidstad",
                "region": "Z",
                "groups": [{"id": "z-open", "kind": "open", "beds": 1, "timeout_beds": 0}],
            },
        ],
        "people": [
            {"id": "sup-n", "role": "mst_supervisor", "regions": ["N"]},
            {"id": "sup-z", "role": "mst_supervisor", "regions": ["Z"]},
            {"id": "th-n", "role": "mst_therapist", "regions": ["N"], "max_cases": 3, "supervisor": "sup-n"},
            {"id": "th-n2", "role": "mst_therapist", "regions": ["N"], "max_cases": 3, "supervisor": "sup-n"},
            {"id": "th-z", "role": "mst_therapist", "regions": ["Z"], "max_cases": 3, "supervisor": "sup-z"},
            {"id": "tb-n", "role": "trajectbegeleider", "regions": ["N"], "max_cases": 4},
            {"id": "tb-z", "role": "trajectbegeleider", "regions": ["Z"], "max_cases": 4},
            {"id": "ref-n", "role": "referrer", "regions": ["N"]},
            {"id": "ref-z", "role": "referrer", "regions": ["Z"]},
            {"id": "coord", "role": "coordinator", "regions": ["N", "Z"]},
        ],
        "busy": [],
        "events": [],
    }


def referral(case: str, kind: str, at: str, earliest: str, **fields: Any) -> JSON:
    event: JSON = {
        "at": at,
        "type": "referral",
        "case": case,
        "kind": kind,
        "birth_date": BORN[kind],
        "home_region": "N",
        "referrer": "ref-n",
        "urgency": "normal",
        "earliest_start": earliest,
        "conflicts_with": [],
        "timeout_address": None,
        "machtiging": None,
    }
    return event | fields


def stay(
    case: str,
    kind: str,
    group: str,
    start: str,
    days: int,
    *,
    therapist: str | None = "th-n",
    tb: str = "tb-n",
    nights: list[str] | None = None,
) -> JSON:
    out: JSON = {
        "case": case,
        "type": "placement",
        "group": group,
        "location": LOCATION_OF[group],
        "start": start,
        "end": str(date.fromisoformat(start) + timedelta(days)),
        "mst_therapist": therapist,
        "trajectbegeleider": tb,
        "kind": kind,
    }
    if nights is not None:
        out["nights"] = nights
    return out


def meeting(
    case: str, start: str, attendees: list[str], *, kind: str = "startgesprek", minutes: int = 90
) -> JSON:
    begin = date.fromisoformat(start[:10])
    total = int(start[11:13]) * 60 + int(start[14:16]) + minutes
    return {
        "case": case,
        "meeting": kind,
        "start": start,
        "end": f"{begin}T{total // 60:02d}:{total % 60:02d}",
        "place": "home" if kind == "kennismaking" else "loc-n",
        "attendees": attendees,
    }


def kennismaking(case: str, start: str, attendees: list[str]) -> JSON:
    return meeting(case, start, attendees, kind="kennismaking")


def v2_plan() -> tuple[JSON, JSON]:
    """g1: day treatment for 8 weeks from Monday 19 January; b1: part-time on mon+tue for 26 weeks.

    Both referred Monday 5 January: their kennismaking window is Tuesday 6 to Monday 12 January.
    """
    scenario = network()
    scenario["events"] = [
        referral("g1", "gezinsbehandeling_plus", "2026-01-05T10:00", "2026-01-19", program_weeks=8),
        referral(
            "b1",
            "beter_met_thuis",
            "2026-01-05T11:00",
            "2026-01-19",
            program_weeks=26,
            nights_per_week=2,
            preferred_nights=["mon", "tue"],
        ),
    ]
    report = {
        "report_version": 2,
        "scenario": "unit-v2",
        "policy": "optimized",
        "stays": [
            stay("g1", "gezinsbehandeling_plus", "n-day", "2026-01-19", 56),
            stay("b1", "beter_met_thuis", "n-pt", "2026-01-19", 182, therapist=None, nights=["mon", "tue"]),
        ],
        "meetings": [
            kennismaking("g1", "2026-01-07T10:00", ["sup-n", "tb-n", "ref-n"]),
            kennismaking("b1", "2026-01-08T10:00", ["tb-n", "ref-n"]),
            meeting("g1", "2026-01-19T10:00", ["th-n", "tb-n", "ref-n"]),
            meeting("b1", "2026-01-20T10:00", ["tb-n", "ref-n"]),
        ],
        "waiting": [],
        "rejected": [],
        "notifications": [],
        "kpis": {},
    }
    return scenario, report


def add_g3(scenario: JSON, report: JSON, *, therapist: str = "th-n2") -> None:
    """g3, thuisbest_open on n-open from Monday 12 January for 28 days (its startgesprek replaces the
    kennismaking: the placement starts on the window's last day)."""
    scenario["events"].append(
        referral("g3", "thuisbest_open", "2026-01-05T12:00", "2026-01-12", stay_days=28)
    )
    g3 = stay("g3", "thuisbest_open", "n-open", "2026-01-12", 28, therapist=therapist)
    report["stays"].append(g3)
    report["meetings"].append(meeting("g3", "2026-01-12T10:00", [therapist, "tb-n", "ref-n"]))


def stay_of(report: JSON, case: str) -> JSON:
    return next(s for s in report["stays"] if s["case"] == case and s["type"] == "placement")


def meeting_of(report: JSON, case: str, kind: str) -> JSON:
    return next(m for m in report["meetings"] if m["case"] == case and m["meeting"] == kind)


def referral_of(scenario: JSON, case: str) -> JSON:
    return next(e for e in scenario["events"] if e["type"] == "referral" and e["case"] == case)


def person(scenario: JSON, person_id: str) -> JSON:
    return next(p for p in scenario["people"] if p["id"] == person_id)


def messages(scenario: JSON, report: JSON, rule: str) -> list[str]:
    return [v.message for v in check(scenario, report).violations if v.rule == rule]


# ---------------------------------------------------------------------------- the base plan


def test_the_v2_plan_passes() -> None:
    scenario, report = v2_plan()
    result = assert_ok(scenario, report)
    assert result.kpis["startgesprek_on_time_pct"] == 100.0


def test_the_v2_sample_scenario_loads() -> None:
    if not SAMPLE_V2.exists():
        pytest.skip(f"{SAMPLE_V2} is not there")
    sample = load_scenario(SAMPLE_V2)
    assert sample.scenario_version == 2
    assert {g.kind for loc in sample.locations for g in loc.groups} >= {"day", "part_time"}


def test_the_v2_sample_network_reads_day_places() -> None:
    if not SAMPLE_V2.exists():
        pytest.skip(f"{SAMPLE_V2} is not there")
    scenario = json.loads(SAMPLE_V2.read_text(encoding="utf-8"))
    # A report without stays: the validator reads a network whose day groups have places, not beds.
    report = {"report_version": 2, "scenario": scenario["name"], "policy": "fcfs", "kpis": {}}
    result = validate_report(scenario, report)
    assert "accounting" in rules(result)  # every referral is missing from the empty report
    assert result.kpis["bed_nights_used_pct"] == 0.0


# ---------------------------------------------------------------------------- group kinds


@pytest.mark.parametrize(
    ("case", "group"), [("g1", "n-open"), ("g1", "n-pt"), ("b1", "n-day"), ("b1", "n-open")]
)
def test_group_kind_a_new_kind_on_another_group_kind_is_caught(case: str, group: str) -> None:
    scenario, report = v2_plan()
    stay_of(report, case)["group"] = group
    found = assert_fails(scenario, report, "group_kind")
    assert group in found[0].message


# ---------------------------------------------------------------------------- day places


def add_g2(scenario: JSON, report: JSON, start: str) -> None:
    """g2, day treatment for 8 weeks from `start` (g1 holds the one place until Monday 16 March)."""
    scenario["events"].append(
        referral("g2", "gezinsbehandeling_plus", "2026-03-10T10:00", "2026-03-13", program_weeks=8)
    )
    report["stays"].append(stay("g2", "gezinsbehandeling_plus", "n-day", start, 56, therapist="th-n2"))
    report["meetings"].append(meeting("g2", "2026-03-16T10:00", ["th-n2", "tb-n", "ref-n"]))


def test_day_places_two_youths_on_one_place_on_a_working_day_are_caught() -> None:
    scenario, report = v2_plan()
    add_g2(scenario, report, "2026-03-13")  # Friday: g1 is still there
    found = assert_fails(scenario, report, "day_places")
    assert len(found) == 1 and "n-day" in found[0].message and "2026-03-13" in found[0].message
    assert "capacity" not in rules(check(scenario, report))


def test_day_places_weekends_hold_nobody() -> None:
    scenario, report = v2_plan()
    add_g2(scenario, report, "2026-03-14")  # Saturday: g1 and g2 share only Saturday and Sunday
    assert_ok(scenario, report)


def test_day_places_holidays_of_the_settings_hold_nobody() -> None:
    scenario, report = v2_plan()
    scenario["settings"]["holidays"] = ["2026-03-13"]
    add_g2(scenario, report, "2026-03-13")
    assert_ok(scenario, report)


def test_day_places_follow_capacity_events() -> None:
    scenario, report = v2_plan()
    add_g2(scenario, report, "2026-03-13")
    places: JSON = {
        "at": "2026-03-01T09:00",
        "type": "capacity",
        "group": "n-day",
        "beds": 2,
        "from": "2026-03-09",
        "until": "2026-03-16",
    }
    scenario["events"].append(places)
    assert_ok(scenario, report)
    places["beds"] = 0  # a cut to no places: g2 starts after it was announced
    assert_fails(scenario, report, "day_places")


# ---------------------------------------------------------------------------- part-time nights


def add_b2(scenario: JSON, report: JSON, nights: list[str]) -> None:
    """b2, part-time 2 nights a week from 19 January (its placement starts in its kennismaking window)."""
    scenario["events"].append(
        referral(
            "b2", "beter_met_thuis", "2026-01-12T10:00", "2026-01-19", program_weeks=26, nights_per_week=2
        )
    )
    report["stays"].append(
        stay("b2", "beter_met_thuis", "n-pt", "2026-01-19", 182, therapist=None, nights=nights)
    )
    report["meetings"].append(meeting("b2", "2026-01-21T10:00", ["tb-n", "ref-n"]))


def test_part_time_two_youths_share_one_bed_on_different_nights() -> None:
    scenario, report = v2_plan()
    add_b2(scenario, report, ["wed", "thu"])
    assert_ok(scenario, report)


def test_part_time_two_youths_on_one_bed_on_the_same_night_are_caught() -> None:
    scenario, report = v2_plan()
    add_b2(scenario, report, ["tue", "wed"])  # b1 holds mon and tue
    found = assert_fails(scenario, report, "part_time_nights")
    assert "n-pt" in found[0].message and "2026-01-20" in found[0].message  # the first Tuesday night
    # Only Tuesdays: one run of one night per week.
    assert all(("night 2026-" in m) for m in (v.message for v in found))


@pytest.mark.parametrize(
    "nights",
    [
        ["mon", "tue", "wed"],  # 3, the referral asks 2
        ["mon"],
        ["mon", "mon"],
        ["mon", "maandag"],
        "mon tue",
        None,  # missing
    ],
)
def test_part_time_a_pattern_other_than_the_referral_asks_is_caught(nights: Any) -> None:
    scenario, report = v2_plan()
    b1 = stay_of(report, "b1")
    if nights is None:
        del b1["nights"]
    else:
        b1["nights"] = nights
    found = assert_fails(scenario, report, "part_time_nights")
    assert all("b1" in m.message for m in found)


def test_part_time_a_stay_of_another_kind_has_no_nights() -> None:
    scenario, report = v2_plan()
    stay_of(report, "g1")["nights"] = ["mon", "tue"]
    found = assert_fails(scenario, report, "part_time_nights")
    assert "g1" in found[0].message


# ---------------------------------------------------------------------------- programme lengths


def test_program_length_a_short_programme_is_caught() -> None:
    scenario, report = v2_plan()
    stay_of(report, "g1")["end"] = "2026-03-09"  # 7 weeks, the referral asks 8
    found = assert_fails(scenario, report, "program_length")
    assert "2026-03-16" in found[0].message and "8 weeks" in found[0].message


def test_program_length_defaults_to_the_kinds_weeks() -> None:
    scenario, report = v2_plan()
    del referral_of(scenario, "g1")["program_weeks"]  # 12 weeks by default: to 13 April
    assert_fails(scenario, report, "program_length")
    stay_of(report, "g1")["end"] = "2026-04-13"
    assert_ok(scenario, report)


def test_program_length_follows_a_counted_discharge() -> None:
    scenario, report = v2_plan()
    scenario["events"].append(
        {"at": "2026-03-02T10:00", "type": "discharge", "case": "g1", "date": "2026-03-06"}
    )
    assert_fails(scenario, report, "program_length")
    stay_of(report, "g1")["end"] = "2026-03-06"
    assert_ok(scenario, report)


# ---------------------------------------------------------------------------- staff per kind


def test_staffing_a_part_time_case_has_no_mst_therapist() -> None:
    scenario, report = v2_plan()
    stay_of(report, "b1")["mst_therapist"] = "th-n"
    found = assert_fails(scenario, report, "staffing")
    assert "b1" in found[0].message and "mst_therapist" in found[0].message


def test_staffing_a_day_treatment_case_needs_an_mst_therapist_of_its_home_region() -> None:
    scenario, report = v2_plan()
    stay_of(report, "g1")["mst_therapist"] = None
    assert_fails(scenario, report, "staffing")
    stay_of(report, "g1")["mst_therapist"] = "th-z"
    meeting_of(report, "g1", "startgesprek")["attendees"] = ["th-z", "tb-n", "ref-n"]
    found = assert_fails(scenario, report, "staffing")
    assert "does not serve the home region N" in found[0].message


def test_staffing_a_part_time_case_needs_a_trajectbegeleider_of_the_location() -> None:
    scenario, report = v2_plan()
    stay_of(report, "b1")["trajectbegeleider"] = "tb-z"
    meeting_of(report, "b1", "startgesprek")["attendees"] = ["tb-z", "ref-n"]
    found = assert_fails(scenario, report, "staffing")
    assert "the location's region N" in found[0].message


def test_caseload_counts_the_new_kinds_and_a_part_time_case_loads_only_its_trajectbegeleider() -> None:
    scenario, report = v2_plan()
    person(scenario, "tb-n")["max_cases"] = 1  # g1 and b1 both load tb-n
    found = assert_fails(scenario, report, "caseload")
    assert "tb-n" in found[0].message
    person(scenario, "tb-n")["max_cases"] = 2
    person(scenario, "th-n")["max_cases"] = 1  # g1 only: b1 has no therapist
    assert_ok(scenario, report)


# ---------------------------------------------------------------------------- current therapist


@pytest.mark.parametrize(("current", "expected"), [("th-n", 100.0), ("th-n2", 0.0), (None, 100.0)])
def test_mst_continuity_pct_counts_the_cases_that_kept_their_therapist(
    current: str | None, expected: float
) -> None:
    scenario, report = v2_plan()
    referral_of(scenario, "g1")["current_therapist"] = current
    report["kpis"] = {"mst_continuity_pct": 100.0}
    result = assert_ok(scenario, report)  # a soft rule: never a violation
    assert result.kpis["mst_continuity_pct"] == expected


def test_mst_continuity_pct_only_when_the_report_carries_it() -> None:
    scenario, report = v2_plan()
    referral_of(scenario, "g1")["current_therapist"] = "th-n2"
    assert "mst_continuity_pct" not in check(scenario, report).kpis


# ---------------------------------------------------------------------------- staff changes


def staff_change(person_id: str, at: str, first: str, until: str | None, status: str = "absent") -> JSON:
    return {
        "at": at,
        "type": "staff_change",
        "person": person_id,
        "from": first,
        "until": until,
        "status": status,
    }


def test_staff_change_an_absent_person_takes_no_new_case() -> None:
    scenario, report = v2_plan()
    scenario["events"].append(staff_change("th-n", "2026-01-09T08:00", "2026-01-12", "2026-01-26"))
    found = assert_fails(scenario, report, "staff_change")
    assert any("g1" in m.message and "no new case" in m.message for m in found)
    # Back before the start: the case is not new in the absence.
    scenario["events"][-1]["until"] = "2026-01-19"
    assert_ok(scenario, report)


def test_staff_change_a_case_given_to_someone_else_passes() -> None:
    scenario, report = v2_plan()
    scenario["events"].append(staff_change("th-n", "2026-01-09T08:00", "2026-01-12", "2026-01-26"))
    stay_of(report, "g1")["mst_therapist"] = "th-n2"
    meeting_of(report, "g1", "startgesprek")["attendees"] = ["th-n2", "tb-n", "ref-n"]
    assert_ok(scenario, report)


def test_staff_change_an_absent_person_attends_no_meeting() -> None:
    scenario, report = v2_plan()
    scenario["events"].append(staff_change("sup-n", "2026-01-06T08:00", "2026-01-07", "2026-01-08"))
    found = assert_fails(scenario, report, "staff_change")
    assert "kennismaking of g1" in found[0].message
    # Held the next day instead (b1's is at 10:00 with the same trajectbegeleider and referrer).
    meeting_of(report, "g1", "kennismaking")["start"] = "2026-01-08T13:00"
    meeting_of(report, "g1", "kennismaking")["end"] = "2026-01-08T14:30"
    assert_ok(scenario, report)


def test_staff_change_announced_on_the_meetings_own_day_is_not_held_against_the_plan() -> None:
    scenario, report = v2_plan()
    scenario["events"].append(staff_change("sup-n", "2026-01-07T08:00", "2026-01-07", "2026-01-08"))
    assert_ok(scenario, report)


def test_staff_change_who_left_hands_running_cases_over() -> None:
    scenario, report = v2_plan()
    scenario["events"].append(staff_change("th-n", "2026-01-30T08:00", "2026-02-02", None, status="left"))
    found = assert_fails(scenario, report, "staff_change")
    assert "g1" in found[0].message and "left" in found[0].message
    # Handed over to th-n2: the report names the successor; the startgesprek before it had th-n.
    stay_of(report, "g1")["mst_therapist"] = "th-n2"
    assert_ok(scenario, report)


def test_staff_change_who_left_keeps_a_case_nobody_had_room_to_take() -> None:
    """th-n2, the only other therapist of N, is full for the rest of g1's load: keeping th-n breaks no
    rule a plan can keep (handing over would break th-n2's max_cases); with room it is caught again."""
    scenario, report = v2_plan()
    add_g3(scenario, report)  # th-n2's case for the rest of g1's load
    person(scenario, "th-n2")["max_cases"] = 1
    scenario["events"].append(staff_change("th-n", "2026-01-30T08:00", "2026-02-02", None, status="left"))
    assert_ok(scenario, report)
    person(scenario, "th-n2")["max_cases"] = 2
    assert_fails(scenario, report, "staff_change")


def test_staff_change_a_successor_carries_the_case_only_from_the_handover() -> None:
    scenario, report = v2_plan()
    add_g3(scenario, report)  # th-n2's case until its close on 30 January
    scenario["events"].append({"at": "2026-01-30T16:00", "type": "close", "case": "g3"})
    person(scenario, "th-n2")["max_cases"] = 1
    stay_of(report, "g1")["mst_therapist"] = "th-n2"
    # Without a staff change th-n2 carried g1 from 19 January: two cases at once.
    meeting_of(report, "g1", "startgesprek")["attendees"] = ["th-n2", "tb-n", "ref-n"]
    assert_fails(scenario, report, "caseload")
    # th-n left on 2 February and handed g1 over: th-n2 carries it from then on.
    meeting_of(report, "g1", "startgesprek")["attendees"] = ["th-n", "tb-n", "ref-n"]
    scenario["events"].append(staff_change("th-n", "2026-01-30T08:00", "2026-02-02", None, status="left"))
    assert_ok(scenario, report)


# ---------------------------------------------------------------------------- kennismaking


def test_kennismaking_missing_is_caught() -> None:
    scenario, report = v2_plan()
    report["meetings"] = [
        m for m in report["meetings"] if (m["case"], m["meeting"]) != ("b1", "kennismaking")
    ]
    found = assert_fails(scenario, report, "kennismaking")
    assert "b1" in found[0].message and "2026-01-06..2026-01-12" in found[0].message


def test_kennismaking_replaced_by_an_early_startgesprek() -> None:
    scenario, report = v2_plan()
    add_g3(scenario, report)  # starts on 12 January, the window's last day: no kennismaking
    assert_ok(scenario, report)


@pytest.mark.parametrize(
    "day", ["2026-01-05", "2026-01-13", "2026-01-10"]
)  # referral day, too late, Saturday
def test_kennismaking_outside_the_window_is_caught(day: str) -> None:
    scenario, report = v2_plan()
    km = meeting_of(report, "b1", "kennismaking")
    km["start"], km["end"] = f"{day}T13:00", f"{day}T14:30"
    assert_fails(scenario, report, "kennismaking")
    assert (
        check(scenario, report | {"kpis": {"kennismaking_on_time_pct": 100.0}}).kpis[
            "kennismaking_on_time_pct"
        ]
        == 50.0
    )


def test_kennismaking_on_the_windows_last_day_passes() -> None:
    scenario, report = v2_plan()
    km = meeting_of(report, "b1", "kennismaking")
    km["start"], km["end"] = "2026-01-12T13:00", "2026-01-12T14:30"
    report["kpis"] = {"kennismaking_on_time_pct": 100.0}
    assert assert_ok(scenario, report).kpis["kennismaking_on_time_pct"] == 100.0


@pytest.mark.parametrize(
    ("case", "attendees", "why"),
    [
        ("g1", ["tb-n", "ref-n"], "mst_supervisor"),  # MST kind: a supervisor
        ("g1", ["sup-z", "tb-n", "ref-n"], "does not serve home region N"),
        ("g1", ["sup-n", "tb-z", "ref-n"], "does not serve home region N"),
        ("g1", ["sup-n", "tb-n"], "referrer ref-n"),
        ("g1", ["sup-n", "tb-n", "ref-n", "th-n"], "th-n should not attend"),
        ("b1", ["sup-n", "tb-n", "ref-n"], "no mst_supervisor"),  # no MST in the kind
        ("b1", ["ref-n"], "trajectbegeleider"),
    ],
)
def test_kennismaking_with_wrong_attendees_is_caught(case: str, attendees: list[str], why: str) -> None:
    scenario, report = v2_plan()
    meeting_of(report, case, "kennismaking")["attendees"] = attendees
    found = assert_fails(scenario, report, "kennismaking")
    assert any(why in m.message for m in found), found


def test_kennismaking_a_supervisor_referrer_is_the_supervisor() -> None:
    scenario, report = v2_plan()
    referral_of(scenario, "g1")["referrer"] = "sup-n"
    meeting_of(report, "g1", "kennismaking")["attendees"] = ["sup-n", "tb-n"]
    meeting_of(report, "g1", "startgesprek")["attendees"] = ["th-n", "tb-n", "sup-n"]
    assert_ok(scenario, report)


def test_kennismaking_at_home_in_working_hours_and_meeting_minutes_long() -> None:
    scenario, report = v2_plan()
    meeting_of(report, "g1", "kennismaking")["place"] = "loc-n"
    assert any("home" in m for m in messages(scenario, report, "kennismaking"))
    scenario, report = v2_plan()
    meeting_of(report, "g1", "kennismaking")["end"] = "2026-01-07T11:00"
    assert any("lasts 60 minutes" in m for m in messages(scenario, report, "kennismaking"))
    scenario, report = v2_plan()
    meeting_of(report, "g1", "kennismaking").update(start="2026-01-07T16:00", end="2026-01-07T17:30")
    assert any("working hours" in m for m in messages(scenario, report, "kennismaking"))


def test_kennismaking_in_a_busy_block_or_double_booked_is_caught() -> None:
    scenario, report = v2_plan()
    scenario["busy"] = [{"person": "tb-n", "from": "2026-01-08T09:00", "until": "2026-01-08T10:30"}]
    found = assert_fails(scenario, report, "kennismaking")
    assert "busy block" in found[0].message
    scenario, report = v2_plan()
    meeting_of(report, "g1", "kennismaking").update(start="2026-01-08T11:00", end="2026-01-08T12:30")
    found = assert_fails(scenario, report, "kennismaking")
    assert "double-booked" in found[0].message
    meeting_of(report, "g1", "kennismaking").update(start="2026-01-08T11:30", end="2026-01-08T13:00")
    assert_ok(scenario, report)  # back to back


def test_kennismaking_not_owed_after_a_withdraw_a_rejection_or_past_the_end() -> None:
    scenario, report = v2_plan()
    scenario["events"] += [
        referral("w1", "gezinsbehandeling_plus", "2026-01-05T13:00", "2026-02-02", program_weeks=8),
        referral("r1", "beter_met_thuis", "2026-01-05T14:00", "2026-02-02", program_weeks=26),  # no nights
        referral("e1", "gezinsbehandeling_plus", "2026-06-26T10:00", "2026-07-06", program_weeks=8),
    ]
    report["waiting"] = [
        {"case": "w1", "reason": "withdrawn"},
        {"case": "e1", "reason": "no place by the end"},
    ]
    report["rejected"] = [
        {"case": "r1", "event": "referral", "at": "2026-01-05T14:00", "reason": "nights_per_week: required"}
    ]
    report["kpis"] = {"kennismaking_on_time_pct": 0.0}
    found = assert_fails(scenario, report, "kennismaking")
    assert [v.case for v in found] == ["w1"]  # e1's window ends 3 July, after the end
    scenario["events"].append({"at": "2026-01-09T10:00", "type": "withdraw", "case": "w1"})
    result = assert_ok(scenario, report)
    assert result.kpis["kennismaking_on_time_pct"] == 100.0  # g1 and b1 only
    # A kennismaking of a rejected referral is wrong.
    report["meetings"].append(kennismaking("r1", "2026-01-07T13:00", ["tb-n", "ref-n"]))
    found = assert_fails(scenario, report, "kennismaking")
    assert "rejected" in found[0].message


def test_kennismaking_is_not_owed_in_a_version_1_scenario() -> None:
    scenario, report = v2_plan()
    report["meetings"] = [m for m in report["meetings"] if m["meeting"] != "kennismaking"]
    assert "kennismaking" in rules(check(scenario, report))
    scenario["scenario_version"] = 1
    assert "kennismaking" not in rules(check(scenario, report))


def test_meeting_notice_covers_a_kennismaking() -> None:
    scenario, report = v2_plan()
    # g1's kennismaking is Wednesday 7 January 10:00: announced Tuesday 10:00 is one working day.
    invite = {
        "at": "2026-01-06T10:00",
        "case": "g1",
        "kind": "kennismaking_invite",
        "to": "tb-n",
        "channel": "email",
    }
    report["notifications"] = [invite]
    assert_ok(scenario, report)
    report["notifications"].append(invite | {"at": "2026-01-06T10:30", "to": "sup-n"})
    found = assert_fails(scenario, report, "meeting_notice")
    assert "kennismaking of g1" in found[0].message and "kennismaking_invite" in found[0].message


# ---------------------------------------------------------------------------- KPIs


def test_mean_residential_days_counts_closed_and_open_stays_with_time_outs_only() -> None:
    scenario, report = v2_plan()
    report["kpis"] = {"mean_residential_days": 0.0}
    assert assert_ok(scenario, report).kpis["mean_residential_days"] == 0.0  # day and part-time only
    add_g3(scenario, report)
    assert check(scenario, report).kpis["mean_residential_days"] == 28.0


def test_mean_residential_days_adds_time_outs() -> None:
    scenario, report = v2_plan()
    machtiging = {"valid_from": "2026-01-12", "valid_until": "2026-07-01"}
    scenario["events"] += [
        referral("t1", "thuisbest", "2026-01-05T12:00", "2026-01-12", stay_days=42, machtiging=machtiging),
        {"at": "2026-03-10T10:00", "type": "timeout_request", "case": "t1", "days": 3},
    ]
    report["stays"] += [
        stay("t1", "thuisbest", "n-closed", "2026-01-12", 42, therapist="th-n2"),
        stay("t1", "thuisbest", "n-closed", "2026-03-11", 3, therapist="th-n2") | {"type": "timeout"},
    ]
    report["meetings"].append(meeting("t1", "2026-01-12T10:00", ["th-n2", "tb-n", "ref-n"]))
    report["kpis"] = {"mean_residential_days": 0.0}
    assert assert_ok(scenario, report).kpis["mean_residential_days"] == 45.0
    add_g3(scenario, report)
    assert check(scenario, report).kpis["mean_residential_days"] == round((45 + 28) / 2, 2)


def outcome(case: str, at: str, at_home: bool, day_activity: bool) -> JSON:
    return {
        "at": at,
        "type": "close",
        "case": case,
        "reason": "goal_reached",
        "outcome": {"at_home": at_home, "day_activity": day_activity},
    }


def test_outcome_kpis_over_closes_with_an_outcome_and_follow_ups_in_the_run() -> None:
    scenario, report = v2_plan()
    report["kpis"] = {"at_home_pct": 0.0, "day_activity_pct": 0.0, "no_relapse_pct": 0.0}
    result = assert_ok(scenario, report)
    assert [result.kpis[k] for k in ("at_home_pct", "day_activity_pct", "no_relapse_pct")] == [100.0] * 3
    scenario["events"] += [
        outcome("g1", "2026-05-04T10:00", True, False),
        outcome("b1", "2026-06-01T10:00", False, False),
        {"at": "2026-06-02T10:00", "type": "close", "case": "b1"},  # no outcome: not counted
        outcome("g1", "2026-07-10T10:00", True, True),  # after the end: not in the run
        {"at": "2026-06-20T10:00", "type": "follow_up", "case": "g1", "relapse": True},
        {"at": "2026-06-21T10:00", "type": "follow_up", "case": "b1", "relapse": False},
        {"at": "2026-06-22T10:00", "type": "follow_up", "case": "b1", "relapse": False},
    ]
    kpis = check(scenario, report).kpis
    assert (kpis["at_home_pct"], kpis["day_activity_pct"], kpis["no_relapse_pct"]) == (50.0, 0.0, 66.67)


def test_new_kpis_only_when_the_report_carries_them_and_main_shows_a_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, report = v2_plan()
    keys = {"mst_continuity_pct", "kennismaking_on_time_pct", "mean_residential_days", "at_home_pct"}
    assert not keys & set(check(scenario, report).kpis)
    report["kpis"] = {"kennismaking_on_time_pct": 100.0, "at_home_pct": 73.0}
    (tmp_path / "s.json").write_text(json.dumps(scenario), encoding="utf-8")
    (tmp_path / "r.json").write_text(json.dumps(report), encoding="utf-8")
    assert main([str(tmp_path / "s.json"), str(tmp_path / "r.json")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("at_home_pct")]
    assert lines and "differs" in lines[0] and "100.0" in lines[0]


# ---------------------------------------------------------------------------- report version and kinds


def test_report_version_must_be_1_or_2() -> None:
    scenario, report = v2_plan()
    report["report_version"] = 3
    found = assert_fails(scenario, report, "format")
    assert "report_version" in found[0].message
    report["report_version"] = 1
    assert_ok(scenario, report)


def test_stay_kind_must_be_the_referrals() -> None:
    scenario, report = v2_plan()
    stay_of(report, "g1")["kind"] = "thuisbest_open"
    found = assert_fails(scenario, report, "stay_kind")
    assert "g1" in found[0].message
    del stay_of(report, "g1")["kind"]  # optional: a report may leave it out
    assert_ok(scenario, report)


def test_a_report_copy_is_not_changed_by_validation() -> None:
    scenario, report = v2_plan()
    before = copy.deepcopy((scenario, report))
    validate_report(scenario, report)
    assert (scenario, report) == before
