"""The scheduler's use cases and handlers: case events in from Kafka, decisions out through the
outbox, the plan and capacity over HTTP, re-plans in the background; who may see and change what
(the role table), each decision audited."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services.scheduler.app import create_app
from services.scheduler.core import Scheduler
from shared.aio import within
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DEAD_LETTER,
    TOPIC_DECISIONS,
    CaseEventV1,
    DecisionV1,
)
from shared.inputs import CapacityRequest, StaffChangeRequest
from shared.settings import ServiceSettings
from tests.component.conftest import NOW, SAMPLE_NETWORK, Running, eventually, fields_of, referred, running
from tests.component.contracts import Probe, check_asyncapi, check_openapi

NETWORK = json.loads(SAMPLE_NETWORK.read_text())
GROUPS = {g["id"]: g | {"region": loc["region"]} for loc in NETWORK["locations"] for g in loc["groups"]}
PEOPLE = {p["id"]: p for p in NETWORK["people"]}
WATCH = (TOPIC_DECISIONS, TOPIC_DEAD_LETTER)
NO_TOKEN = {"authorization": ""}
NOT_PLANNERS = ("ref-ZL", "th-ZL-0", "tb-ZL-0", "ops", "privacy")  # roles that never read the plan


def stays_of(plan: dict[str, Any], case: str) -> list[dict[str, Any]]:
    return [s for s in plan["stays"] if s["case"] == case]


async def planned(svc: Running, case: str) -> dict[str, Any]:
    """Once the case has a placement decision, that decision (the last one for the case)."""
    await svc.seen(TOPIC_DECISIONS).wait_for(case=case, type="placement_planned")
    decision: dict[str, Any] = svc.seen(TOPIC_DECISIONS).bodies(case=case, type="placement_planned")[-1]
    return decision


async def current_plan(svc: Running) -> dict[str, Any]:
    answer = await svc.http.get("/v1/plan")
    assert answer.status_code == 200, answer.text
    plan: dict[str, Any] = answer.json()
    return plan


async def plan_with(svc: Running, case: str) -> dict[str, Any]:
    found = lambda plan: bool(stays_of(plan, case))  # noqa: E731
    plan: dict[str, Any] = await eventually(lambda: current_plan(svc), found, what=f"{case} in /v1/plan")
    return plan


async def replans(svc: Running) -> float:
    text = (await svc.http.get("/metrics")).text
    [line] = [line for line in text.splitlines() if line.startswith("thuisbest_replans_total ")]
    return float(line.split()[1])


async def settled(svc: Running, case: str) -> dict[str, Any]:
    """The plan once it has the case and the background re-plans have come to rest."""
    await plan_with(svc, case)
    count = await replans(svc)
    while True:
        await asyncio.sleep(2 * svc.settings.replan_debounce_seconds)
        # A re-plan under way holds the planner's lock, and so does an explanation: a barrier.
        assert (await svc.http.get(f"/v1/cases/{case}/explanation")).status_code == 200
        if (now := await replans(svc)) == count:
            return await current_plan(svc)
        count = now


@pytest.fixture
async def scheduler(service_settings: ServiceSettings) -> AsyncIterator[Running]:
    async with running(create_app, service_settings, NOW, watch=WATCH) as svc:
        yield svc


async def test_a_referral_leads_to_a_placement_decision_and_into_the_plan(scheduler: Running) -> None:
    event = referred("c-1")
    await scheduler.publish(TOPIC_CASE_EVENTS, event, key="c-1")
    decision = await planned(scheduler, "c-1")

    # The decision keeps the rules of DOMAIN.md for this case.
    group = GROUPS[decision["group"]]
    assert group["kind"] == "open" and decision["region"] == group["region"]
    start, end = date.fromisoformat(decision["start"]), date.fromisoformat(decision["end"])
    assert start >= event.earliest_start and (end - start).days == event.stay_days
    assert event.eligible_from <= start <= event.eligible_until
    therapist, coach = PEOPLE[decision["mst_therapist"]], PEOPLE[decision["trajectbegeleider"]]
    assert therapist["role"] == "mst_therapist" and "ZL" in therapist["regions"]
    assert coach["role"] == "trajectbegeleider" and group["region"] in coach["regions"]
    assert decision["explanation"]

    plan = await plan_with(scheduler, "c-1")
    [stay] = stays_of(plan, "c-1")
    assert (stay["group"], stay["start"], stay["end"]) == (
        decision["group"],
        decision["start"],
        decision["end"],
    )
    assert not [w for w in plan["waiting"] if w["case"] == "c-1"]

    # The same event delivered again changes nothing: still one new placement, one stay.
    await scheduler.publish(TOPIC_CASE_EVENTS, event, key="c-1")
    await asyncio.sleep(3 * scheduler.settings.replan_debounce_seconds)
    news = scheduler.seen(TOPIC_DECISIONS).bodies(case="c-1", type="placement_planned", change="new")
    assert len(news) == 1, news
    assert len(stays_of(await current_plan(scheduler), "c-1")) == 1

    explained = await scheduler.http.get("/v1/cases/c-1/explanation")
    assert explained.status_code == 200 and explained.json()["explanation"], explained.text
    assert scheduler.seen(TOPIC_DEAD_LETTER).messages == []
    unpublished = "SELECT 1 FROM outbox WHERE published_at IS NULL"
    await eventually(lambda: scheduler.db(unpublished), lambda rows: rows == [], what=unpublished)


async def test_a_burst_of_referrals_is_planned_within_every_capacity(scheduler: Running) -> None:
    cases = [(f"c-{i:02d}", ("ZL", "WBW", "WBO")[i % 3]) for i in range(28)]  # 24 open beds in all
    for i, (case, region) in enumerate(cases):
        urgency = "crisis" if i % 7 == 0 else "normal"
        await scheduler.publish(TOPIC_CASE_EVENTS, referred(case, region=region, urgency=urgency), key=case)

    def decided(plan: dict[str, Any]) -> bool:
        return {s["case"] for s in plan["stays"]} | {w["case"] for w in plan["waiting"]} >= {
            c for c, _ in cases
        }

    await eventually(lambda: current_plan(scheduler), decided, what="every case in the plan")
    plan = await settled(scheduler, cases[0][0])
    assert decided(plan)

    nights: dict[tuple[str, date], int] = {}
    load: dict[tuple[str, date], int] = {}
    weeks = NETWORK["settings"]["mst_weeks"]
    for stay in plan["stays"]:
        start, end = date.fromisoformat(stay["start"]), date.fromisoformat(stay["end"])
        assert start >= date(2026, 3, 5) and GROUPS[stay["group"]]["kind"] == "open", stay
        for n in range((end - start).days):
            key = (stay["group"], start + timedelta(days=n))
            nights[key] = nights.get(key, 0) + 1
        for n in range(7 * weeks):
            key = (stay["mst_therapist"], start + timedelta(days=n))
            load[key] = load.get(key, 0) + 1
    assert all(used <= GROUPS[group]["beds"] for (group, _), used in nights.items())
    later = [s for s in plan["stays"] if s["start"] > "2026-03-05"]
    assert later or plan["waiting"], "more cases than open beds: not everyone starts at once"
    assert all(used <= PEOPLE[person]["max_cases"] for (person, _), used in load.items())

    # Every stay in the plan was announced: the last placement decision of each case is its stay.
    decisions = scheduler.seen(TOPIC_DECISIONS)
    for stay in plan["stays"]:
        last = decisions.bodies(case=stay["case"], type="placement_planned")[-1]
        assert (last["group"], last["start"], last["end"]) == (stay["group"], stay["start"], stay["end"])


async def test_capacity_changes_are_checked_by_field_and_move_planned_stays(scheduler: Running) -> None:
    unknown = await scheduler.http.post(
        "/v1/capacity", json={"group": "L99-g9", "beds": 2, "from": "2026-03-05", "until": "2026-04-01"}
    )
    assert unknown.status_code == 422 and fields_of(unknown) == {"group"}, unknown.text
    for until in ("2026-03-05", "2026-03-04"):
        backwards = await scheduler.http.post(
            "/v1/capacity", json={"group": "L02-g1", "beds": 2, "from": "2026-03-05", "until": until}
        )
        assert backwards.status_code == 422 and fields_of(backwards) == {"until"}, backwards.text
    negative = await scheduler.http.post(
        "/v1/capacity", json={"group": "L02-g1", "beds": -1, "from": "2026-03-05", "until": "2026-04-01"}
    )
    assert negative.status_code == 422 and fields_of(negative) == {"beds"}, negative.text
    huge = await scheduler.http.post(
        "/v1/capacity", json={"group": "L02-g1", "beds": 2**31, "from": "2026-03-05", "until": "2026-04-01"}
    )
    assert huge.status_code == 422 and fields_of(huge) == {"beds"}, huge.text

    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-1"), key="c-1")
    [stay] = stays_of(await settled(scheduler, "c-1"), "c-1")
    decisions = scheduler.seen(TOPIC_DECISIONS)
    told = len(decisions.bodies(case="c-1", type="placement_planned"))
    closing = {"group": stay["group"], "beds": 0, "from": "2026-03-01", "until": "2026-06-01"}
    accepted = await scheduler.http.post("/v1/capacity", json=closing)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"group": stay["group"], "beds": 0}

    # The group has no beds any more: a re-plan moves the (not yet started) stay and says so.
    await decisions.wait_for(told + 1, case="c-1", type="placement_planned")
    moved = decisions.bodies(case="c-1", type="placement_planned")[-1]
    assert moved["change"] == "moved" and moved["group"] != stay["group"], moved
    assert GROUPS[moved["group"]]["kind"] == "open" and moved["start"] >= stay["start"]
    plan = await current_plan(scheduler)
    assert [s["group"] for s in stays_of(plan, "c-1")] == [moved["group"]]


async def test_the_plan_answers_the_last_published_plan_while_a_replan_runs(
    scheduler: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-1"), key="c-1")
    before = await settled(scheduler, "c-1")

    entered, release = threading.Event(), threading.Event()
    original = Scheduler.replan

    def held_replan(self: Scheduler, now: datetime) -> Any:
        entered.set()
        release.wait(10)
        return original(self, now)

    monkeypatch.setattr(Scheduler, "replan", held_replan)
    try:
        await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-2"), key="c-2")
        # The plan as of the last committed change (the event), before or during its re-plan.
        published = await current_plan(scheduler)
        assert stays_of(published, "c-1") == stays_of(before, "c-1")
        assert await asyncio.to_thread(entered.wait, 10), "no re-plan started"
        for _ in range(3):  # readers are not blocked, and see no re-plan half done
            answer = await within(scheduler.http.get("/v1/plan"), 2)
            assert answer.status_code == 200, answer.text
            assert answer.json() == published
        metrics = await within(scheduler.http.get("/metrics"), 2)
        assert metrics.status_code == 200
    finally:
        release.set()
    await planned(scheduler, "c-2")  # decided when its event came (not held by the re-plan)
    assert len(stays_of(await plan_with(scheduler, "c-2"), "c-2")) == 1


def cases_in(plan: dict[str, Any]) -> set[str]:
    return {row["case"] for part in ("stays", "meetings", "waiting", "rejected") for row in plan[part]}


async def test_the_plan_shows_each_person_the_cases_of_their_regions(scheduler: Running) -> None:
    regions = {"c-zl": "ZL", "c-wbw": "WBW", "c-wbo": "WBO"}
    for case, region in regions.items():
        await scheduler.publish(TOPIC_CASE_EVENTS, referred(case, region=region), key=case)
    refused = referred("c-wbo").model_copy(update={"event_id": uuid.uuid4()})  # a duplicate referral
    await scheduler.publish(TOPIC_CASE_EVENTS, refused, key="c-wbo")
    for case in regions:
        await plan_with(scheduler, case)
    everything = await current_plan(scheduler)
    assert cases_in(everything) == set(regions) and everything["rejected"], everything

    async def plan_of(person: str) -> dict[str, Any]:
        answer = await scheduler.http.get("/v1/plan", headers=scheduler.as_(person))
        assert answer.status_code == 200, (person, answer.text)
        plan: dict[str, Any] = answer.json()
        return plan

    assert await plan_of("sup0") == everything
    wbo = await plan_of("coord-WBO")
    assert cases_in(wbo) == {"c-wbo"} and [r["case"] for r in wbo["rejected"]] == ["c-wbo"], wbo
    assert wbo["stays"] == stays_of(everything, "c-wbo") and wbo["meetings"] == [
        m for m in everything["meetings"] if m["case"] == "c-wbo"
    ]
    for person in NOT_PLANNERS:
        answer = await scheduler.http.get("/v1/plan", headers=scheduler.as_(person))
        assert answer.status_code == 403 and fields_of(answer) == {"role"}, (person, answer.text)
    no_token = await scheduler.http.get("/v1/plan", headers=NO_TOKEN)
    assert no_token.status_code == 401 and no_token.headers["www-authenticate"].startswith("Bearer")

    # Each case shown is audited for the person it was shown to, and only that.
    async def readers(case: str) -> set[tuple[str, str]]:
        answer = await scheduler.http.get(
            "/v1/audit", params={"case": case}, headers=scheduler.as_("privacy")
        )
        assert answer.status_code == 200, answer.text
        return {(r["person"], r["outcome"]) for r in answer.json() if r["action"] == "read_plan"}

    assert ("coord-WBO", "allowed") in await readers("c-wbo")
    assert {"coord", "sup0"} <= {person for person, _ in await readers("c-zl")}
    assert "coord-WBO" not in {person for person, _ in await readers("c-zl")}
    refusals = await scheduler.db(
        "SELECT person FROM audit WHERE action = 'read_plan' AND outcome = 'refused'"
    )
    assert {r["person"] for r in refusals} == set(NOT_PLANNERS)


async def test_an_explanation_is_for_the_planners_of_the_case_region(scheduler: Running) -> None:
    unknown = await scheduler.http.get("/v1/cases/c-1/explanation", headers=scheduler.as_("coord-WBO"))
    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-1"), key="c-1")  # a ZL case
    await plan_with(scheduler, "c-1")
    path = "/v1/cases/c-1/explanation"
    for person in ("coord", "sup0"):
        answer = await scheduler.http.get(path, headers=scheduler.as_(person))
        assert answer.status_code == 200 and answer.json()["explanation"], (person, answer.text)
    hidden = await scheduler.http.get(path, headers=scheduler.as_("coord-WBO"))
    assert hidden.status_code == unknown.status_code == 404 and hidden.json() == unknown.json()
    for person in NOT_PLANNERS:
        assert (await scheduler.http.get(path, headers=scheduler.as_(person))).status_code == 403, person
    assert (await scheduler.http.get(path, headers=NO_TOKEN)).status_code == 401
    trail = await scheduler.http.get("/v1/audit", params={"case": "c-1"}, headers=scheduler.as_("privacy"))
    seen = {(r["person"], r["outcome"], r["detail"]) for r in trail.json() if r["action"] == "read_plan"}
    assert ("sup0", "allowed", "explanation") in seen
    assert any(person == "coord-WBO" and outcome == "refused" for person, outcome, _ in seen), seen


async def test_capacity_is_changed_by_the_coordinators_of_the_group_region(scheduler: Running) -> None:
    change = {"beds": 2, "from": "2026-06-01", "until": "2026-06-08"}
    zl, wbo = change | {"group": "L02-g1"}, change | {"group": "L00-g1"}  # ZL's and WBO's groups
    for person, body, status in (
        ("coord-WBO", zl, 403),
        ("sup0", zl, 403),
        ("ref-ZL", zl, 403),
        ("th-ZL-0", zl, 403),
        ("ops", zl, 403),
        ("privacy", zl, 403),
        ("ref-ZL", zl | {"group": "L99-g9"}, 403),  # a role that may never: 403 before anything else
        ("coord-WBO", wbo, 202),
        ("coord", zl, 202),
        ("coord", zl | {"group": "L99-g9"}, 422),
    ):
        answer = await scheduler.http.post("/v1/capacity", json=body, headers=scheduler.as_(person))
        assert answer.status_code == status, (person, body, answer.text)
        if status == 403:
            assert fields_of(answer) <= {"group", "role"}, answer.text
    assert (await scheduler.http.post("/v1/capacity", json=zl, headers=NO_TOKEN)).status_code == 401
    plain = await scheduler.http.post(
        "/v1/capacity", content=json.dumps(zl), headers={"content-type": "text/plain"}
    )
    assert plain.status_code == 415 and fields_of(plain) == {"content-type"}, plain.text

    rows = await scheduler.db(
        "SELECT person, outcome, case_id, detail FROM audit WHERE action = 'change_capacity' ORDER BY id"
    )
    allowed = [(r["person"], r["detail"]) for r in rows if r["outcome"] == "allowed"]
    assert allowed == [
        ("coord-WBO", "L00-g1: 2 beds from 2026-06-01 until 2026-06-08"),
        ("coord", "L02-g1: 2 beds from 2026-06-01 until 2026-06-08"),
    ]
    assert all(r["case_id"] is None for r in rows)
    refused = {r["person"] for r in rows if r["outcome"] == "refused"}
    assert refused == {"coord-WBO", "sup0", "ref-ZL", "th-ZL-0", "ops", "privacy"}
    saved = await scheduler.db("SELECT group_id, actor FROM capacity_changes ORDER BY id")
    assert [(r["group_id"], r["actor"]) for r in saved] == [("L00-g1", "coord-WBO"), ("L02-g1", "coord")]


async def test_an_unknown_case_has_no_explanation_and_a_bad_event_is_dead_lettered(
    scheduler: Running,
) -> None:
    answer = await scheduler.http.get("/v1/cases/c-404/explanation")
    assert answer.status_code == 404 and fields_of(answer) == {"case"}, answer.text

    broken = referred("c-1").model_dump(mode="json")
    broken["stay_days"] = "long"
    await scheduler.publish(TOPIC_CASE_EVENTS, broken, key="c-1")
    [dead] = await scheduler.seen(TOPIC_DEAD_LETTER).wait_for(1)
    assert dead["service"] == "scheduler" and dead["topic"] == scheduler.topic(TOPIC_CASE_EVENTS)
    assert "stay_days" in dead["reason"], dead

    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-2"), key="c-2")
    await planned(scheduler, "c-2")
    assert (await scheduler.http.get("/v1/cases/c-1/explanation")).status_code == 404


async def test_the_contracts_document_bodies_problems_and_event_schemas(
    service_settings: ServiceSettings,
) -> None:
    capacity = {"group": "L02-g1", "beds": 2, "from": "2026-03-05", "until": "2026-04-01"}
    staff = {"person": "th-ZL-1", "from": "2026-03-05", "until": "2026-03-09", "status": "absent"}
    async with running(create_app, service_settings, NOW) as scheduler:
        await check_openapi(
            scheduler,
            probes=[
                Probe("post", "/v1/capacity", 202, capacity),
                Probe("post", "/v1/capacity", 422, capacity | {"group": "nope"}),
                Probe("post", "/v1/capacity", 422, capacity | {"until": "2026-03-01"}),
                Probe("post", "/v1/capacity", 422, {}),
                Probe("get", "/v1/plan", 200),
                Probe("get", "/v1/cases/c-404/explanation", 404),
                Probe("get", "/v1/beds?from=2026-03-02&days=7", 200),
                Probe("get", "/v1/beds?days=0", 422),
                Probe("get", "/v1/waiting-list", 200),
                Probe("post", "/v1/capacity?dry_run=true", 200, capacity),
                Probe("post", "/v1/capacity?dry_run=true", 422, capacity | {"group": "nope"}),
                Probe("post", "/v1/staff-changes", 202, staff),
                Probe("post", "/v1/staff-changes", 422, staff | {"person": "nobody"}),
                Probe("post", "/v1/staff-changes", 422, staff | {"until": "2026-03-01"}),
                Probe("post", "/v1/staff-changes", 422, staff | {"status": "ill"}),
            ],
            bodies={
                ("post", "/v1/capacity"): CapacityRequest,
                ("post", "/v1/staff-changes"): StaffChangeRequest,
            },
        )
    await check_asyncapi(
        create_app,
        service_settings,
        receives={TOPIC_CASE_EVENTS: CaseEventV1},
        sends={TOPIC_DECISIONS: DecisionV1},
    )


async def test_an_expected_placement_is_promised_early_by_a_coordinator_of_the_case_region(
    scheduler: Running,
) -> None:
    unknown = await scheduler.http.post("/v1/cases/c-1/promise", headers=scheduler.as_("coord"))
    assert unknown.status_code == 404, unknown.text
    later = NOW.date() + timedelta(30)  # beyond the promise horizon: expected, not promised
    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-1", earliest=later), key="c-1")
    waitlisted = await eventually(
        lambda: scheduler.seen(TOPIC_DECISIONS).bodies(case="c-1", type="case_waitlisted"),
        bool,
        what="case_waitlisted of c-1",
    )
    assert waitlisted[0]["reason"] == "expected" and waitlisted[0]["expected_start"] == later.isoformat()
    assert not scheduler.seen(TOPIC_DECISIONS).bodies(case="c-1", type="placement_planned")
    path = "/v1/cases/c-1/promise"
    hidden = await scheduler.http.post(path, headers=scheduler.as_("coord-WBO"))
    assert hidden.status_code == 404 and hidden.json() == unknown.json()
    for person in ("sup0", *NOT_PLANNERS):
        assert (await scheduler.http.post(path, headers=scheduler.as_(person))).status_code == 403, person
    assert (await scheduler.http.post(path, headers=NO_TOKEN)).status_code == 401
    answer = await scheduler.http.post(path, headers=scheduler.as_("coord"))
    assert answer.status_code == 202, answer.text
    assert answer.json()["start"] == later.isoformat()
    decision = await planned(scheduler, "c-1")
    assert decision["start"] == later.isoformat() and decision["change"] == "new"
    again = await scheduler.http.post(path, headers=scheduler.as_("coord"))
    assert again.status_code == 409 and "already promised" in again.text
    trail = await scheduler.http.get("/v1/audit", params={"case": "c-1"}, headers=scheduler.as_("privacy"))
    seen = {(r["person"], r["outcome"]) for r in trail.json() if r["action"] == "promise_placement"}
    assert ("coord", "allowed") in seen and ("coord-WBO", "refused") in seen


async def test_a_therapist_who_leaves_hands_the_case_over_and_only_a_coordinator_of_their_region_says_so(
    scheduler: Running,
) -> None:
    await scheduler.publish(TOPIC_CASE_EVENTS, referred("c-1"), key="c-1")
    placed = await planned(scheduler, "c-1")
    leaving = placed["mst_therapist"]
    body = {"person": leaving, "from": NOW.date().isoformat(), "until": None, "status": "left"}
    for person in ("sup0", *NOT_PLANNERS):
        answer = await scheduler.http.post("/v1/staff-changes", json=body, headers=scheduler.as_(person))
        assert answer.status_code == 403, (person, answer.text)
    other = await scheduler.http.post("/v1/staff-changes", json=body, headers=scheduler.as_("coord-WBO"))
    assert other.status_code == 403 and "staff change of" in other.text
    assert (await scheduler.http.post("/v1/staff-changes", json=body, headers=NO_TOKEN)).status_code == 401
    nobody = await scheduler.http.post(
        "/v1/staff-changes", json=body | {"person": "nobody"}, headers=scheduler.as_("coord")
    )
    assert nobody.status_code == 422
    assert nobody.json()["problems"] == [{"field": "person", "reason": "unknown person 'nobody'"}]
    referrer = await scheduler.http.post(
        "/v1/staff-changes", json=body | {"person": "ref-ZL"}, headers=scheduler.as_("coord")
    )
    assert referrer.status_code == 422 and "staff changes are for" in referrer.text
    answer = await scheduler.http.post("/v1/staff-changes", json=body, headers=scheduler.as_("coord"))
    assert answer.status_code == 202, answer.text
    successor = answer.json()["handed_over"]["c-1"]
    assert successor != leaving and PEOPLE[successor]["role"] == "mst_therapist"
    assert "ZL" in PEOPLE[successor]["regions"]
    handover = await eventually(
        lambda: scheduler.seen(TOPIC_DECISIONS).bodies(case="c-1", type="placement_planned"),
        lambda found: any(d["change"] == "handover" for d in found),
        what="the handover of c-1",
    )
    [decision] = [d for d in handover if d["change"] == "handover"]
    assert decision["mst_therapist"] == successor and decision["handed_over_from"] == [leaving]
    assert decision["trajectbegeleider"] == placed["trajectbegeleider"]  # everyone else stays
    plan = await current_plan(scheduler)
    assert [(h["case"], h["previous"], h["successor"]) for h in plan["handovers"]] == [
        ("c-1", leaving, successor)
    ]
    tb_body = body | {"person": placed["trajectbegeleider"]}
    tb_answer = await scheduler.http.post("/v1/staff-changes", json=tb_body, headers=scheduler.as_("coord"))
    assert tb_answer.status_code == 202, tb_answer.text
    tb_successor = tb_answer.json()["handed_over"]["c-1"]
    assert PEOPLE[tb_successor]["role"] == "trajectbegeleider" and tb_successor != placed["trajectbegeleider"]
    rows = await scheduler.db(
        "SELECT person, outcome, detail FROM audit WHERE action = 'report_staff_change'"
    )
    allowed = [(r["person"], r["detail"]) for r in rows if r["outcome"] == "allowed"]
    assert allowed[0] == ("coord", f"{leaving} left from {NOW.date()} until for good") and len(allowed) == 2
    assert {r["person"] for r in rows if r["outcome"] == "refused"} >= {"coord-WBO", "sup0", "ops"}


async def test_the_plan_of_one_case_is_that_case_alone_and_only_it_is_audited(scheduler: Running) -> None:
    for case in ("c-1", "c-2"):
        await scheduler.publish(TOPIC_CASE_EVENTS, referred(case), key=case)
        await planned(scheduler, case)
    answer = await scheduler.http.get("/v1/plan", params={"case": "c-2"}, headers=scheduler.as_("coord"))
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert {s["case"] for s in plan["stays"]} == {"c-2"} and {m["case"] for m in plan["meetings"]} == {"c-2"}
    other = await scheduler.http.get("/v1/plan", params={"case": "c-2"}, headers=scheduler.as_("coord-WBO"))
    assert other.status_code == 200 and other.json()["stays"] == []
    bad = await scheduler.http.get("/v1/plan", params={"case": "no spaces"}, headers=scheduler.as_("coord"))
    assert bad.status_code == 422
    rows = await scheduler.db("SELECT person, case_id FROM audit WHERE action = 'read_plan' ORDER BY id")
    assert [(r["person"], r["case_id"]) for r in rows][-2:] == [("coord", "c-2"), ("coord-WBO", None)]
