"""The independent plan validator: one feasible and one infeasible report per rule family, and KPIs."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest

from tools.validator import ValidationResult, Violation, add_months, main, validate_report

JSON = dict[str, Any]

START, END = "2026-01-05", "2026-06-30"
LOCATION_OF = {"n-closed": "loc-n", "n-open": "loc-n", "z-closed": "loc-z", "z-open": "loc-z"}

# ---------------------------------------------------------------------------- builders


def network() -> JSON:
    """Two regions; in N a closed group (2 beds, 1 time-out bed) and an open one; in Z one of each."""
    return {
        "scenario_version": 1,
        "name": "unit",
        "start": START,
        "end": END,
        "settings": {
            "startgesprek_within_working_days": 3,
            "meeting_minutes": 90,
            "working_hours": ["09:00", "17:00"],
            "holidays": ["2026-04-06"],
            "mst_weeks": 20,
        },
        "regions": [{"code": "N", "name": "Noord"}, {"code": "Z", "name": "Zuid"}],
        "travel_minutes": [["N", "Z", 40]],
        "locations": [
            {
                "id": "loc-n",
                "name": "Noordstad",
                "region": "N",
                "groups": [
                    {"id": "n-closed", "kind": "closed", "beds": 2, "timeout_beds": 1},
                    {"id": "n-open", "kind": "open", "beds": 2, "timeout_beds": 0},
                ],
            },
            {
                "id": "loc-z",
                "name": "Zuidstad",
                "region": "Z",
                "groups": [
                    {"id": "z-closed", "kind": "closed", "beds": 1, "timeout_beds": 0},
                    {"id": "z-open", "kind": "open", "beds": 1, "timeout_beds": 0},
                ],
            },
        ],
        "people": [
            {"id": "sup", "role": "mst_supervisor", "regions": ["N", "Z"]},
            {"id": "th-n", "role": "mst_therapist", "regions": ["N"], "max_cases": 2, "supervisor": "sup"},
            {"id": "th-n2", "role": "mst_therapist", "regions": ["N"], "max_cases": 2, "supervisor": "sup"},
            {"id": "th-z", "role": "mst_therapist", "regions": ["Z"], "max_cases": 2, "supervisor": "sup"},
            {"id": "tb", "role": "trajectbegeleider", "regions": ["N", "Z"], "max_cases": 4},
            {"id": "tb-n", "role": "trajectbegeleider", "regions": ["N"], "max_cases": 4},
            {"id": "ref-n", "role": "referrer", "regions": ["N"]},
            {"id": "ref-z", "role": "referrer", "regions": ["Z"]},
            {"id": "coord", "role": "coordinator", "regions": ["N", "Z"]},
        ],
        "busy": [],
        "events": [],
    }


def referral(
    case: str,
    *,
    kind: str = "thuisbest",
    at: str = "2026-01-05T10:00",
    born: str = "2011-03-02",
    home: str = "N",
    referrer: str = "ref-n",
    earliest: str = "2026-01-07",
    conflicts: tuple[str, ...] = (),
    machtiging: tuple[str, str] | None = ("2026-01-07", "2026-07-06"),
) -> JSON:
    return {
        "at": at,
        "type": "referral",
        "case": case,
        "kind": kind,
        "birth_date": born,
        "home_region": home,
        "referrer": referrer,
        "urgency": "normal",
        "earliest_start": earliest,
        "stay_days": 56 if kind == "thuisbest" else 42,
        "conflicts_with": list(conflicts),
        "timeout_address": None,
        "machtiging": (
            {"valid_from": machtiging[0], "valid_until": machtiging[1]}
            if machtiging and kind == "thuisbest"
            else None
        ),
    }


def stay(
    case: str,
    group: str,
    start: str,
    end: str,
    *,
    type: str = "placement",
    therapist: str = "th-n",
    tb: str = "tb",
) -> JSON:
    return {
        "case": case,
        "type": type,
        "group": group,
        "location": LOCATION_OF.get(group, "loc-n"),
        "start": start,
        "end": end,
        "mst_therapist": therapist,
        "trajectbegeleider": tb,
    }


def meeting(
    case: str,
    start: str,
    *,
    minutes: int = 90,
    attendees: tuple[str, ...] = ("th-n", "tb", "ref-n"),
    kind: str = "startgesprek",
) -> JSON:
    begin = date.fromisoformat(start[:10])
    hour, minute = int(start[11:13]), int(start[14:16])
    total = hour * 60 + minute + minutes
    end = f"{begin}T{total // 60:02d}:{total % 60:02d}"
    return {
        "case": case,
        "meeting": kind,
        "start": start,
        "end": end,
        "place": "loc-n",
        "attendees": list(attendees),
    }


def feasible() -> tuple[JSON, JSON]:
    """c1 (thuisbest, closed group) and c2 (thuisbest_open, open group), both in region N."""
    scenario = network()
    scenario["events"] = [
        referral("c1"),
        referral(
            "c2", kind="thuisbest_open", at="2026-01-06T09:00", born="2014-05-05", earliest="2026-01-12"
        ),
    ]
    report = {
        "report_version": 1,
        "scenario": "unit",
        "policy": "optimized",
        "stays": [
            stay("c1", "n-closed", "2026-01-07", "2026-03-04"),
            stay("c2", "n-open", "2026-01-12", "2026-02-23"),
        ],
        "meetings": [meeting("c1", "2026-01-07T13:30"), meeting("c2", "2026-01-13T10:00")],
        "waiting": [],
        "rejected": [],
        "notifications": [],
        "kpis": {},
    }
    return scenario, report


def add_case(
    scenario: JSON,
    report: JSON,
    case: str,
    group: str,
    start: str,
    *,
    kind: str = "thuisbest",
    therapist: str = "th-n2",
    tb: str = "tb",
    home: str = "N",
    referrer: str = "ref-n",
    meeting_at: str | None = None,
    days: int | None = None,
    **referral_fields: Any,
) -> None:
    """A third case with a referral, a placement starting `start` and a startgesprek that day."""
    first = date.fromisoformat(start)
    days = days or (56 if kind == "thuisbest" else 42)
    referral_fields.setdefault("born", "2011-03-02" if kind == "thuisbest" else "2014-05-05")
    referral_fields.setdefault("machtiging", (start, str(first + timedelta(200))))
    scenario["events"].append(
        referral(case, kind=kind, home=home, referrer=referrer, earliest=start, **referral_fields)
    )
    report["stays"].append(stay(case, group, start, str(first + timedelta(days)), therapist=therapist, tb=tb))
    if meeting_at != "none":
        report["meetings"].append(
            meeting(case, meeting_at or f"{start}T10:00", attendees=(therapist, tb, referrer))
        )


def check(scenario: JSON, report: JSON) -> ValidationResult:
    scenario["events"].sort(key=lambda e: e["at"])
    return validate_report(scenario, report)


def rules(result: ValidationResult) -> set[str]:
    return {v.rule for v in result.violations}


def assert_ok(scenario: JSON, report: JSON) -> ValidationResult:
    result = check(scenario, report)
    assert result.violations == [], result.violations
    assert result.ok
    return result


def assert_fails(scenario: JSON, report: JSON, rule: str) -> list[Violation]:
    result = check(scenario, report)
    assert not result.ok
    assert rule in rules(result), result.violations
    found = [v for v in result.violations if v.rule == rule]
    assert all(v.message for v in found)
    return found


def stay_of(report: JSON, case: str, type: str = "placement") -> JSON:
    return next(s for s in report["stays"] if s["case"] == case and s["type"] == type)


def referral_of(scenario: JSON, case: str) -> JSON:
    return next(e for e in scenario["events"] if e["case"] == case and e["type"] == "referral")


def meeting_of(report: JSON, case: str) -> JSON:
    return next(m for m in report["meetings"] if m["case"] == case and m["meeting"] == "startgesprek")


def with_timeout(scenario: JSON, report: JSON, *, request_at: str = "2026-03-10T10:00") -> None:
    """c1 asks a 5-day time-out in its home phase; it is served the next day on its old group."""
    scenario["events"].append({"at": request_at, "type": "timeout_request", "case": "c1", "days": 5})
    report["stays"].append(stay("c1", "n-closed", "2026-03-11", "2026-03-16", type="timeout"))


# ---------------------------------------------------------------------------- the base case


def test_feasible_base_report_passes() -> None:
    scenario, report = feasible()
    result = assert_ok(scenario, report)
    assert set(result.kpis) == {
        "referrals",
        "placed",
        "mean_wait_days",
        "p90_wait_days",
        "home_region_pct",
        "mean_travel_minutes",
        "startgesprek_on_time_pct",
        "bed_nights_used_pct",
        "timeouts_requested",
        "timeouts_within_1_day_pct",
    }


def test_feasible_base_with_a_timeout_passes() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    assert_ok(scenario, report)


# ---------------------------------------------------------------------------- format


def test_format_bad_stay_date_fails() -> None:
    scenario, report = feasible()
    stay_of(report, "c1")["start"] = "2026-1-7"
    assert_fails(scenario, report, "format")


def test_format_bad_meeting_time_fails() -> None:
    scenario, report = feasible()
    meeting_of(report, "c1")["start"] = "2026-01-07 13:30"
    assert_fails(scenario, report, "format")


# ---------------------------------------------------------------------------- capacity


def test_capacity_regular_beds_exclude_timeout_beds() -> None:
    scenario, report = feasible()
    # n-closed has 2 beds of which 1 is a time-out bed: a second placement overlapping c1 is too many.
    add_case(scenario, report, "c3", "n-closed", "2026-02-02")
    found = assert_fails(scenario, report, "capacity")
    assert "n-closed" in found[0].message and "2026-02-02" in found[0].message


def test_capacity_timeout_may_use_the_timeout_bed() -> None:
    scenario, report = feasible()
    add_case(scenario, report, "c3", "n-closed", "2026-03-10")
    with_timeout(scenario, report)
    assert_ok(scenario, report)


def test_capacity_total_beds_include_timeouts() -> None:
    scenario, report = feasible()
    scenario["locations"][0]["groups"][0]["timeout_beds"] = 0
    scenario["locations"][0]["groups"][0]["beds"] = 1
    add_case(scenario, report, "c3", "n-closed", "2026-03-10")
    with_timeout(scenario, report)
    assert_fails(scenario, report, "capacity")


def cut(announced: str) -> JSON:
    return {
        "at": announced,
        "type": "capacity",
        "group": "n-closed",
        "beds": 1,
        "from": "2026-02-01",
        "until": "2026-04-01",
    }


def test_capacity_cut_does_not_evict_a_youth_already_staying() -> None:
    scenario, report = feasible()
    # With 1 bed and 1 time-out bed there is no regular bed, but c1 started before the cut.
    scenario["events"].append(cut("2026-01-20T09:00"))
    assert_ok(scenario, report)


def test_capacity_cut_applies_to_stays_starting_after_it() -> None:
    scenario, report = feasible()
    scenario["events"].append(cut("2026-01-02T09:00"))
    found = assert_fails(scenario, report, "capacity")
    assert "nights 2026-02-01..2026-03-03" in found[0].message


def test_capacity_latest_announced_event_wins() -> None:
    scenario, report = feasible()
    scenario["events"].append(cut("2026-01-02T09:00"))
    restored = cut("2026-01-03T09:00") | {"beds": 2}
    scenario["events"].append(restored)
    assert_ok(scenario, report)


# ---------------------------------------------------------------------------- group_kind


def test_group_kind_thuisbest_on_open_group_fails() -> None:
    scenario, report = feasible()
    stay_of(report, "c1")["group"] = "z-open"
    stay_of(report, "c1")["location"] = "loc-z"
    assert_fails(scenario, report, "group_kind")


def test_group_kind_open_case_on_closed_group_fails() -> None:
    scenario, report = feasible()
    stay_of(report, "c2").update(group="z-closed", location="loc-z")
    assert_fails(scenario, report, "group_kind")


def test_group_kind_timeout_on_open_group_fails() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    stay_of(report, "c1", "timeout")["group"] = "n-open"
    assert_fails(scenario, report, "group_kind")


# ---------------------------------------------------------------------------- machtiging


def test_machtiging_covering_the_last_night_passes() -> None:
    scenario, report = feasible()
    # The stay ends 2026-03-04: its last night is 03-03, the machtiging's last day.
    referral_of(scenario, "c1")["machtiging"]["valid_until"] = "2026-03-03"
    assert_ok(scenario, report)


def test_machtiging_ending_before_the_stay_fails() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c1")["machtiging"]["valid_until"] = "2026-03-02"
    assert_fails(scenario, report, "machtiging")


def test_machtiging_missing_fails() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c1")["machtiging"] = None
    found = assert_fails(scenario, report, "machtiging")
    assert found[0].case == "c1"


def lapsing(start: str) -> tuple[JSON, JSON]:
    """c1's machtiging runs from 2026-01-07 (it lapses unexecuted after 2026-04-07)."""
    scenario, report = feasible()
    referral_of(scenario, "c1")["machtiging"]["valid_until"] = "2026-12-31"
    first = date.fromisoformat(start)
    stay_of(report, "c1").update(start=start, end=str(first + timedelta(56)))
    meeting_of(report, "c1")["start"] = f"{start}T10:00"
    meeting_of(report, "c1")["end"] = f"{start}T11:30"
    return scenario, report


def test_machtiging_placement_on_the_lapse_day_passes() -> None:
    assert_ok(*lapsing("2026-04-07"))


def test_machtiging_placement_after_the_lapse_day_fails() -> None:
    found = assert_fails(*lapsing("2026-04-08"), "machtiging")
    assert "lapsed" in found[0].message


def test_machtiging_renewal_event_allows_a_later_placement() -> None:
    scenario, report = lapsing("2026-04-08")
    scenario["events"].append(
        {
            "at": "2026-03-30T09:00",
            "type": "machtiging",
            "case": "c1",
            "valid_from": "2026-04-01",
            "valid_until": "2026-10-01",
        }
    )
    assert_ok(scenario, report)


def test_machtiging_must_cover_a_timeout() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    referral_of(scenario, "c1")["machtiging"]["valid_until"] = "2026-03-13"
    found = assert_fails(scenario, report, "machtiging")
    assert "timeout of c1" in found[0].message


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2026, 1, 7), 3) == date(2026, 4, 7)


# ---------------------------------------------------------------------------- start_bounds


def test_start_bounds_before_earliest_start_fails() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c2")["earliest_start"] = "2026-01-13"
    assert_fails(scenario, report, "start_bounds")


def test_start_bounds_before_the_referral_arrived_fails() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c2")["at"] = "2026-01-13T09:00"
    assert_fails(scenario, report, "start_bounds")


def test_start_bounds_before_machtiging_valid_from_fails() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c1")["machtiging"]["valid_from"] = "2026-01-08"
    assert_fails(scenario, report, "start_bounds")


def test_start_bounds_wrong_location_fails() -> None:
    scenario, report = feasible()
    stay_of(report, "c2")["location"] = "loc-z"
    assert_fails(scenario, report, "start_bounds")


def test_start_bounds_unknown_group_fails() -> None:
    scenario, report = feasible()
    stay_of(report, "c2")["group"] = "nowhere"
    assert_fails(scenario, report, "start_bounds")


def test_start_bounds_other_reachable_region_passes_but_unreachable_fails() -> None:
    scenario, report = feasible()
    stay_of(report, "c2").update(group="z-open", location="loc-z")
    assert_ok(scenario, report)
    scenario["travel_minutes"] = []
    assert_fails(scenario, report, "start_bounds")


# ---------------------------------------------------------------------------- age


def test_age_on_the_tenth_birthday_passes() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c2")["birth_date"] = "2016-01-12"
    assert_ok(scenario, report)


def test_age_nine_for_open_fails() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c2")["birth_date"] = "2016-01-13"
    assert_fails(scenario, report, "age")


def test_age_seventeen_passes_and_eighteen_fails_for_thuisbest() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c1")["birth_date"] = "2008-01-08"
    assert_ok(scenario, report)
    referral_of(scenario, "c1")["birth_date"] = "2008-01-07"
    found = assert_fails(scenario, report, "age")
    assert "age 18" in found[0].message


# ---------------------------------------------------------------------------- conflicts


def test_conflicting_cases_on_different_groups_pass() -> None:
    scenario, report = feasible()
    add_case(scenario, report, "c3", "z-open", "2026-01-20", kind="thuisbest_open", conflicts=("c2",))
    assert_ok(scenario, report)


def test_conflicting_cases_sharing_a_group_fail() -> None:
    scenario, report = feasible()
    add_case(scenario, report, "c3", "n-open", "2026-01-20", kind="thuisbest_open", conflicts=("c2",))
    found = assert_fails(scenario, report, "conflicts")
    assert "c2" in found[0].message and "c3" in found[0].message
    assert "nights 2026-01-20..2026-02-22" in found[0].message


def test_conflicts_listed_on_one_side_only_still_count() -> None:
    scenario, report = feasible()
    referral_of(scenario, "c2")["conflicts_with"] = ["c3"]
    add_case(scenario, report, "c3", "n-open", "2026-01-20", kind="thuisbest_open")
    assert_fails(scenario, report, "conflicts")


def test_conflicting_cases_one_after_the_other_pass() -> None:
    scenario, report = feasible()
    add_case(scenario, report, "c3", "n-open", "2026-02-23", kind="thuisbest_open", conflicts=("c2",))
    assert_ok(scenario, report)


# ---------------------------------------------------------------------------- staffing


def test_staffing_therapist_from_another_region_fails() -> None:
    scenario, report = feasible()
    stay_of(report, "c1")["mst_therapist"] = "th-z"
    meeting_of(report, "c1")["attendees"] = ["th-z", "tb", "ref-n"]
    assert_fails(scenario, report, "staffing")


def test_staffing_wrong_role_fails() -> None:
    scenario, report = feasible()
    stay_of(report, "c1")["trajectbegeleider"] = "th-n2"
    meeting_of(report, "c1")["attendees"] = ["th-n", "th-n2", "ref-n"]
    found = assert_fails(scenario, report, "staffing")
    assert "role" in found[0].message


def test_staffing_trajectbegeleider_must_serve_the_location_region() -> None:
    scenario, report = feasible()
    stay_of(report, "c2").update(group="z-open", location="loc-z", trajectbegeleider="tb-n")
    meeting_of(report, "c2")["attendees"] = ["th-n", "tb-n", "ref-n"]
    assert_fails(scenario, report, "staffing")
    stay_of(report, "c2")["trajectbegeleider"] = "tb"
    meeting_of(report, "c2")["attendees"] = ["th-n", "tb", "ref-n"]
    assert_ok(scenario, report)


def test_staffing_timeout_repeats_the_placement_staff() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    stay_of(report, "c1", "timeout")["mst_therapist"] = "th-n2"
    assert_fails(scenario, report, "staffing")


# ---------------------------------------------------------------------------- caseload


def test_caseload_above_max_cases_fails() -> None:
    scenario, report = feasible()
    # th-n already carries c1 and c2 (max 2): c1's load lasts 20 weeks, past 2026-03-10.
    add_case(scenario, report, "c3", "n-closed", "2026-03-10", therapist="th-n")
    found = assert_fails(scenario, report, "caseload")
    assert "th-n " in found[0].message and "2026-03-10" in found[0].message


def test_caseload_freed_by_close_passes() -> None:
    scenario, report = feasible()
    add_case(scenario, report, "c3", "n-closed", "2026-03-10", therapist="th-n")
    scenario["events"].append({"at": "2026-03-10T08:00", "type": "close", "case": "c1"})
    assert_ok(scenario, report)


def test_caseload_freed_after_mst_weeks_passes() -> None:
    scenario, report = feasible()
    scenario["settings"]["mst_weeks"] = 10  # c1's load: 2026-01-07 + 70 days = 2026-03-18
    add_case(scenario, report, "c3", "n-closed", "2026-03-18", therapist="th-n")
    assert_ok(scenario, report)
    stay_of(report, "c3").update(start="2026-03-17", end="2026-05-12")
    referral_of(scenario, "c3")["earliest_start"] = "2026-03-17"
    referral_of(scenario, "c3")["machtiging"]["valid_from"] = "2026-03-17"
    meeting_of(report, "c3").update(start="2026-03-17T10:00", end="2026-03-17T11:30")
    assert_fails(scenario, report, "caseload")


# ---------------------------------------------------------------------------- startgesprek


def test_startgesprek_missing_fails() -> None:
    scenario, report = feasible()
    report["meetings"] = [meeting_of(report, "c2")]
    found = assert_fails(scenario, report, "startgesprek")
    assert found[0].case == "c1"


def test_startgesprek_on_last_window_day_passes_and_after_fails() -> None:
    scenario, report = feasible()
    # Start Wednesday 01-07: the window is 07, 08, 09 and Monday 12.
    meeting_of(report, "c1").update(start="2026-01-12T10:00", end="2026-01-12T11:30")
    assert_ok(scenario, report)
    meeting_of(report, "c1").update(start="2026-01-13T10:00", end="2026-01-13T11:30")
    assert_fails(scenario, report, "startgesprek")


def test_startgesprek_window_skips_dutch_public_holidays() -> None:
    scenario, report = feasible()
    # Start Thursday 04-02: Good Friday (holidays.NL) and Easter Monday (settings) do not count,
    # so the window is 04-02, 04-07, 04-08, 04-09.
    add_case(
        scenario,
        report,
        "c3",
        "z-closed",
        "2026-04-02",
        home="Z",
        therapist="th-z",
        referrer="ref-z",
        meeting_at="2026-04-09T10:00",
    )
    assert_ok(scenario, report)
    meeting_of(report, "c3").update(start="2026-04-03T10:00", end="2026-04-03T11:30")
    found = assert_fails(scenario, report, "startgesprek")
    assert "not a working day" in found[0].message


def test_startgesprek_outside_working_hours_fails() -> None:
    scenario, report = feasible()
    meeting_of(report, "c1").update(start="2026-01-07T16:00", end="2026-01-07T17:30")
    assert_fails(scenario, report, "startgesprek")


def test_startgesprek_wrong_length_fails() -> None:
    scenario, report = feasible()
    meeting_of(report, "c1")["end"] = "2026-01-07T14:30"
    assert_fails(scenario, report, "startgesprek")


def test_startgesprek_wrong_attendees_fails() -> None:
    scenario, report = feasible()
    meeting_of(report, "c1")["attendees"] = ["th-n", "tb"]
    assert_fails(scenario, report, "startgesprek")


def test_startgesprek_in_a_busy_block_fails() -> None:
    scenario, report = feasible()
    scenario["busy"] = [{"person": "ref-n", "from": "2026-01-07T15:00", "until": "2026-01-07T16:00"}]
    assert_ok(scenario, report)  # touching the block's start is fine
    scenario["busy"][0]["from"] = "2026-01-07T14:59"
    found = assert_fails(scenario, report, "startgesprek")
    assert "busy" in found[0].message


def test_startgesprek_double_booked_attendee_fails() -> None:
    scenario, report = feasible()
    report["meetings"].append(meeting("c2", "2026-01-07T15:00", kind="kennismaking"))
    assert_ok(scenario, report)  # back to back is fine
    report["meetings"][-1] = meeting("c2", "2026-01-07T14:00", kind="kennismaking")
    found = assert_fails(scenario, report, "startgesprek")
    assert "double-booked" in found[0].message
    assert check(scenario, report).kpis["startgesprek_on_time_pct"] == 50.0


def test_startgesprek_may_be_missing_when_its_window_passes_the_scenario_end() -> None:
    scenario, report = feasible()
    # Start Monday 06-29: the window runs to Thursday 07-02, after the end (06-30).
    add_case(
        scenario,
        report,
        "c3",
        "z-open",
        "2026-06-29",
        kind="thuisbest_open",
        home="Z",
        therapist="th-z",
        referrer="ref-z",
        meeting_at="none",
    )
    result = assert_ok(scenario, report)
    assert result.kpis["startgesprek_on_time_pct"] == 100.0
    stay_of(report, "c3").update(start="2026-06-22", end="2026-08-03")
    referral_of(scenario, "c3")["earliest_start"] = "2026-06-22"
    assert_fails(scenario, report, "startgesprek")


# ---------------------------------------------------------------------------- timeout


def test_timeout_neither_served_nor_rejected_fails() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    report["stays"] = [s for s in report["stays"] if s["type"] != "timeout"]
    assert_fails(scenario, report, "timeout")


def test_timeout_rejected_with_a_known_reason_passes() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    report["stays"] = [s for s in report["stays"] if s["type"] != "timeout"]
    report["rejected"].append(
        {"case": "c1", "event": "timeout_request", "at": "2026-03-10T10:00", "reason": "no_bed"}
    )
    result = assert_ok(scenario, report)
    assert result.kpis["timeouts_within_1_day_pct"] == 0.0
    report["rejected"][-1]["reason"] = "too busy"
    assert_fails(scenario, report, "timeout")


def test_timeout_starting_two_days_late_fails() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    stay_of(report, "c1", "timeout").update(start="2026-03-12", end="2026-03-17")
    assert_fails(scenario, report, "timeout")


def test_timeout_of_wrong_length_fails() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    stay_of(report, "c1", "timeout")["end"] = "2026-03-18"
    found = assert_fails(scenario, report, "timeout")
    assert "5 days" in found[0].message


def test_timeout_cut_short_by_a_discharge_passes() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    stay_of(report, "c1", "timeout")["end"] = "2026-03-14"
    scenario["events"].append(
        {"at": "2026-03-13T09:00", "type": "discharge", "case": "c1", "date": "2026-03-14"}
    )
    assert_ok(scenario, report)


def test_timeout_overlapping_the_placement_fails() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report, request_at="2026-03-01T10:00")
    stay_of(report, "c1", "timeout").update(start="2026-03-02", end="2026-03-07")
    found = assert_fails(scenario, report, "timeout")
    assert any("overlaps" in v.message for v in found)


def test_timeout_of_open_variant_must_be_refused_informal_network() -> None:
    scenario, report = feasible()
    scenario["events"].append({"at": "2026-03-01T10:00", "type": "timeout_request", "case": "c2", "days": 3})
    report["rejected"].append(
        {"case": "c2", "event": "timeout_request", "at": "2026-03-01T10:00", "reason": "informal_network"}
    )
    result = assert_ok(scenario, report)
    assert result.kpis["timeouts_requested"] == 1
    assert result.kpis["timeouts_within_1_day_pct"] == 100.0  # no thuisbest requests
    report["rejected"][-1]["reason"] = "no_bed"
    assert_fails(scenario, report, "timeout")


def test_timeout_of_open_variant_served_on_a_group_fails() -> None:
    scenario, report = feasible()
    scenario["events"].append({"at": "2026-03-01T10:00", "type": "timeout_request", "case": "c2", "days": 3})
    report["stays"].append(stay("c2", "n-closed", "2026-03-01", "2026-03-04", type="timeout"))
    assert_fails(scenario, report, "timeout")


def test_timeout_request_after_the_scenario_end_needs_no_answer() -> None:
    scenario, report = feasible()
    scenario["events"].append({"at": "2026-07-01T10:00", "type": "timeout_request", "case": "c1", "days": 3})
    result = assert_ok(scenario, report)
    assert result.kpis["timeouts_requested"] == 0


# ---------------------------------------------------------------------------- accounting


def test_accounting_case_in_waiting_passes_and_missing_fails() -> None:
    scenario, report = feasible()
    report["stays"] = [stay_of(report, "c1")]
    report["meetings"] = [meeting_of(report, "c1")]
    assert_fails(scenario, report, "accounting")
    report["waiting"].append({"case": "c2", "reason": "no open bed in reach before 2026-06-30"})
    assert_ok(scenario, report)


def test_accounting_case_placed_and_waiting_fails() -> None:
    scenario, report = feasible()
    report["waiting"].append({"case": "c2", "reason": "withdrawn"})
    assert_fails(scenario, report, "accounting")


def test_accounting_rejected_referral_passes() -> None:
    scenario, report = feasible()
    scenario["events"].append(referral("c3", born="2000-01-01"))
    report["rejected"].append(
        {"case": "c3", "event": "referral", "at": "2026-01-05T10:00", "reason": "age 26 is outside 12-17"}
    )
    assert_ok(scenario, report)


def test_accounting_stay_of_unknown_case_fails() -> None:
    scenario, report = feasible()
    report["stays"].append(stay("c9", "z-closed", "2026-01-07", "2026-03-04"))
    found = assert_fails(scenario, report, "accounting")
    assert found[0].case == "c9"
    report["stays"][-1]["type"] = "timeout"
    assert_fails(scenario, report, "accounting")


def test_accounting_placement_after_a_withdraw_fails() -> None:
    scenario, report = feasible()
    withdraw = {"at": "2026-01-12T09:00", "type": "withdraw", "case": "c2"}
    scenario["events"].append(withdraw)
    assert_ok(scenario, report)  # withdrawn on the start day: already started, refused
    withdraw["at"] = "2026-01-11T09:00"
    assert_fails(scenario, report, "accounting")


def test_accounting_referral_after_the_scenario_end_needs_no_answer() -> None:
    scenario, report = feasible()
    scenario["events"].append(referral("c3", at="2026-07-01T10:00", earliest="2026-07-02"))
    result = assert_ok(scenario, report)
    assert result.kpis["referrals"] == 2


# ---------------------------------------------------------------------------- KPIs


def kpi_case() -> tuple[JSON, JSON]:
    """Three placements with waits 0, 2 and 10 days, one away from home, one late startgesprek."""
    scenario, report = feasible()
    scenario["end"] = "2026-03-31"  # 86 nights
    # c2 is placed in Z (40 minutes away), two days after its earliest start.
    stay_of(report, "c2").update(group="z-open", location="loc-z", start="2026-01-14", end="2026-02-25")
    meeting_of(report, "c2").update(start="2026-01-14T10:00", end="2026-01-14T11:30")
    # c3's machtiging starts 01-20, after its earliest start; placed 10 days later.
    scenario["events"].append(
        referral(
            "c3", home="Z", referrer="ref-z", earliest="2026-01-06", machtiging=("2026-01-20", "2026-12-31")
        )
    )
    report["stays"].append(stay("c3", "z-closed", "2026-01-30", "2026-03-27", therapist="th-z"))
    # Friday 01-30: the window is 01-30, 02-02, 02-03, 02-04; 02-05 is late.
    report["meetings"].append(meeting("c3", "2026-02-05T10:00", attendees=("th-z", "tb", "ref-z")))
    # c1 asks two time-outs: one served the next day, one refused; c2 (open) one, refused.
    with_timeout(scenario, report)
    scenario["events"].append({"at": "2026-03-20T10:00", "type": "timeout_request", "case": "c1", "days": 3})
    scenario["events"].append({"at": "2026-03-02T10:00", "type": "timeout_request", "case": "c2", "days": 3})
    report["rejected"] += [
        {"case": "c1", "event": "timeout_request", "at": "2026-03-20T10:00", "reason": "no_bed"},
        {"case": "c2", "event": "timeout_request", "at": "2026-03-02T10:00", "reason": "informal_network"},
    ]
    # n-closed gets 1 bed instead of 2 for 10 nights, announced after c1 started.
    scenario["events"].append(cut("2026-01-20T09:00") | {"from": "2026-03-20", "until": "2026-03-30"})
    return scenario, report


def test_kpis_recomputed_from_a_hand_built_report() -> None:
    scenario, report = kpi_case()
    result = check(scenario, report)
    assert rules(result) == {"startgesprek"}  # only c3's late startgesprek
    beds = 6 * 86 - 10  # 6 beds a night over 86 nights, minus the cut
    used = 56 + 42 + 56 + 5  # c1, c2, c3 (01-30..03-26) and c1's time-out
    assert result.kpis == {
        "referrals": 3,
        "placed": 3,
        "mean_wait_days": 4.0,  # (0 + 2 + 10) / 3
        "p90_wait_days": 10.0,  # nearest rank: index ceil(2.7) - 1 = 2
        "home_region_pct": 66.67,  # c1 and c3
        "mean_travel_minutes": 13.33,  # (0 + 40 + 0) / 3
        "startgesprek_on_time_pct": 66.67,
        "bed_nights_used_pct": round(100 * used / beds, 2),
        "timeouts_requested": 3,
        "timeouts_within_1_day_pct": 50.0,  # 1 of c1's 2 requests
    }


def test_kpis_bed_nights_only_count_nights_inside_the_scenario() -> None:
    scenario, report = feasible()
    scenario["end"] = "2026-01-31"  # nights 01-05..01-31: 27 nights of 6 beds
    result = check(scenario, report)
    assert result.kpis["bed_nights_used_pct"] == round(100 * (25 + 20) / (6 * 27), 2)


def test_kpis_p90_takes_the_nearest_rank() -> None:
    scenario, report = feasible()
    report["stays"] = []
    report["meetings"] = []
    waits = list(range(10))  # 0..9 days: nearest rank index ceil(9) - 1 = 8
    for i, wait in enumerate(waits):
        case = f"o{i}"
        scenario["events"].append(
            referral(case, kind="thuisbest_open", born="2014-05-05", earliest="2026-01-07", machtiging=None)
        )
        start = date(2026, 1, 7) + timedelta(wait)
        report["stays"].append(stay(case, "n-open", str(start), str(start + timedelta(1))))
    result = check(scenario, report)
    assert result.kpis["p90_wait_days"] == 8.0
    assert result.kpis["mean_wait_days"] == 4.5
    assert result.kpis["placed"] == 10


def test_kpis_when_nothing_is_placed() -> None:
    scenario, report = feasible()
    report["stays"], report["meetings"] = [], []
    report["waiting"] = [{"case": "c1", "reason": "x"}, {"case": "c2", "reason": "y"}]
    result = assert_ok(scenario, report)
    assert result.kpis["placed"] == 0
    assert result.kpis["mean_wait_days"] == 0.0
    assert result.kpis["p90_wait_days"] == 0.0
    assert result.kpis["home_region_pct"] == 100.0
    assert result.kpis["startgesprek_on_time_pct"] == 100.0
    assert result.kpis["bed_nights_used_pct"] == 0.0


# ---------------------------------------------------------------------------- CLI and scale


def test_main_exits_1_on_violations(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    scenario, report = feasible()
    paths = tmp_path / "s.json", tmp_path / "r.json"
    paths[0].write_text(json.dumps(scenario))
    paths[1].write_text(json.dumps(report))
    assert main([str(paths[0]), str(paths[1])]) == 0
    report["meetings"] = []
    paths[1].write_text(json.dumps(report))
    assert main([str(paths[0]), str(paths[1])]) == 1
    out = capsys.readouterr().out
    assert "startgesprek" in out and "bed_nights_used_pct" in out


def test_national_size_report_validates_in_seconds() -> None:
    """120 groups of 4 beds, 2,000 placements over a year, each with its startgesprek."""
    scenario = network()
    scenario["start"], scenario["end"] = "2026-01-01", "2026-12-31"
    groups = [{"id": f"g{i}", "kind": "closed", "beds": 4, "timeout_beds": 0} for i in range(120)]
    scenario["locations"] = [{"id": "loc-n", "name": "N", "region": "N", "groups": groups}]
    scenario["people"] += [
        {"id": f"t{i}", "role": "mst_therapist", "regions": ["N"], "max_cases": 6} for i in range(400)
    ]
    report: JSON = {"stays": [], "meetings": [], "waiting": [], "rejected": []}
    for i in range(2000):
        start = date(2026, 1, 5) + timedelta(i % 300)
        case = f"k{i}"
        scenario["events"].append(referral(case, earliest=str(start), machtiging=(str(start), "2027-06-30")))
        report["stays"].append(
            stay(case, f"g{i % 120}", str(start), str(start + timedelta(56)), therapist=f"t{i % 400}")
            | {"location": "loc-n"}
        )
        report["meetings"].append(meeting(case, f"{start}T09:00", attendees=(f"t{i % 400}", "tb", "ref-n")))
    began = time.perf_counter()
    result = validate_report(scenario, report)
    elapsed = time.perf_counter() - began
    assert result.kpis["placed"] == 2000
    assert elapsed < 5.0, f"validation took {elapsed:.1f} s"


# ---------------------------------------------------------------------------- stay length, refusals


def test_stay_length_planned_end_passes_and_a_shortened_stay_fails() -> None:
    scenario, report = feasible()
    assert_ok(scenario, report)
    stay_of(report, "c1")["end"] = "2026-01-22"  # 15 days, no discharge
    found = assert_fails(scenario, report, "stay_length")
    assert "2026-03-04" in found[0].message


def test_stay_length_follows_a_counted_discharge_early_or_late() -> None:
    for day in ("2026-02-20", "2026-03-09"):
        scenario, report = feasible()
        scenario["events"].append({"at": "2026-02-19T09:00", "type": "discharge", "case": "c1", "date": day})
        stay_of(report, "c1")["end"] = day
        assert_ok(scenario, report)


def test_stay_length_ignores_a_refused_discharge() -> None:
    scenario, report = feasible()
    scenario["events"].append(
        {"at": "2026-02-19T09:00", "type": "discharge", "case": "c1", "date": "2026-03-09"}
    )
    report["rejected"].append(
        {"case": "c1", "event": "discharge", "at": "2026-02-19T09:00", "reason": "no_bed"}
    )
    assert_ok(scenario, report)  # the planned end stands
    stay_of(report, "c1")["end"] = "2026-03-09"
    assert_fails(scenario, report, "stay_length")


def test_a_withdraw_refused_after_the_start_does_not_end_the_case() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    scenario["events"].append({"at": "2026-02-01T12:00", "type": "withdraw", "case": "c1"})
    report["rejected"].append(
        {"case": "c1", "event": "withdraw", "at": "2026-02-01T12:00", "reason": "already_started"}
    )
    assert_ok(scenario, report)


def test_a_withdraw_refused_as_already_started_before_any_start_fails() -> None:
    scenario, report = feasible()
    scenario["events"].append({"at": "2026-01-06T12:00", "type": "withdraw", "case": "c1"})
    report["rejected"].append(
        {"case": "c1", "event": "withdraw", "at": "2026-01-06T12:00", "reason": "already_started"}
    )
    found = assert_fails(scenario, report, "accounting")
    assert any("already_started" in v.message for v in found)


def test_a_refused_request_and_a_served_one_the_next_day_pair_up() -> None:
    scenario, report = feasible()
    # c1's stay ends 2026-03-04: asked on 03-03 (still in the stay, refused), again on 03-04 (served).
    scenario["events"] += [
        {"at": "2026-03-03T10:00", "type": "timeout_request", "case": "c1", "days": 5},
        {"at": "2026-03-04T10:00", "type": "timeout_request", "case": "c1", "days": 5},
    ]
    report["rejected"].append(
        {"case": "c1", "event": "timeout_request", "at": "2026-03-03T10:00", "reason": "not_in_home_phase"}
    )
    report["stays"].append(stay("c1", "n-closed", "2026-03-04", "2026-03-09", type="timeout"))
    assert_ok(scenario, report)


def test_a_capacity_cut_announced_twice_binds_from_its_first_announcement() -> None:
    scenario, report = feasible()
    cut = {"type": "capacity", "group": "z-closed", "beds": 0, "from": "2026-01-05", "until": "2026-06-30"}
    scenario["events"].append({"at": "2026-01-05T08:00"} | cut)
    add_case(scenario, report, "c3", "z-closed", "2026-01-20", therapist="th-z", home="Z", referrer="ref-z")
    assert_fails(scenario, report, "capacity")  # placed on a group closed since 01-05
    scenario["events"].append({"at": "2026-02-01T08:00"} | cut)  # the same cut said again
    assert_fails(scenario, report, "capacity")
