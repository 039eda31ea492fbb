"""The core's API: decisions and their differences, persistence, explanations, solver fallback."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from test_planner_support import START, Driver, event, network, referral, run, scenario

from services.scheduler.core import Scheduler, SolverConfig
from shared.events import (
    CaseWaitlisted,
    PlacementCancelled,
    PlacementPlanned,
    RequestRefused,
    StartgesprekCancelled,
    StartgesprekPlanned,
    TimeoutAssigned,
    decision_adapter,
)
from tools.scenario import MeetingOut, StayOut, WaitingOut

D = START


def d(n: int) -> date:
    return START + timedelta(n)


def types(decisions: list) -> list[str]:
    return [x.type for x in decisions]


def test_a_referral_is_placed_at_once_with_a_startgesprek_and_nothing_repeats() -> None:
    drv = Driver(network())
    out = drv.send(referral("a"))  # decided at once; the re-plan then optimises and keeps it
    assert drv.scheduler.needs_replan()
    assert drv.replan(D) == []
    assert types(out) == ["placement_planned", "startgesprek_planned"]
    planned, meeting = out
    assert isinstance(planned, PlacementPlanned) and planned.change == "new" and planned.explanation
    assert isinstance(meeting, StartgesprekPlanned) and meeting.sequence == 0
    assert all(x.occurred_at == out[0].occurred_at for x in out)
    assert set(meeting.attendees) == {planned.mst_therapist, planned.trajectbegeleider, "ref-N"}
    assert not drv.scheduler.needs_replan()
    assert drv.replan(D, hour=19) == []  # nothing changed: nothing published
    for x in out:  # every decision survives the wire format
        assert decision_adapter.validate_json(x.model_dump_json()) == x


def test_a_promised_placement_moves_when_a_capacity_cut_takes_its_bed_and_says_why() -> None:
    drv = Driver(network(closed=[("n-closed", "N", 2, 0)]))
    drv.send(referral("a"))
    assert types(drv.send(referral("b", d(1), earliest=d(5)))) == [
        "placement_planned",
        "startgesprek_planned",
    ]
    drv.replan(d(1))
    drv.scheduler.set_capacity("n-closed", 1, d(3), d(60), datetime.combine(d(2), datetime.min.time()))
    out = drv.replan(d(2))
    moved = [x for x in out if isinstance(x, PlacementPlanned) and x.case == "b"]
    assert moved and moved[0].change == "moved" and moved[0].start == d(42)  # a's stay ends on d(42)
    assert "capacity of n-closed was cut to 1 beds" in moved[0].explanation
    updates = [x for x in out if isinstance(x, StartgesprekPlanned) and x.case == "b"]
    assert updates and updates[0].sequence == 1


@pytest.mark.parametrize("urgency", ["urgent", "crisis"])
def test_a_promised_placement_does_not_move_for_a_later_referral(urgency: str) -> None:
    drv = Driver(network(closed=[("n-closed", "N", 1, 0)]))
    drv.send(referral("a"))
    drv.replan(D)
    drv.send(referral("b", d(1), earliest=d(43)))
    drv.replan(d(1))
    first = drv.replan(d(37))
    assert types(first) == ["placement_planned", "startgesprek_planned"]
    out = drv.send(referral("c", d(38), urgency=urgency))
    assert [x.case for x in out] == ["c"] and types(out) == ["case_waitlisted"]
    assert drv.replan(d(38)) == []
    assert drv.scheduler.cases["b"].placement is not None  # still promised
    assert drv.scheduler.cases["b"].placement.start == d(43)


def test_an_expected_start_is_announced_again_only_when_it_moves_more_than_the_tolerance() -> None:
    drv = Driver(network(closed=[("n-closed", "N", 1, 0)]))
    drv.send(referral("a"))
    drv.replan(D)
    out = drv.send(referral("b", d(1), earliest=d(20)))
    assert drv.replan(d(1)) == []
    assert types(out) == ["case_waitlisted"] and isinstance(out[0], CaseWaitlisted)
    assert out[0].expected_start == d(42) and out[0].reason == "expected"  # a's stay ends on d(42)
    drv.send(event("discharge", "a", d(10), date=d(39).isoformat()))  # three days earlier: quiet
    assert drv.replan(d(10)) == []
    assert drv.scheduler.cases["b"].expected is not None
    assert drv.scheduler.cases["b"].expected.start == d(39)
    drv.send(event("discharge", "a", d(11), date=d(30).isoformat()))  # 26 days earlier: announced
    again = drv.replan(d(11))
    assert types(again) == ["case_waitlisted"] and again[0].expected_start == d(30)  # type: ignore[union-attr]


def test_waitlisted_once_with_a_reason() -> None:
    drv = Driver(network())
    drv.send(referral("a", machtiging=None))
    out = drv.replan(D)
    assert types(out) == ["case_waitlisted"]
    assert isinstance(out[0], CaseWaitlisted) and out[0].reason == "waiting for a machtiging"
    drv.send(referral("b", hour=11))
    assert "case_waitlisted" not in types(drv.replan(D))
    granted = drv.send(
        event("machtiging", "a", d(3), valid_from=d(3).isoformat(), valid_until=d(200).isoformat())
    )
    assert types(granted) == ["placement_planned", "startgesprek_planned"]
    assert drv.replan(d(3)) == []


def test_withdraw_cancels_a_planned_placement_and_its_startgesprek() -> None:
    drv = Driver(network())
    drv.send(referral("a", earliest=d(5)))
    drv.replan(D)
    out = drv.send(event("withdraw", "a", d(2)))
    assert types(out) == ["placement_cancelled", "startgesprek_cancelled"]
    assert isinstance(out[0], PlacementCancelled) and isinstance(out[1], StartgesprekCancelled)
    assert out[1].sequence == 1
    assert drv.scheduler.plan()["waiting"] == [{"case": "a", "reason": "withdrawn"}]


def test_timeouts_are_decided_at_once() -> None:
    drv = Driver(network())
    drv.send(referral("a"))
    drv.send(referral("o", kind="thuisbest_open", stay=28, hour=11))
    drv.replan(D)
    out = drv.send(event("timeout_request", "a", d(50), days=3))
    assert len(out) == 1 and isinstance(out[0], TimeoutAssigned)
    assert out[0].start in (d(50), d(51)) and out[0].end == out[0].start + timedelta(3)
    refused = drv.send(event("timeout_request", "o", d(50), days=3))
    assert isinstance(refused[0], RequestRefused) and refused[0].reason == "informal_network"
    assert refused[0].mst_therapist == "th-N" and refused[0].home_region == "N"


def test_a_discharge_ends_the_stay() -> None:
    drv = Driver(network())
    drv.send(referral("a"))
    drv.replan(D)
    out = drv.send(event("discharge", "a", d(20), date=d(21).isoformat()))
    assert isinstance(out[0], PlacementPlanned) and out[0].change == "discharged" and out[0].end == d(21)
    late = drv.send(event("discharge", "a", d(30), date=d(31).isoformat()))
    assert isinstance(late[0], RequestRefused) and late[0].reason == "not_in_stay"


def test_snapshot_restore_round_trip() -> None:
    net = network()
    drv = Driver(net)
    drv.send(referral("a"))
    drv.send(referral("b", earliest=d(5), hour=11))
    drv.send(referral("c", machtiging=None, hour=12))
    drv.replan(D)
    drv.send(event("timeout_request", "a", d(2), days=2))  # refused: still in the stay
    drv.scheduler.set_capacity("n-open", 1, d(3), d(9), datetime(2026, 1, 5, 19))
    data = json.loads(json.dumps(drv.scheduler.snapshot()))
    again = Scheduler.restore(drv.network, data, config=drv.scheduler.config)
    assert again.plan() == drv.scheduler.plan()
    assert again.explain("a") == drv.scheduler.explain("a")
    assert again.needs_replan()  # the capacity change is still to be planned
    a1, a2 = drv.replan(D, hour=20), again.replan(datetime(2026, 1, 5, 20))
    assert types(a1) == types(a2)
    assert again.replan(datetime(2026, 1, 5, 21)) == []


def test_plan_has_the_report_shapes() -> None:
    report, _ = run(scenario(network(), [referral("a"), referral("b", machtiging=None)]))
    drv = Driver(network())
    drv.send(referral("a"))
    drv.send(referral("b", machtiging=None))
    drv.replan(D)
    plan = drv.scheduler.plan(D)
    for s in plan["stays"]:
        StayOut.model_validate(s)
    for m in plan["meetings"]:
        MeetingOut.model_validate(m)
    for w in plan["waiting"]:
        WaitingOut.model_validate(w)
    assert json.loads(json.dumps(plan)) == plan
    assert plan["stays"][0]["case"] == report["stays"][0]["case"]


def test_explain_names_the_group_and_the_people() -> None:
    drv = Driver(network(closed=[("z-closed", "Z", 2, 0)]))
    drv.send(referral("a"))
    drv.replan(D)
    text = drv.scheduler.explain("a") or ""
    assert "z-closed" in text and "40 min" in text and "th-N" in text
    assert drv.scheduler.explain("nobody") is None


def test_unknown_group_capacity_is_an_error() -> None:
    drv = Driver(network())
    with pytest.raises(ValueError, match="unknown group"):
        drv.scheduler.set_capacity("nope", 1, D, d(1), datetime(2026, 1, 5, 9))


def test_fallback_to_greedy_when_the_solver_has_no_time() -> None:
    events = [
        referral(c, hour=9 + k % 8, urgency=("crisis", "normal")[k % 2]) for k, c in enumerate("abcdefgh")
    ]
    config = SolverConfig(time_limit_s=1e-6, deterministic_time=1e-9, horizon_days=150)
    report, _ = run(scenario(network(closed=[("n-closed", "N", 3, 0)]), events), config=config)
    assert sum(1 for s in report["stays"] if s["type"] == "placement") >= 3
    drv = Driver(network(closed=[("n-closed", "N", 3, 0)]), config=config)
    for ev in events:
        drv.send(ev)
    drv.replan(D)
    assert drv.scheduler.stats.fallbacks == 1
    assert drv.scheduler.stats.last_status in ("UNKNOWN", "MODEL_INVALID", "INFEASIBLE")


def _replay(net: dict, events: list[dict], restart: bool) -> tuple[dict, list[str]]:
    """Feed events day by day, re-planning after each day; optionally restart from a snapshot daily."""
    drv = Driver(net, policy="fcfs")
    published: list[str] = []
    days = sorted({e["at"][:10] for e in events})
    for day in days:
        for raw in [e for e in events if e["at"][:10] == day]:
            published += [x.type for x in drv.send(raw)]
        if drv.scheduler.needs_replan():
            published += [x.type for x in drv.replan(date.fromisoformat(day), hour=20)]
        if restart:
            data = json.loads(json.dumps(drv.scheduler.snapshot()))
            drv.scheduler = Scheduler.restore(drv.network, data, config=drv.scheduler.config)
    return drv.scheduler.plan(), published


def test_a_restart_from_the_snapshot_loses_and_repeats_nothing() -> None:
    net = network(closed=[("n-closed", "N", 2, 1), ("z-closed", "Z", 2, 0)])
    events = [
        referral("a"),
        referral("b", d(1), machtiging=None),
        referral("c", d(2), urgency="crisis", region="Z"),
        referral("o", d(2), kind="thuisbest_open", stay=28, hour=11),
        event("machtiging", "b", d(5), valid_from=d(6).isoformat(), valid_until=d(200).isoformat()),
        event("discharge", "a", d(30), date=d(31).isoformat()),
        event("timeout_request", "a", d(40), days=3),
        event("withdraw", "o", d(41)),
        event("close", "c", d(60)),
    ]
    straight, published = _replay(net, events, restart=False)
    restarted, published_again = _replay(net, events, restart=True)
    assert restarted == straight
    assert published_again == published


def test_a_startgesprek_is_announced_at_least_one_working_day_ahead() -> None:
    drv = Driver(network())
    friday = d(4)  # START is a Monday
    assert friday.weekday() == 4
    out = drv.send(referral("a", friday, urgency="crisis", hour=16))
    meeting = next(x for x in out if isinstance(x, StartgesprekPlanned))
    # Announced Friday 16:00: Monday 16:00 at the earliest, and a 90-minute meeting would end after
    # working hours then, so Tuesday 09:00 (the start on Friday leaves Mon-Wed in its window).
    assert meeting.start == datetime.combine(d(8), datetime.min.time()).replace(hour=9)
    placed = next(x for x in out if isinstance(x, PlacementPlanned))
    assert placed.start == friday


def test_a_coordinator_promises_an_expected_placement_before_its_horizon() -> None:
    drv = Driver(network())
    assert types(drv.send(referral("a", earliest=d(30)))) == ["case_waitlisted"]
    drv.replan(D)
    expected = drv.scheduler.promise("a")
    assert expected.start == d(30) and drv.scheduler.needs_replan()
    out = drv.replan(D, hour=19)
    assert types(out) == ["placement_planned", "startgesprek_planned"]
    assert isinstance(out[0], PlacementPlanned) and out[0].start == d(30)
    with pytest.raises(ValueError, match="already promised"):
        drv.scheduler.promise("a")
    with pytest.raises(LookupError):
        drv.scheduler.promise("nobody")
