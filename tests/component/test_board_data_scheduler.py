"""The scheduler's reads for the board: beds per group and night, the waiting list, and a capacity
dry run; each for the people of the role table only, each case shown audited."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services.scheduler.app import create_app
from services.scheduler.core.waitlist import WAIT_CODES
from shared.actor import Actor
from shared.events import TOPIC_CASE_EVENTS, TOPIC_DECISIONS, ReferralRegistered
from shared.kinds import eligible_window, kind_spec
from shared.settings import ServiceSettings
from tests.component.conftest import (
    BIRTH_DATE,
    NOW,
    Running,
    eventually,
    fields_of,
    referred,
    running,
)

WATCH = (TOPIC_DECISIONS,)
NOT_PLANNERS = ("ref-ZL", "th-ZL-0", "tb-ZL-0", "ops", "privacy")
TODAY = NOW.date()
OPEN_OUTSIDE_WBO = ("L01-g0", "L01-g1", "L02-g1", "L02-g2")  # the open groups of WBW and ZL
WBO_GROUPS = ["L00-g0", "L00-g1", "L00-g2"]
CLOSED = ("L00-g1", "L01-g2", "L02-g0")


@pytest.fixture
async def scheduler(service_settings: ServiceSettings) -> AsyncIterator[Running]:
    async with running(create_app, service_settings, NOW, watch=WATCH) as svc:
        yield svc


def closed_referral(case: str, *, machtiging: tuple[date, date] | None, **extra: Any) -> ReferralRegistered:
    """A thuisbest (closed) referral of a 13-year-old in ZL."""
    kind = kind_spec("thuisbest")
    eligible_from, eligible_until = eligible_window(kind, date.fromisoformat(BIRTH_DATE))
    fields: dict[str, Any] = {
        "kind": kind.name,
        "stay_days": kind.default_stay,
        "eligible_from": eligible_from,
        "eligible_until": eligible_until,
        "machtiging": None
        if machtiging is None
        else {"valid_from": machtiging[0], "valid_until": machtiging[1]},
    }
    return referred(case, **(fields | extra))


async def get(svc: Running, path: str, person: str, **params: Any) -> dict[str, Any]:
    answer = await svc.http.get(path, params=params, headers=svc.as_(person))
    assert answer.status_code == 200, (person, path, answer.text)
    body: dict[str, Any] = answer.json()
    return body


async def cut(svc: Running, groups: tuple[str, ...], until: str = "2026-12-31") -> None:
    """No beds on these groups from before today until `until` (a real change, as coord)."""
    for group in groups:
        body = {"group": group, "beds": 0, "from": "2026-03-01", "until": until}
        answer = await svc.http.post("/v1/capacity", json=body)
        assert answer.status_code == 202, answer.text


async def placed(svc: Running, *cases: str) -> dict[str, dict[str, Any]]:
    """Once every case has a stay in the plan: the stays by case."""

    async def probe() -> dict[str, dict[str, Any]]:
        plan = (await svc.http.get("/v1/plan")).json()
        return {s["case"]: s for s in plan["stays"] if s["type"] == "placement"}

    stays: dict[str, dict[str, Any]] = await eventually(
        probe, lambda found: set(cases) <= set(found), what=f"{cases} placed"
    )
    return stays


async def settled(svc: Running) -> None:
    """The background re-plans have come to rest (a re-plan holds the lock, so does an explanation)."""
    planner = svc.app.state.planner
    while True:
        await asyncio.sleep(4 * svc.settings.replan_debounce_seconds)
        async with planner.lock:
            if not planner.dirty.is_set() and not planner.core.needs_replan():
                return


def entries_of(beds: dict[str, Any], group: str) -> list[tuple[str, str, str | None]]:
    """(date, kind, case) of every entry of a group."""
    [row] = [g for g in beds["groups"] if g["group"] == group]
    return [(n["date"], e["kind"], e["case"]) for n in row["days"] for e in n["entries"]]


async def readers(svc: Running, case: str, detail: str) -> set[str]:
    rows = await svc.db(
        "SELECT person FROM audit WHERE case_id = $1 AND action = 'read_plan' AND detail = $2", case, detail
    )
    return {r["person"] for r in rows}


async def test_beds_show_each_group_of_your_regions_per_night_and_hide_cases_of_other_regions(
    scheduler: Running,
) -> None:
    await cut(scheduler, OPEN_OUTSIDE_WBO)  # a ZL youth can only go to a WBO group
    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-zl"), key="c-zl")
    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-wbo", region="WBO"), key="c-wbo")
    stays = await placed(scheduler, "c-zl", "c-wbo")
    await settled(scheduler)
    stays = await placed(scheduler, "c-zl", "c-wbo")
    zl = stays["c-zl"]
    assert zl["group"] in WBO_GROUPS, zl

    # coord serves every region: every group, every case by its id.
    everything = await get(scheduler, "/v1/beds", "coord")
    assert everything["today"] == everything["from"] == TODAY.isoformat() and everything["days"] == 56
    groups = [g["group"] for g in everything["groups"]]
    assert groups == sorted(groups) and len(groups) == 11, groups  # 9 residential, a day, a part-time
    for row in everything["groups"]:
        assert [n["date"] for n in row["days"]] == [(TODAY + timedelta(n)).isoformat() for n in range(56)]
    start, end = date.fromisoformat(zl["start"]), date.fromisoformat(zl["end"])
    assert start > TODAY
    shown = entries_of(everything, zl["group"])
    expected = [(start + timedelta(n)).isoformat() for n in range((end - start).days)]
    assert [d for d, _, case in shown if case == "c-zl"] == [d for d in expected if d < "2026-04-27"]
    assert {kind for _, kind, case in shown if case == "c-zl"} == {"planned"}

    # A group's counts: the cut ZL group has no beds, its change is listed with who announced it.
    [cut_group] = [g for g in everything["groups"] if g["group"] == "L02-g1"]
    assert {(n["capacity"], n["free"], n["occupied"]) for n in cut_group["days"]} == {(0, 0, 0)}
    assert [(c["from"], c["until"], c["beds"], c["announced_by"]) for c in cut_group["capacity_changes"]] == [
        ("2026-03-01", "2026-12-31", 0, "coord")
    ]
    assert cut_group["capacity_changes"][0]["announced_at"] == "2026-03-02T10:00"
    [zl_group] = [g for g in everything["groups"] if g["group"] == zl["group"]]
    night = next(n for n in zl_group["days"] if n["date"] == zl["start"])
    assert night["capacity"] == zl_group["beds"] == 4 and night["timeout_capacity"] == 0
    assert night["occupied"] == len(night["entries"]) and night["timeouts"] == 0
    assert night["free"] == night["timeout_free"] == 4 - night["occupied"]
    assert all(g["capacity_changes"] == [] for g in everything["groups"] if g["group"] in WBO_GROUPS)

    # coord-WBO serves WBO only: the WBO groups; the ZL youth's bed is taken, the case not revealed.
    wbo = await get(scheduler, "/v1/beds", "coord-WBO")
    assert [g["group"] for g in wbo["groups"]] == ["L00-day", *WBO_GROUPS]  # and WBO's day group
    hidden = entries_of(wbo, zl["group"])
    assert "c-zl" not in {case for _, _, case in hidden}
    mine = [(d, kind) for d, kind, case in entries_of(everything, zl["group"]) if case != "c-wbo"]
    assert [(d, kind) for d, kind, case in hidden if case is None] == mine
    assert "c-wbo" in {case for _, _, case in entries_of(wbo, stays["c-wbo"]["group"])}
    assert await readers(scheduler, "c-wbo", "beds") == {"coord", "coord-WBO"}
    assert await readers(scheduler, "c-zl", "beds") == {"coord"}

    # A window of its own; once the stays start, they are under way ("stay").
    week = await get(scheduler, "/v1/beds", "sup0", **{"from": zl["start"], "days": 7})
    assert week["from"] == zl["start"] and all(len(g["days"]) == 7 for g in week["groups"])
    scheduler.clock.set(datetime.combine(start, NOW.time()))
    later = await get(scheduler, "/v1/beds", "coord")
    assert {kind for _, kind, case in entries_of(later, zl["group"]) if case == "c-zl"} == {"stay"}


async def test_beds_and_the_waiting_list_refuse_other_roles_and_bad_queries(scheduler: Running) -> None:
    for path in ("/v1/beds", "/v1/waiting-list"):
        for person in NOT_PLANNERS:
            answer = await scheduler.http.get(path, headers=scheduler.as_(person))
            assert answer.status_code == 403 and fields_of(answer) == {"role"}, (path, person, answer.text)
        assert (await scheduler.http.get(path, headers={"authorization": ""})).status_code == 401
    for params, field in (
        ({"from": "2026-13-01"}, "from"),
        ({"from": "tomorrow"}, "from"),
        ({"from": "0001-01-01"}, "from"),
        ({"days": "0"}, "days"),
        ({"days": "121"}, "days"),
        ({"days": "many"}, "days"),
    ):
        answer = await scheduler.http.get("/v1/beds", params=params)
        assert answer.status_code == 422 and fields_of(answer) == {field}, (params, answer.text)
    most = await scheduler.http.get("/v1/beds", params={"days": "120", "from": "2199-10-01"})
    assert most.status_code == 200 and len(most.json()["groups"][0]["days"]) == 120
    refusals = await scheduler.db(
        "SELECT person FROM audit WHERE action = 'read_plan' AND outcome = 'refused'"
    )
    assert {r["person"] for r in refusals} == set(NOT_PLANNERS)


async def test_the_waiting_list_orders_by_urgency_then_wait_and_names_why(scheduler: Running) -> None:
    await cut(scheduler, CLOSED, until="2026-05-01")  # no closed bed before the machtiging lapses
    ten_days_ago = NOW - timedelta(days=10)
    events = [
        closed_referral(
            "c-need", machtiging=None, occurred_at=ten_days_ago, earliest_start=date(2026, 2, 20)
        ),
        # lapses 2026-03-10 (three months after valid_from) with no bed before it
        closed_referral("c-lapse", machtiging=(date(2025, 12, 10), date(2026, 12, 1)), urgency="urgent"),
        referred("c-crisis", urgency="crisis"),
        closed_referral(
            "c-old", machtiging=None, occurred_at=NOW - timedelta(days=18), earliest_start=date(2026, 2, 12)
        ),
        referred("c-wbo", region="WBO"),
    ]
    for event in events:
        await scheduler.publish(TOPIC_CASE_EVENTS, event, key=event.case)
    await placed(scheduler, "c-crisis", "c-wbo")
    await settled(scheduler)

    listed = await get(scheduler, "/v1/waiting-list", "coord")
    assert listed["today"] == TODAY.isoformat()
    by_case = {e["case"]: e for e in listed["entries"]}
    assert [e["case"] for e in listed["entries"]] == ["c-crisis", "c-lapse", "c-old", "c-need", "c-wbo"]
    assert {e["code"] for e in listed["entries"]} <= set(WAIT_CODES)

    need = by_case["c-need"]
    assert (need["code"], need["state"], need["planned"], need["expected_start"]) == (
        "machtiging_needed",
        "waiting",
        None,
        None,
    )
    assert need["machtiging"] == {
        "needed": True,
        "granted": False,
        "last_start_day": None,
        "lapsing_soon": False,
    }
    assert (need["waiting_since"], need["days_waiting"]) == ("2026-02-20", 10)
    assert need["reason"] == "waiting for a machtiging"
    assert need["start_limit"] == "2030-04-30"  # the last day the youth is young enough

    lapse = by_case["c-lapse"]
    assert (lapse["code"], lapse["state"], lapse["urgency"]) == ("no_bed_in_time", "waiting", "urgent")
    assert lapse["machtiging"] == {
        "needed": True,
        "granted": True,
        "last_start_day": "2026-03-10",
        "lapsing_soon": True,
    }
    assert lapse["start_limit"] == "2026-03-10" and "machtiging" in lapse["reason"]

    old = by_case["c-old"]
    assert (old["code"], old["days_waiting"], old["waiting_since"]) == ("machtiging_needed", 18, "2026-02-12")
    assert old["referrer"] == "ref-ZL" and old["referred_at"] == "2026-02-12T10:00"
    assert old["kind"] == "thuisbest" and old["home_region"] == "ZL"

    planned = by_case["c-wbo"]
    assert (planned["code"], planned["state"], planned["days_waiting"]) == ("planned", "planned", 0)
    assert planned["planned"]["start"] == planned["expected_start"] > TODAY.isoformat()
    assert set(planned["planned"]) == {"group", "location", "start", "mst_therapist", "trajectbegeleider"}
    assert planned["planned"]["location"] == planned["planned"]["group"][:3]
    assert planned["machtiging"] == {
        "needed": False,
        "granted": False,
        "last_start_day": None,
        "lapsing_soon": False,
    }
    assert by_case["c-crisis"]["state"] == "planned" and by_case["c-crisis"]["urgency"] == "crisis"

    # coord-WBO: the WBO case only; each case listed is audited for whom it was shown to.
    assert [e["case"] for e in (await get(scheduler, "/v1/waiting-list", "coord-WBO"))["entries"]] == [
        "c-wbo"
    ]
    assert await readers(scheduler, "c-need", "waiting list") == {"coord"}
    assert await readers(scheduler, "c-wbo", "waiting list") == {"coord", "coord-WBO"}

    # A started placement leaves the list.
    scheduler.clock.set(datetime.combine(date.fromisoformat(planned["planned"]["start"]), NOW.time()))
    later = {e["case"] for e in (await get(scheduler, "/v1/waiting-list", "coord"))["entries"]}
    assert "c-wbo" not in later and "c-need" in later


async def state_of(svc: Running) -> tuple[Any, ...]:
    """Everything a capacity change would touch: the plan, decisions, outbox, capacity changes, snapshot."""
    plan = (await svc.http.get("/v1/plan")).json()
    outbox = await svc.db("SELECT count(*) AS n FROM outbox")
    changes = await svc.db("SELECT count(*) AS n FROM capacity_changes")
    snapshot = await svc.db("SELECT snapshot::text AS s, saved_at FROM planner_state")
    decisions = len(svc.seen(TOPIC_DECISIONS).messages)
    return plan, outbox[0]["n"], changes[0]["n"], [tuple(r) for r in snapshot], decisions


async def test_a_capacity_dry_run_tells_what_would_change_and_changes_nothing(scheduler: Running) -> None:
    await cut(scheduler, OPEN_OUTSIDE_WBO)
    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-zl"), key="c-zl")
    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-wbo", region="WBO"), key="c-wbo")
    await placed(scheduler, "c-zl", "c-wbo")
    await settled(scheduler)
    stays = await placed(scheduler, "c-zl", "c-wbo")
    group = stays["c-zl"]["group"]
    before = await state_of(scheduler)
    core = scheduler.app.state.planner.core
    core_before = (json.dumps(core.snapshot()["cases"]), json.dumps(core.capacity, sort_keys=True))

    # coord-WBO may change the WBO group: the ZL youth on it is counted, not named.
    closing = {"group": group, "beds": 0, "from": "2026-03-01", "until": "2026-09-01"}
    hidden = await scheduler.http.post(
        "/v1/capacity", params={"dry_run": "true"}, json=closing, headers=scheduler.as_("coord-WBO")
    )
    assert hidden.status_code == 200, hidden.text
    body = hidden.json()
    assert (body["group"], body["beds"], body["from"], body["until"]) == (
        group,
        0,
        "2026-03-01",
        "2026-09-01",
    )
    assert "c-zl" not in {e["case"] for e in body["affected"]} and body["others"] >= 1
    assert body["replan_pending"] is False

    shown = await scheduler.http.post("/v1/capacity", params={"dry_run": "true"}, json=closing)
    assert shown.status_code == 200, shown.text
    [zl] = [e for e in shown.json()["affected"] if e["case"] == "c-zl"]
    assert zl["change"] in ("moved", "cancelled"), zl
    assert zl["before"] == {
        "group": group,
        "start": stays["c-zl"]["start"],
        "end": stays["c-zl"]["end"],
        "mst_therapist": stays["c-zl"]["mst_therapist"],
        "trajectbegeleider": stays["c-zl"]["trajectbegeleider"],
        "nights": None,  # every night: no part-time pattern
    }
    assert zl["after"] is None if zl["change"] == "cancelled" else zl["after"]["group"] != group
    assert shown.json()["others"] == 0

    # Nothing changed: the plan, the decisions, the outbox, the capacity changes, the snapshot.
    await asyncio.sleep(5 * scheduler.settings.replan_debounce_seconds)
    assert not scheduler.app.state.planner.dirty.is_set()
    assert await state_of(scheduler) == before
    assert (json.dumps(core.snapshot()["cases"]), json.dumps(core.capacity, sort_keys=True)) == core_before
    assert scheduler.app.state.planner.core is core

    # Checked as the real change is; refused ones change nothing either.
    for person, change, status in (
        ("coord-WBO", closing | {"group": "L02-g1"}, 403),
        ("ref-ZL", closing, 403),
        ("coord", closing | {"group": "L99-g9"}, 422),
        ("coord", closing | {"until": "2026-02-01"}, 422),
    ):
        answer = await scheduler.http.post(
            "/v1/capacity", params={"dry_run": "true"}, json=change, headers=scheduler.as_(person)
        )
        assert answer.status_code == status, (person, change, answer.text)
    bad = await scheduler.http.post("/v1/capacity", params={"dry_run": "perhaps"}, json=closing)
    assert bad.status_code == 422 and fields_of(bad) == {"dry_run"}, bad.text
    assert await state_of(scheduler) == before

    rows = await scheduler.db(
        "SELECT person, detail FROM audit WHERE action = 'change_capacity' AND outcome = 'allowed'"
        " AND detail LIKE 'dry run%' ORDER BY id"
    )
    assert [(r["person"], r["detail"]) for r in rows] == [
        (person, f"dry run: {group}: 0 beds from 2026-03-01 until 2026-09-01")
        for person in ("coord-WBO", "coord")
    ]
    assert await readers(scheduler, "c-zl", "dry run") == {"coord"}

    # Without dry_run the change is made, as before.
    made = await scheduler.http.post("/v1/capacity", json=closing)
    assert made.status_code == 202 and made.json() == {"group": group, "beds": 0}, made.text


async def test_the_beds_of_a_plan_of_sixty_cases(scheduler: Running) -> None:
    """Sixty cases on the eleven groups, eight weeks: the whole grid, every group; the time it took is
    printed (`pytest -s`), not asserted: this machine is shared and noisy."""
    regions = ("ZL", "WBW", "WBO")
    for i in range(60):
        case = f"c-{i:02d}"
        start = TODAY + timedelta(days=3 + (i % 20) * 2)
        await scheduler.publish(
            TOPIC_CASE_EVENTS, referred(case, region=regions[i % 3], earliest=start), key=case
        )
    await eventually(
        lambda: scheduler.http.get("/v1/plan"),
        lambda answer: len(answer.json()["stays"]) + len(answer.json()["waiting"]) >= 60,
        what="sixty cases in the plan",
    )
    await settled(scheduler)
    planner = scheduler.app.state.planner
    coord = Actor("coord", "coordinator", frozenset(regions))
    began = time.perf_counter()
    beds = await planner.beds_for(coord, None, 56)
    handler = time.perf_counter() - began
    began = time.perf_counter()
    answer = await scheduler.http.get("/v1/beds")
    over_http = time.perf_counter() - began
    assert answer.status_code == 200
    taken = sum(n.occupied for g in beds.groups for n in g.days)
    assert taken > 0 and len(beds.groups) == 11
    print(
        f"\nbeds of 60 cases: handler {handler * 1000:.1f} ms, over HTTP {over_http * 1000:.1f} ms,"
        f" {len(answer.content) / 1024:.0f} KiB"
    )
