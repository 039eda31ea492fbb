"""Intake's use cases and handlers: HTTP in, events out through the outbox, decisions in from Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services.intake.app import create_app
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DEAD_LETTER,
    TOPIC_DECISIONS,
    TOPIC_TIMEOUT_ADDRESS,
    CaseEventV1,
    DecisionV1,
    PlacementPlanned,
    ReferralRegistered,
    TimeoutAddressRecorded,
)
from shared.inputs import LaterEventRequest, ReferralRequest
from shared.kinds import KINDS
from shared.settings import ServiceSettings
from tests.component.conftest import NOW, Running, eventually, fields_of, running
from tests.component.contracts import Probe, check_asyncapi, check_openapi

BIRTH_DATE = "2012-05-01"  # 13 on the earliest start: fits thuisbest_open (10-19) and thuisbest (12-17)
WATCH = (TOPIC_CASE_EVENTS, TOPIC_TIMEOUT_ADDRESS, TOPIC_DEAD_LETTER)


def referral(case: str = "c-1", **extra: Any) -> dict[str, Any]:
    return {
        "case": case,
        "kind": "thuisbest_open",
        "birth_date": BIRTH_DATE,
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "urgency": "normal",
        "earliest_start": "2026-03-05",
    } | extra


def placement(
    case: str, group: str = "L02-g1", start: date = date(2026, 3, 5), **extra: Any
) -> PlacementPlanned:
    fields: dict[str, Any] = {
        "occurred_at": NOW,
        "case": case,
        "kind": "thuisbest_open",
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "group": group,
        "location": group.split("-")[0],
        "region": "ZL",
        "start": start,
        "end": start + timedelta(days=42),
        "mst_therapist": "th-ZL-0",
        "trajectbegeleider": "tb-ZL-0",
        "explanation": "the nearest open group with a free bed",
    }
    return PlacementPlanned(**(fields | extra))


@pytest.fixture
async def intake(service_settings: ServiceSettings) -> AsyncIterator[Running]:
    async with running(create_app, service_settings, NOW, watch=WATCH) as svc:
        yield svc


async def test_a_referral_is_registered_once_and_a_different_one_under_its_id_conflicts(
    intake: Running,
) -> None:
    first = await intake.http.post("/v1/referrals", json=referral())
    assert first.status_code == 201, first.text
    assert first.json() == {"case": "c-1", "status": "registered"}

    # The same referral again, with a default written out: a repeat, not a new case.
    again = await intake.http.post("/v1/referrals", json=referral(conflicts_with=[]))
    assert again.status_code == 200, again.text
    assert again.json() == {"case": "c-1", "status": "registered"}
    # The kind's default stay written out is the same referral too.
    default_stay = KINDS["thuisbest_open"].default_stay
    spelled = await intake.http.post("/v1/referrals", json=referral(stay_days=default_stay))
    assert spelled.status_code == 200, spelled.text

    other = await intake.http.post("/v1/referrals", json=referral(urgency="crisis"))
    assert other.status_code == 409, other.text
    assert fields_of(other) == {"case"}

    case = await intake.http.get("/v1/cases/c-1")
    assert case.status_code == 200 and case.json()["status"] == "registered"
    # Published once: neither the repeat nor the refused one reached the outbox.
    await intake.seen(TOPIC_CASE_EVENTS).wait_for(case="c-1", type="referral_registered")
    rows = await intake.db("SELECT topic FROM outbox")
    assert [r["topic"] for r in rows] == [intake.topic(TOPIC_CASE_EVENTS)]
    assert len(intake.seen(TOPIC_CASE_EVENTS).bodies(case="c-1")) == 1


async def test_concurrent_repeats_register_one_case(intake: Running) -> None:
    same = await asyncio.gather(*(intake.http.post("/v1/referrals", json=referral()) for _ in range(4)))
    assert sorted(r.status_code for r in same) == [200, 200, 200, 201], [r.text for r in same]
    rivals = [referral(case="c-2", urgency=u) for u in ("normal", "urgent", "crisis")]
    answers = await asyncio.gather(*(intake.http.post("/v1/referrals", json=r) for r in rivals))
    assert sorted(r.status_code for r in answers) == [201, 409, 409], [r.text for r in answers]
    await intake.seen(TOPIC_CASE_EVENTS).wait_for(2)
    await asyncio.sleep(0.1)
    assert sorted(e["case"] for e in intake.seen(TOPIC_CASE_EVENTS).bodies()) == ["c-1", "c-2"]


async def test_a_refused_referral_names_every_problem_in_one_answer(intake: Running) -> None:
    malformed = referral(birth_date="1st of May", urgency="soon", home_region="XX", referrer="nobody")
    answer = await intake.http.post("/v1/referrals", json=malformed)
    assert answer.status_code == 422, answer.text
    assert fields_of(answer) == {"birth_date", "urgency", "home_region", "referrer"}

    # Well-formed but against the rules: a start before the referral, a youth too old, an unknown kind.
    wrong = referral(case="c-2", earliest_start="2026-02-01", birth_date="2000-01-01", kind="thuisbest_plus")
    answer = await intake.http.post("/v1/referrals", json=wrong)
    assert answer.status_code == 422, answer.text
    assert fields_of(answer) == {"earliest_start", "kind"}  # no age range without a kind

    too_old = referral(case="c-3", birth_date="2000-01-01")
    answer = await intake.http.post("/v1/referrals", json=too_old)
    assert answer.status_code == 422 and fields_of(answer) == {"birth_date"}, answer.text

    for case in ("c-1", "c-2", "c-3"):
        assert (await intake.http.get(f"/v1/cases/{case}")).status_code == 404
    assert await intake.db("SELECT 1 FROM outbox") == []


async def test_a_referral_reaches_the_case_event_topic_without_identity_data(intake: Running) -> None:
    address = "Dorpsstraat 1, Goes (tante Els)"
    body = referral(timeout_address=address)
    answer = await intake.http.post("/v1/referrals", json=body, headers={"x-user": "alice"})
    assert answer.status_code == 201, answer.text
    assert (await intake.http.get("/v1/cases/c-1", headers={"x-user": "bob"})).status_code == 200
    log = await intake.db("SELECT actor, case_id, action FROM access_log ORDER BY id")
    assert [tuple(r) for r in log] == [("alice", "c-1", "create"), ("bob", "c-1", "read")]

    [event] = await intake.seen(TOPIC_CASE_EVENTS).wait_for(case="c-1")
    registered = ReferralRegistered.model_validate(event)  # the published schema, nothing more
    assert (registered.kind, registered.home_region, registered.referrer) == (
        "thuisbest_open",
        "ZL",
        "ref-ZL",
    )
    assert registered.earliest_start == date(2026, 3, 5) and registered.occurred_at == NOW
    assert registered.eligible_from <= registered.earliest_start <= registered.eligible_until
    assert registered.has_timeout_address

    [raw] = [m for m in intake.seen(TOPIC_CASE_EVENTS).messages]
    assert raw.key == "c-1"  # keyed by case: one case's events stay in order
    for secret in (b"birth_date", BIRTH_DATE.encode(), b"Dorpsstraat"):
        assert secret not in raw.raw, f"{secret!r} published on the case-event topic"

    # The time-out address goes to its own topic (for the notifier only).
    [recorded] = await intake.seen(TOPIC_TIMEOUT_ADDRESS).wait_for(case="c-1")
    assert recorded["address"] == address and BIRTH_DATE not in str(recorded)

    # ... and the relay marks both outbox rows published once they are on the broker.
    unpublished = "SELECT topic FROM outbox WHERE published_at IS NULL"
    await eventually(lambda: intake.db(unpublished), lambda rows: rows == [], what=unpublished)
    assert len(await intake.db("SELECT 1 FROM outbox")) == 2


async def test_later_events_are_published_in_order_and_refused_by_field(intake: Running) -> None:
    assert (await intake.http.post("/v1/referrals", json=referral())).status_code == 201
    unknown = await intake.http.post("/v1/cases/c-9/events", json={"type": "withdraw"})
    assert unknown.status_code == 404 and fields_of(unknown) == {"case"}, unknown.text
    future = await intake.http.post(
        "/v1/cases/c-1/events",
        json={"type": "meeting_held", "meeting": "kennismaking", "at": "2026-03-09T10:00"},
    )
    assert future.status_code == 422 and fields_of(future) == {"at"}, future.text
    bad_type = await intake.http.post("/v1/cases/c-1/events", json={"type": "party"})
    assert bad_type.status_code == 422 and fields_of(bad_type) == {"type"}, bad_type.text

    held = await intake.http.post(
        "/v1/cases/c-1/events", json={"type": "meeting_held", "meeting": "kennismaking"}
    )
    assert held.status_code == 202, held.text
    closed = await intake.http.post("/v1/cases/c-1/events", json={"type": "close"})
    assert closed.status_code == 202, closed.text
    after = await intake.http.post("/v1/cases/c-1/events", json={"type": "withdraw"})
    assert after.status_code == 409 and fields_of(after) == {"case"}, after.text
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "closed"

    events = await intake.seen(TOPIC_CASE_EVENTS).wait_for(3, case="c-1")
    assert [e["type"] for e in events] == ["referral_registered", "meeting_held", "case_closed"]


async def test_a_decision_is_applied_once_and_the_status_follows_the_clock(intake: Running) -> None:
    assert (await intake.http.post("/v1/referrals", json=referral())).status_code == 201
    first = placement("c-1", group="L02-g1")
    await intake.publish(TOPIC_DECISIONS, first, key="c-1")
    case = (await intake.http.get("/v1/cases/c-1")).json()
    assert case["status"] == "planned" and case["stay"]["group"] == "L02-g1", case

    moved = placement("c-1", group="L02-g2", change="moved")
    await intake.publish(TOPIC_DECISIONS, moved, key="c-1")
    # The first decision delivered again (same event_id) must not undo the later one.
    await intake.publish(TOPIC_DECISIONS, first, key="c-1")
    case = (await intake.http.get("/v1/cases/c-1")).json()
    assert case["stay"]["group"] == "L02-g2", case
    assert intake.seen(TOPIC_DEAD_LETTER).messages == []

    intake.clock.set(datetime(2026, 3, 5, 9, 0))
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "placed"
    intake.clock.set(datetime(2026, 4, 16, 9, 0))  # 42 days after the start
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "home"


async def test_an_undecodable_decision_is_dead_lettered_and_later_ones_still_apply(intake: Running) -> None:
    assert (await intake.http.post("/v1/referrals", json=referral())).status_code == 201
    broken = placement("c-1").model_dump(mode="json")
    del broken["group"]
    await intake.publish(TOPIC_DECISIONS, broken, key="c-1")
    await intake.publish(TOPIC_DECISIONS, b"{not json", key="c-1")
    await intake.publish(TOPIC_DECISIONS, {"type": "placement_exploded", "case": "c-1"}, key="c-1")

    dead = await intake.seen(TOPIC_DEAD_LETTER).wait_for(3)
    assert all(d["service"] == "intake" and d["topic"] == intake.topic(TOPIC_DECISIONS) for d in dead), dead
    assert all(d["reason"].startswith("undecodable event") for d in dead), dead
    assert "group" in dead[0]["reason"] and str(broken["event_id"]) in dead[0]["body"]
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "registered"

    await intake.publish(TOPIC_DECISIONS, placement("c-1"), key="c-1")
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "planned"
    # A decision about a case intake does not know is not an error either.
    await intake.publish(TOPIC_DECISIONS, placement("c-404"), key="c-404")
    assert len(intake.seen(TOPIC_DEAD_LETTER).messages) == 3
    metrics = (await intake.http.get("/metrics")).text
    assert 'thuisbest_dead_letters_total{service="intake"' in metrics


async def test_the_contracts_document_bodies_problems_and_event_schemas(
    service_settings: ServiceSettings,
) -> None:
    async with running(create_app, service_settings, NOW) as intake:  # no watchers: they would show
        await check_openapi(
            intake,
            probes=[
                Probe("post", "/v1/referrals", 201, referral()),
                Probe("post", "/v1/referrals", 200, referral()),
                Probe("post", "/v1/referrals", 409, referral(urgency="urgent")),
                Probe("post", "/v1/referrals", 422, referral(case="c-2", home_region="XX")),
                Probe("post", "/v1/referrals", 422, [1, 2]),
                Probe(
                    "post", "/v1/cases/c-1/events", 202, {"type": "meeting_held", "meeting": "kennismaking"}
                ),
                Probe("post", "/v1/cases/c-1/events", 422, {"type": "timeout_request", "days": 99}),
                Probe("post", "/v1/cases/c-9/events", 404, {"type": "close"}),
                Probe("post", "/v1/cases/c-1/events", 202, {"type": "close"}),
                Probe("post", "/v1/cases/c-1/events", 409, {"type": "close"}),
                Probe("get", "/v1/cases/c-1", 200),
                Probe("get", "/v1/cases/c-9", 404),
            ],
            bodies={
                ("post", "/v1/referrals"): ReferralRequest,
                ("post", "/v1/cases/{case}/events"): LaterEventRequest,
            },
        )
    await check_asyncapi(
        create_app,
        service_settings,
        receives={TOPIC_DECISIONS: DecisionV1},
        sends={TOPIC_CASE_EVENTS: CaseEventV1, TOPIC_TIMEOUT_ADDRESS: TimeoutAddressRecorded},
    )
