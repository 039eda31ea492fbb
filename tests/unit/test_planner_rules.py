"""Hard rules 1-10, one feasible and one infeasible case per constraint family, checked by property.

Every run goes through `simulate` and must pass the independent validator (see `run`).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from test_planner_support import (
    START,
    day,
    event,
    network,
    placement,
    referral,
    run,
    scenario,
    waiting,
)

POLICIES = ["optimized", "fcfs"]
D = START


def d(n: int) -> date:
    return START + timedelta(n)


# --- rule 1: beds, time-out beds, capacity changes ---------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_capacity_two_cases_fit_two_beds(policy: str) -> None:
    report, _ = run(scenario(network(), [referral("a"), referral("b")]), policy)
    assert day(placement(report, "a")["start"]) == START
    assert day(placement(report, "b")["start"]) == START


@pytest.mark.parametrize("policy", POLICIES)
def test_capacity_third_case_waits_for_a_free_bed(policy: str) -> None:
    report, _ = run(scenario(network(), [referral("a"), referral("b"), referral("c", hour=11)]), policy)
    ends = sorted(day(placement(report, c)["end"]) for c in ("a", "b"))
    assert day(placement(report, "c")["start"]) >= ends[0]


@pytest.mark.parametrize("policy", POLICIES)
def test_timeout_beds_are_not_for_regular_placements(policy: str) -> None:
    net = network(closed=[("n-closed", "N", 2, 1)])
    report, _ = run(scenario(net, [referral("a"), referral("b", hour=11)]), policy)
    a, b = placement(report, "a"), placement(report, "b")
    assert day(b["start"]) >= day(a["end"])


@pytest.mark.parametrize("policy", POLICIES)
def test_no_beds_means_waiting(policy: str) -> None:
    net = network(closed=[("n-closed", "N", 0, 0)])
    sc = scenario(net, [referral("a")])
    sc["end"] = d(60).isoformat()  # before the machtiging lapses: the bed is what it waits for
    report, result = run(sc, policy)
    assert placement(report, "a") is None
    assert "no closed bed" in (waiting(report, "a") or "")
    assert result.kpis["placed"] == 0


@pytest.mark.parametrize("policy", POLICIES)
def test_capacity_cut_is_respected_by_new_placements(policy: str) -> None:
    cut = {
        "at": f"{START}T09:00",
        "type": "capacity",
        "group": "n-closed",
        "beds": 0,
        "from": START.isoformat(),
        "until": d(30).isoformat(),
    }
    report, _ = run(scenario(network(), [cut, referral("a")]), policy)
    assert day(placement(report, "a")["start"]) >= d(30)


@pytest.mark.parametrize("policy", POLICIES)
def test_capacity_cut_never_evicts_a_started_stay(policy: str) -> None:
    cut = {
        "at": f"{d(3)}T09:00",
        "type": "capacity",
        "group": "n-closed",
        "beds": 0,
        "from": d(5).isoformat(),
        "until": d(20).isoformat(),
    }
    later = referral("b", d(3), hour=11)
    report, _ = run(scenario(network(), [referral("a"), cut, later]), policy)
    assert day(placement(report, "a")["start"]) == START  # kept through the cut
    assert day(placement(report, "b")["start"]) >= d(20) or placement(report, "b")["group"] != "n-closed"


# --- rule 2: group kind ----------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_each_kind_goes_to_its_group_kind(policy: str) -> None:
    report, _ = run(
        scenario(network(), [referral("a"), referral("o", kind="thuisbest_open", stay=28)]), policy
    )
    assert placement(report, "a")["group"] == "n-closed"
    assert placement(report, "o")["group"] == "n-open"


@pytest.mark.parametrize("policy", POLICIES)
def test_open_case_never_takes_a_closed_bed(policy: str) -> None:
    net = network(open_=[])
    report, _ = run(scenario(net, [referral("o", kind="thuisbest_open", stay=28)]), policy)
    assert placement(report, "o") is None
    assert "no open bed" in (waiting(report, "o") or "")


# --- rule 3: machtiging ----------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_without_machtiging_the_case_waits(policy: str) -> None:
    report, _ = run(scenario(network(), [referral("a", machtiging=None)]), policy)
    assert placement(report, "a") is None
    assert waiting(report, "a") == "waiting for a machtiging"


@pytest.mark.parametrize("policy", POLICIES)
def test_a_later_machtiging_makes_the_case_placeable(policy: str) -> None:
    events = [
        referral("a", machtiging=None),
        event("machtiging", "a", d(10), valid_from=d(12).isoformat(), valid_until=d(200).isoformat()),
    ]
    report, _ = run(scenario(network(), events), policy)
    assert day(placement(report, "a")["start"]) == d(12)


@pytest.mark.parametrize("policy", POLICIES)
def test_machtiging_lapses_while_no_bed_is_free(policy: str) -> None:
    # One bed, taken by a for 56 nights; b's machtiging lapses 3 months after valid_from, but
    # is too short to cover a stay starting after a's end.
    net = network(closed=[("n-closed", "N", 1, 0)])
    events = [referral("a", stay=56), referral("b", d(1), machtiging=(START, d(80)))]
    report, _ = run(scenario(net, events), policy)
    assert placement(report, "b") is None
    assert waiting(report, "b")


@pytest.mark.parametrize("policy", POLICIES)
def test_the_stay_lies_inside_the_machtiging(policy: str) -> None:
    net = network(closed=[("n-closed", "N", 1, 0)])
    events = [referral("a", stay=42), referral("b", hour=11, machtiging=(START, d(100)))]
    report, _ = run(scenario(net, events), policy)
    b = placement(report, "b")
    assert b is not None and day(b["end"]) <= d(101)


# --- rule 4: start bounds, reach --------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_start_not_before_earliest_start(policy: str) -> None:
    report, _ = run(scenario(network(), [referral("a", earliest=d(9), machtiging=(d(2), d(200)))]), policy)
    assert day(placement(report, "a")["start"]) == d(9)


@pytest.mark.parametrize("policy", POLICIES)
def test_unreachable_regions_are_never_used(policy: str) -> None:
    net = network(closed=[("z-closed", "Z", 2, 0)], travel=[])
    report, _ = run(scenario(net, [referral("a")]), policy)
    assert placement(report, "a") is None
    net = network(closed=[("z-closed", "Z", 2, 0)])
    report, _ = run(scenario(net, [referral("a")]), policy)
    assert placement(report, "a")["group"] == "z-closed"


# --- rule 5: age -----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_a_youth_turning_18_before_a_bed_frees_waits(policy: str) -> None:
    net = network(closed=[("n-closed", "N", 1, 0)])
    old = referral("b", d(1), birth=date(2008, 2, 1))  # 18 on 2026-02-01
    report, _ = run(scenario(net, [referral("a", stay=42), old]), policy)
    assert placement(report, "b") is None
    assert "too old" in (waiting(report, "b") or "")


@pytest.mark.parametrize("policy", POLICIES)
def test_a_youth_still_17_is_placed(policy: str) -> None:
    report, _ = run(scenario(network(), [referral("b", birth=date(2008, 2, 1))]), policy)
    assert day(placement(report, "b")["start"]) < date(2008 + 18, 2, 1)


# --- rule 6: conflicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_conflicting_cases_never_share_a_group(policy: str) -> None:
    events = [referral("a", conflicts=["b"]), referral("b", conflicts=["a"], hour=11)]
    report, _ = run(scenario(network(), events), policy)
    a, b = placement(report, "a"), placement(report, "b")
    assert day(b["start"]) >= day(a["end"]) or a["group"] != b["group"]


@pytest.mark.parametrize("policy", POLICIES)
def test_conflicting_cases_use_two_groups_at_once(policy: str) -> None:
    net = network(closed=[("n-closed", "N", 2, 0), ("n-closed-2", "N", 2, 0)])
    events = [referral("a", conflicts=["b"]), referral("b", conflicts=["a"], hour=11)]
    report, _ = run(scenario(net, events), policy)
    a, b = placement(report, "a"), placement(report, "b")
    assert a["start"] == b["start"] == START.isoformat() and a["group"] != b["group"]


# --- rule 7: therapist and trajectbegeleider caseloads -------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_therapist_caseload_limits_placements(policy: str) -> None:
    net = network(therapists=1)
    report, _ = run(scenario(net, [referral("a"), referral("b", hour=11)]), policy)
    assert placement(report, "a") is not None
    assert placement(report, "b") is None  # the only therapist carries a for 20 weeks


@pytest.mark.parametrize("policy", POLICIES)
def test_trajectbegeleider_caseload_limits_placements(policy: str) -> None:
    net = network(tbs=1)
    report, _ = run(scenario(net, [referral("a"), referral("b", hour=11)]), policy)
    assert placement(report, "b") is None
    report, _ = run(scenario(network(tbs=2), [referral("a"), referral("b", hour=11)]), policy)
    assert placement(report, "b") is not None


@pytest.mark.parametrize("policy", POLICIES)
def test_a_close_frees_the_caseload(policy: str) -> None:
    net = network(therapists=1)
    events = [referral("a"), referral("b", hour=11), event("close", "a", d(60))]
    report, _ = run(scenario(net, events), policy)
    assert day(placement(report, "b")["start"]) >= d(60)


# --- rule 8: startgesprek ------------------------------------------------------------------------


def _busy_all_day(person: str, first: date, days: int) -> list[dict[str, str]]:
    return [
        {"person": person, "from": f"{first + timedelta(k)}T08:00", "until": f"{first + timedelta(k)}T18:00"}
        for k in range(days)
    ]


@pytest.mark.parametrize("policy", POLICIES)
def test_startgesprek_in_window_and_free_of_busy_blocks(policy: str) -> None:
    busy = _busy_all_day("ref-N", START, 2) + [
        {"person": "th-N", "from": f"{d(2)}T09:00", "until": f"{d(2)}T12:00"}
    ]
    report, result = run(scenario(network(busy=busy), [referral("a")]), policy)
    m = report["meetings"][0]
    assert m["start"] >= f"{d(2)}T12:00"
    assert result.kpis["startgesprek_on_time_pct"] == 100.0


@pytest.mark.parametrize("policy", POLICIES)
def test_no_startgesprek_slot_means_a_later_start(policy: str) -> None:
    busy = _busy_all_day("ref-N", START, 12)
    report, _ = run(scenario(network(busy=busy), [referral("a")]), policy)
    meeting = report["meetings"][0]
    assert day(meeting["start"]) >= d(12)
    assert day(placement(report, "a")["start"]) >= d(7)


@pytest.mark.parametrize("policy", POLICIES)
def test_startgesprekken_never_double_book(policy: str) -> None:
    events = [referral(c, hour=10 + k) for k, c in enumerate("abcd")]
    net = network(closed=[("n-closed", "N", 4, 0)], within=0)
    report, result = run(scenario(net, events), policy)
    assert result.kpis["startgesprek_on_time_pct"] == 100.0
    slots = sorted((m["start"], m["end"]) for m in report["meetings"])
    assert all(a[1] <= b[0] for a, b in zip(slots, slots[1:], strict=False))


# --- rule 9: time-outs ---------------------------------------------------------------------------


def _home_phase(extra: list[dict], **kw: object) -> list[dict]:
    return [referral("a", **kw), *extra]  # placed on START for 42 nights, home from d(42)


@pytest.mark.parametrize("policy", POLICIES)
def test_timeout_served_within_a_day(policy: str) -> None:
    report, result = run(
        scenario(network(), _home_phase([event("timeout_request", "a", d(50), days=5)])), policy
    )
    t = next(s for s in report["stays"] if s["type"] == "timeout")
    assert 0 <= (day(t["start"]) - d(50)).days <= 1 and (day(t["end"]) - day(t["start"])).days == 5
    assert (t["mst_therapist"], t["trajectbegeleider"]) == (
        placement(report, "a")["mst_therapist"],
        placement(report, "a")["trajectbegeleider"],
    )
    assert result.kpis["timeouts_within_1_day_pct"] == 100.0


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        (
            [referral("o", kind="thuisbest_open", stay=28), event("timeout_request", "o", d(40), days=3)],
            "informal_network",
        ),
        (_home_phase([event("timeout_request", "a", d(10), days=3)]), "not_in_home_phase"),
        (
            _home_phase([event("timeout_request", "a", d(60), days=3)], machtiging=(START, d(60))),
            "no_machtiging",
        ),
        (
            _home_phase([event("close", "a", d(45)), event("timeout_request", "a", d(50), days=3)]),
            "not_in_home_phase",
        ),
    ],
)
def test_timeout_refusals(events: list[dict], reason: str) -> None:
    report, _ = run(scenario(network(), events))
    refused = [r for r in report["rejected"] if r["event"] == "timeout_request"]
    assert [r["reason"] for r in refused] == [reason]
    assert not [s for s in report["stays"] if s["type"] == "timeout"]


def test_timeout_refused_when_no_bed() -> None:
    net = network(closed=[("n-closed", "N", 1, 0)])
    events = [referral("a"), referral("b", d(41), hour=11), event("timeout_request", "a", d(50), days=3)]
    report, _ = run(scenario(net, events))
    assert placement(report, "b")["start"] == d(42).isoformat()
    assert [r["reason"] for r in report["rejected"]] == ["no_bed"]


def test_timeout_goes_before_a_planned_placement_which_moves() -> None:
    net = network(closed=[("n-closed", "N", 1, 0)])
    # b is planned from d(52) (after a's stay); a's time-out at d(50) takes the only bed first.
    events = [
        referral("a"),
        referral("b", d(49), hour=11, earliest=d(52)),
        event("timeout_request", "a", d(50), days=5),
    ]
    report, _ = run(scenario(net, events))
    t = next(s for s in report["stays"] if s["type"] == "timeout")
    assert day(placement(report, "b")["start"]) >= day(t["end"])


def test_reserved_timeout_beds_first() -> None:
    net = network(closed=[("n-closed", "N", 2, 0), ("n-reserve", "N", 2, 1)])
    report, _ = run(scenario(net, _home_phase([event("timeout_request", "a", d(50), days=2)])))
    assert next(s for s in report["stays"] if s["type"] == "timeout")["group"] == "n-reserve"


# --- rule 10 and event semantics: pinning, withdraw, close, discharge -------------------------------


def test_withdraw_before_start_cancels_after_start_is_refused() -> None:
    events = [
        referral("a", earliest=d(10)),
        event("withdraw", "a", d(3)),
        referral("b"),
        event("withdraw", "b", d(3)),
    ]
    report, _ = run(scenario(network(), events))
    assert placement(report, "a") is None and waiting(report, "a") == "withdrawn"
    assert placement(report, "b") is not None
    assert [(r["case"], r["reason"]) for r in report["rejected"]] == [("b", "already_started")]


def test_close_before_start_cancels_after_start_keeps_the_stay() -> None:
    events = [
        referral("a", earliest=d(10)),
        event("close", "a", d(3)),
        referral("b"),
        event("close", "b", d(3)),
    ]
    report, _ = run(scenario(network(), events))
    assert placement(report, "a") is None and waiting(report, "a") == "closed"
    assert placement(report, "b") is not None


@pytest.mark.parametrize(
    ("discharge", "end", "refused"),
    [(d(20), d(20), False), (d(50), d(50), False), (d(30), d(42), True)],
)
def test_discharge_early_late_and_not_in_stay(discharge: date, end: date, refused: bool) -> None:
    when = d(60) if refused else d(15)  # after the planned end: not in the stay
    events = [
        referral("a", machtiging=(START, d(200))),
        event("discharge", "a", when, date=discharge.isoformat()),
    ]
    report, _ = run(scenario(network(), events))
    assert day(placement(report, "a")["end"]) == end
    assert bool([r for r in report["rejected"] if r["event"] == "discharge"]) == refused


def test_started_placements_are_pinned_and_unstarted_ones_may_move() -> None:
    net = network(closed=[("n-closed", "N", 1, 0)])
    events = [
        referral("a"),  # starts START: pinned from then on
        referral("b", d(1), earliest=d(42)),  # planned from d(42), not started yet
        referral("c", d(2), urgency="crisis", hour=11),  # the crisis goes first once the bed is free
    ]
    report, _ = run(scenario(net, events))
    assert day(placement(report, "a")["start"]) == START
    assert day(placement(report, "c")["start"]) == d(42)
    assert day(placement(report, "b")["start"]) >= day(placement(report, "c")["end"])


def test_the_scenario_end_bounds_the_stays() -> None:
    net = network(closed=[("n-closed", "N", 1, 0)])
    events = [referral("a", stay=56), referral("b", d(30), hour=11)]
    sc = scenario(net, events)
    sc["end"] = d(40).isoformat()
    report, _ = run(sc)
    assert placement(report, "b") is None
    assert (waiting(report, "b") or "").startswith(f"expected start {d(56)}")


@pytest.mark.parametrize("policy", POLICIES)
def test_a_conflict_named_by_one_side_binds_both(policy: str) -> None:
    events = [referral("a", conflicts=["b"]), referral("b", d(1))]  # only a names b
    report, _ = run(scenario(network(), events), policy)
    a, b = placement(report, "a"), placement(report, "b")
    assert day(b["start"]) >= day(a["end"]) or a["group"] != b["group"]


def test_a_late_discharge_moves_a_placement_not_yet_started_and_never_outruns_the_machtiging() -> None:
    net = network(closed=[("n-closed", "N", 1, 0)])
    events = [
        referral("a", machtiging=(START, d(60))),
        referral("b", d(1), earliest=d(42)),  # planned when a's stay (42 nights) ends, not started
        event("discharge", "a", d(40), date=d(50).isoformat()),
    ]
    report, _ = run(scenario(net, events))
    assert placement(report, "a")["end"] == d(50).isoformat()  # the youth stays on (SCENARIO.md)
    assert day(placement(report, "b")["start"]) >= d(50)  # b moves: it had not started (rule 10)
    assert report["rejected"] == []
    report, _ = run(
        scenario(
            network(),
            [
                referral("a", machtiging=(START, d(45))),
                event("discharge", "a", d(40), date=d(50).isoformat()),
            ],
        )
    )
    assert [r["reason"].split(":")[0] for r in report["rejected"]] == ["no_machtiging"]
