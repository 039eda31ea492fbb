"""PATHWAY-V2 in the planning core, through the simulator and the independent validator: part-time
night patterns (optimised against first fit), day places, the kennismakingsgesprek, the family's own
MST therapist, staff changes with handovers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from services.scheduler.core import SolverConfig
from tests.unit.test_planner_support import FAST, START, at, network
from tools.scenario import load_scenario_dict
from tools.simulate import simulate
from tools.validator import validate_report

JSON = dict[str, Any]
POLICIES = ("optimized", "fcfs")


def v2_network(*, part_time_beds: int = 2, day_places: int = 1) -> JSON:
    """The planner tests' network as version 2: a day group and a part-time group in N, a second
    team in N (sup2 with th-N3) and a second therapist in sup's team (th-N2)."""
    net = network(therapists=4, tbs=8)
    net["scenario_version"] = 2
    net["settings"]["kennismaking_within_working_days"] = 5
    loc = next(loc for loc in net["locations"] if loc["region"] == "N")
    loc["groups"] += [
        {"id": "n-day", "kind": "day", "places": day_places},
        {"id": "n-pt", "kind": "part_time", "beds": part_time_beds},
    ]
    net["people"] += [
        {"id": "sup2", "role": "mst_supervisor", "regions": ["N"]},
        {"id": "th-N2", "role": "mst_therapist", "regions": ["N"], "max_cases": 4, "supervisor": "sup"},
        {"id": "th-N3", "role": "mst_therapist", "regions": ["N"], "max_cases": 4, "supervisor": "sup2"},
        {"id": "tb-N2", "role": "trajectbegeleider", "regions": ["N"], "max_cases": 8},
    ]
    return net


def v2_referral(
    case: str, kind: str, day: date = START, *, earliest: date | None = None, **extra: Any
) -> JSON:
    births = {"beter_met_thuis": date(2016, 3, 1), "gezinsbehandeling_plus": date(2011, 3, 1)}
    return {
        "at": at(day),
        "type": "referral",
        "case": case,
        "kind": kind,
        "birth_date": births.get(kind, date(2011, 6, 1)).isoformat(),
        "home_region": "N",
        "referrer": "ref-N",
        "urgency": "normal",
        "earliest_start": (earliest or day + timedelta(1)).isoformat(),
        "conflicts_with": [],
        "machtiging": None,
        **extra,
    }


def staff_change(
    person: str, first: date, until: date | None, status: str = "absent", *, said: date | None = None
) -> JSON:
    """A scenario's staff change, announced at 08:00 on `said` (default: its first day)."""
    return {
        "at": at(said or first, 8),
        "type": "staff_change",
        "person": person,
        "from": first.isoformat(),
        "until": until.isoformat() if until else None,
        "status": status,
    }


def run_checked(net: JSON, events: list[JSON], policy: str, config: SolverConfig = FAST) -> JSON:
    sc = {**net, "events": sorted(events, key=lambda e: e["at"])}
    report = simulate(load_scenario_dict(sc), policy, config).model_dump(mode="json", by_alias=True)
    result = validate_report(sc, report)
    assert result.ok, [f"{v.rule}: {v.message}" for v in result.violations]
    assert report["report_version"] == 2
    return report


def placements(report: JSON) -> dict[str, JSON]:
    return {s["case"]: s for s in report["stays"] if s["type"] == "placement"}


# --- part-time nights: the model chooses the weekly patterns ----------------------------------------


def test_optimised_patterns_fit_a_youth_that_first_fit_nights_leave_waiting() -> None:
    """Two beds; two youths of three nights who wish for Monday, one of five nights, all referred
    three weeks ahead. First fit gives both the first three nights of the week (Monday to
    Wednesday), so the five-night youth finds only four weekdays with a bed and waits half a year;
    chosen together, the patterns leave five weekdays with a bed for it."""
    start = START + timedelta(21)
    events = [
        v2_referral("y1", "beter_met_thuis", earliest=start, nights_per_week=3, preferred_nights=["mon"]),
        v2_referral("y2", "beter_met_thuis", earliest=start, nights_per_week=3, preferred_nights=["mon"]),
        v2_referral("y3", "beter_met_thuis", earliest=start, nights_per_week=5, program_weeks=26),
    ]
    for e in events[:2]:
        e["at"] = at(START, 9)
    by_policy = {p: placements(run_checked(v2_network(), events, p)) for p in POLICIES}
    first_fit, optimised = by_policy["fcfs"], by_policy["optimized"]
    assert first_fit["y1"]["nights"] == first_fit["y2"]["nights"] == ["mon", "tue", "wed"]
    assert "y3" not in first_fit or date.fromisoformat(first_fit["y3"]["start"]) > start + timedelta(100)
    assert {c: date.fromisoformat(s["start"]) for c, s in optimised.items()} == {
        "y1": start,
        "y2": start,
        "y3": start,
    }
    assert all("mon" in optimised[c]["nights"] for c in ("y1", "y2"))  # the wish kept where beds allow
    assert len(optimised["y3"]["nights"]) == 5
    for s in optimised.values():
        assert s["mst_therapist"] is None and s["kind"] == "beter_met_thuis"


def test_two_part_time_youths_share_one_bed_on_different_nights() -> None:
    start = START + timedelta(3)
    events = [
        v2_referral(
            "a", "beter_met_thuis", earliest=start, nights_per_week=3, preferred_nights=["mon", "tue"]
        ),
        v2_referral("b", "beter_met_thuis", earliest=start, nights_per_week=4, preferred_nights=["fri"]),
    ]
    for policy in POLICIES:
        got = placements(run_checked(v2_network(part_time_beds=1), events, policy))
        assert got["a"]["start"] == got["b"]["start"] == start.isoformat()
        assert not set(got["a"]["nights"]) & set(got["b"]["nights"])
        assert set(got["a"]["nights"]) >= {"mon", "tue"} and "fri" in got["b"]["nights"]


# --- day places ---------------------------------------------------------------------------------


def test_a_day_place_is_taken_for_the_whole_programme() -> None:
    start = START + timedelta(3)
    events = [
        v2_referral("d1", "gezinsbehandeling_plus", earliest=start, program_weeks=8),
        v2_referral("d2", "gezinsbehandeling_plus", earliest=start, program_weeks=8),
    ]
    for policy in POLICIES:
        got = placements(run_checked(v2_network(day_places=1), events, policy))
        first, second = sorted(got.values(), key=lambda s: s["start"])
        assert first["group"] == second["group"] == "n-day"
        assert date.fromisoformat(first["end"]) - date.fromisoformat(first["start"]) == timedelta(56)
        assert second["start"] >= first["end"]
        assert first["mst_therapist"] and first["trajectbegeleider"]


# --- the family's own MST therapist -------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_the_familys_own_therapist_is_kept_when_they_have_room(policy: str) -> None:
    events = [
        v2_referral(
            "c1", "thuisbest_open", earliest=START + timedelta(2), stay_days=28, current_therapist="th-N3"
        ),
    ]
    got = placements(run_checked(v2_network(), events, policy))
    assert got["c1"]["mst_therapist"] == "th-N3"


# --- the kennismakingsgesprek ---------------------------------------------------------------------


def test_the_kennismaking_is_at_home_within_five_working_days_with_supervisor_tb_and_referrer() -> None:
    # Referred on a Friday; the window is the next five working days.
    friday = START + timedelta(4)
    events = [
        v2_referral("k1", "thuisbest_open", friday, earliest=friday + timedelta(40), stay_days=28),
        v2_referral("k2", "beter_met_thuis", friday, earliest=friday + timedelta(40), nights_per_week=2),
    ]
    report = run_checked(v2_network(), events, "optimized")
    meetings = {m["case"]: m for m in report["meetings"] if m["meeting"] == "kennismaking"}
    for case in ("k1", "k2"):
        m = meetings[case]
        day = date.fromisoformat(m["start"][:10])
        assert friday < day <= friday + timedelta(7) and day.weekday() < 5
        assert m["place"] == "home" and m["attendees"][-1] == "ref-N"
    assert meetings["k1"]["attendees"][0] in ("sup", "sup2") and len(meetings["k1"]["attendees"]) == 3
    assert len(meetings["k2"]["attendees"]) == 2  # no MST: no supervisor
    # The kennismaking's trajectbegeleider becomes the case's (the placement is in the home region).
    got = placements(report)
    assert got["k1"]["trajectbegeleider"] == meetings["k1"]["attendees"][1]


def test_no_kennismaking_when_the_placement_starts_first() -> None:
    events = [v2_referral("fast", "thuisbest_open", earliest=START + timedelta(1), stay_days=28)]
    report = run_checked(v2_network(), events, "optimized")
    assert placements(report)["fast"]["start"] == (START + timedelta(1)).isoformat()
    assert not [m for m in report["meetings"] if m["meeting"] == "kennismaking"]
    assert report["kpis"]["kennismaking_on_time_pct"] == 100.0


# --- staff changes and handovers ----------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_a_therapist_who_leaves_hands_the_family_to_a_colleague_of_the_same_team(policy: str) -> None:
    events = [
        v2_referral(
            "h1", "thuisbest_open", earliest=START + timedelta(1), stay_days=28, current_therapist="th-N"
        ),
        staff_change("th-N", START + timedelta(14), None, "left"),
    ]
    report = run_checked(v2_network(), events, policy)
    stay = placements(report)["h1"]
    assert stay["mst_therapist"] == "th-N2"  # sup's team, not th-N3 of sup2
    assert stay["trajectbegeleider"] in ("tb-N", "tb-N2")  # everyone else stays


def test_an_unknown_person_in_a_staff_change_is_refused() -> None:
    events = [staff_change("nobody", START, START + timedelta(7))]
    report = run_checked(v2_network(), events, "optimized")
    assert [(r["event"], r["reason"]) for r in report["rejected"]] == [
        ("staff_change", "person: unknown person 'nobody'")
    ]


def test_an_absent_supervisor_misses_no_kennismaking_it_is_planned_without_them() -> None:
    monday = START + timedelta(7)
    events = [
        staff_change("sup", monday, monday + timedelta(14)),
        v2_referral("k", "thuisbest_open", monday, earliest=monday + timedelta(40), stay_days=28),
    ]
    report = run_checked(v2_network(), events, "optimized")
    [m] = [m for m in report["meetings"] if m["meeting"] == "kennismaking"]
    assert m["attendees"][0] == "sup2"


def test_a_beter_met_thuis_time_out_is_refused_by_its_kind() -> None:
    start = START + timedelta(2)
    events = [
        v2_referral("b", "beter_met_thuis", earliest=start, nights_per_week=2),
        {"at": at(start + timedelta(10)), "type": "timeout_request", "case": "b", "days": 3},
    ]
    report = run_checked(v2_network(), events, "optimized")
    assert [(r["case"], r["reason"]) for r in report["rejected"]] == [("b", "no_timeout_in_kind")]


def test_with_no_colleague_free_a_running_case_keeps_the_person_and_the_coordinators_are_told() -> None:
    """Every other therapist of N carries their one case for the rest of the load: handing over would
    break max_cases. The running case keeps th-N, and the staff change is refused for it (on the
    record for the coordinators); the validator agrees nobody had room."""
    net = v2_network()
    for p in net["people"]:
        if p["role"] == "mst_therapist" and p["regions"] == ["N"]:
            p["max_cases"] = 1
    soon = START + timedelta(1)
    events = [
        v2_referral(c, "thuisbest_open", earliest=soon, stay_days=28, current_therapist=th)
        for c, th in (("a", "th-N"), ("b", "th-N2"), ("c", "th-N3"))
    ]
    events.append(staff_change("th-N", START + timedelta(14), None, "left"))
    net["locations"][0]["groups"][1]["beds"] = 3  # room for all three on n-open
    report = run_checked(net, events, "optimized")
    got = placements(report)
    assert {c: got[c]["mst_therapist"] for c in "abc"} == {"a": "th-N", "b": "th-N2", "c": "th-N3"}
    [refused] = [r for r in report["rejected"] if r["event"] == "staff_change"]
    assert refused["case"] == "a" and refused["reason"].startswith("no_successor: no MST therapist of N")


def test_the_planners_snapshot_keeps_patterns_kennismakingen_handovers_and_absences() -> None:
    import json
    from datetime import datetime

    from services.intake.rules import to_case_event
    from services.scheduler.core import Scheduler
    from shared.network import Network, NetworkIndex
    from tools.scenario import load_scenario_dict as load

    net = v2_network()
    network = Network.model_validate(net)
    sched = Scheduler(network, config=FAST)
    index = NetworkIndex(network)
    events = [
        v2_referral("p", "beter_met_thuis", earliest=START + timedelta(1), nights_per_week=3),
        v2_referral("o", "thuisbest_open", earliest=START + timedelta(30), stay_days=28),
        v2_referral("r", "thuisbest_open", earliest=START + timedelta(1), stay_days=28),
    ]
    for ev in load({**net, "events": events}).events:
        sched.handle(to_case_event(ev, index), ev.at)  # type: ignore[arg-type]
    sched.replan(datetime.combine(START, datetime.min.time()).replace(hour=18))
    running = sched.cases["r"].placement
    assert running is not None and running.therapist is not None
    later = datetime.combine(START + timedelta(8), datetime.min.time()).replace(hour=8)
    leaving = running.therapist
    handed = sched.staff_change(leaving, later.date(), None, "left", later)
    assert [d.type for d in handed][:1] == ["placement_planned"]
    data = json.loads(json.dumps(sched.snapshot()))
    again = Scheduler.restore(network, data, config=FAST)
    assert again.plan() == sched.plan()
    assert again.cases["p"].placement is not None and again.cases["p"].placement.nights is not None
    assert again.cases["o"].kennismaking == sched.cases["o"].kennismaking is not None
    assert again.cases["r"].handovers == sched.cases["r"].handovers != []
    assert again.absences == sched.absences == {leaving: [(later.date(), None)]}


@pytest.mark.parametrize("policy", POLICIES)
def test_a_therapist_leaving_next_month_gets_no_new_family(policy: str) -> None:
    """th-N leaves in a month (announced now): a family placed before then would be handed over at
    once, so the new case goes to a colleague even though the family's own therapist was th-N."""
    leaves = START + timedelta(35)
    events = [
        staff_change("th-N", leaves, None, "left", said=START),
        v2_referral(
            "n", "thuisbest_open", earliest=START + timedelta(3), stay_days=28, current_therapist="th-N"
        ),
    ]
    got = placements(run_checked(v2_network(), events, policy))
    assert got["n"]["mst_therapist"] in ("th-N2", "th-N3")
