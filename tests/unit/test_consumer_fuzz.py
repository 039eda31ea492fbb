"""Fuzzing every consumer's event decoder: each message is processed or dead-lettered, never stuck.

The services' own apps (their subscribers, typed payloads and the dead-letter middleware) on the
in-memory broker, with their use cases replaced by fakes: random JSON, random bytes and valid
events with mutated fields go in; for each, either the use case took it or exactly one dead letter
was counted, and no exception escaped (one would nack the message and stall its partition).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from services.intake.app import create_app as intake_app
from services.notifier.app import create_app as notifier_app
from services.scheduler.app import create_app as scheduler_app
from shared.clock import VirtualClock
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DECISIONS,
    CaseClosed,
    CaseWaitlisted,
    DischargeReported,
    MachtigingGranted,
    PlacementPlanned,
    ReferralRegistered,
    RequestRefused,
    StartgesprekPlanned,
    TimeoutRequested,
)
from shared.issuer import ISSUER, Issuer
from shared.settings import DEMO_NETWORK, ServiceSettings

NOW = datetime(2026, 3, 2, 10, 0)
CASES = ["c-1", "boom-1", "invalid-1"]  # the fakes fail for good on "boom" (database) and "invalid"


class Strict(BaseModel):
    n: int


@dataclass
class FakeUseCase:
    """Takes every event; fails for good (a constraint, a validation error) on marked cases."""

    taken: list[Any] = field(default_factory=list)

    async def take(self, event: Any) -> None:
        case = str(getattr(event, "case", ""))
        if case.startswith("boom"):
            raise asyncpg.UniqueViolationError("duplicate key value violates unique constraint")
        if case.startswith("invalid"):
            Strict.model_validate({"n": "many"})  # a use case's own validation error
        self.taken.append(event)

    # the names each service's handlers call
    apply_decision = record_case_event = take_event = take


@dataclass
class Consumer:
    app: FastAPI
    topics: list[str]
    fake: FakeUseCase

    def dead_letters(self) -> float:
        registry = self.app.state.runtime.registry
        total = 0.0
        for metric in registry.collect():
            if metric.name == "thuisbest_dead_letters":
                total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
        return total


@pytest.fixture(scope="module")
def consumers() -> Iterator[list[Consumer]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        issuer = Issuer.ensure(folder / "issuer")
        keys = folder / "identity.keys"
        keys.write_text(f"k1:{base64.b64encode(os.urandom(32)).decode()}\n")
        service_settings = ServiceSettings(
            auth_jwks_file=issuer.jwks_file,
            auth_issuer=ISSUER,
            webhook_secret="fuzz-test-secret",
            identity_key_file=keys,
            kafka_bootstrap="127.0.0.1:9",
            network_file=DEMO_NETWORK,
            mail_dir=folder / "mail",
            topic_prefix="fuzz.",
        )
        found = []
        for factory, state, topics in (
            (intake_app, "intake", [TOPIC_DECISIONS]),
            (scheduler_app, "planner", [TOPIC_CASE_EVENTS]),
            (notifier_app, "notifier", [TOPIC_CASE_EVENTS, TOPIC_DECISIONS]),
        ):
            app = factory(service_settings, VirtualClock(NOW))
            fake = FakeUseCase()
            setattr(app.state, state, fake)
            found.append(Consumer(app, [service_settings.topic(t) for t in topics], fake))
        yield found


def valid_events() -> list[BaseModel]:
    base: dict[str, Any] = {"occurred_at": NOW, "case": "c-1"}
    return [
        ReferralRegistered(
            **base,
            kind="thuisbest_open",
            home_region="ZL",
            referrer="ref-ZL",
            urgency="normal",
            earliest_start=date(2026, 3, 5),
            stay_days=84,
            eligible_from=date(2026, 3, 5),
            eligible_until=date(2026, 12, 31),
        ),
        MachtigingGranted(**base, valid_from=date(2026, 3, 1), valid_until=date(2026, 9, 1)),
        DischargeReported(**base, date=date(2026, 4, 1)),
        TimeoutRequested(**base, days=3),
        CaseClosed(**base),
        PlacementPlanned(
            **base,
            kind="thuisbest_open",
            home_region="ZL",
            referrer="ref-ZL",
            group="L02-g1",
            location="L02",
            region="ZL",
            start=date(2026, 3, 5),
            end=date(2026, 5, 28),
            mst_therapist="t1",
            trajectbegeleider="tb1",
            explanation="fits",
        ),
        CaseWaitlisted(**base, reason="no bed", explanation="full"),
        StartgesprekPlanned(**base, start=NOW, end=NOW, place="L02", attendees=["t1"], sequence=0),
        RequestRefused(**base, event="timeout", at=NOW, reason="no bed"),
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    event = json.loads(draw(st.sampled_from(valid_events())).model_dump_json())
    event["case"] = draw(st.sampled_from(CASES))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(sorted(event)))
        how = draw(st.sampled_from(["replace", "drop", "add"]))
        if how == "replace":
            event[name] = draw(json_values)
        elif how == "drop":
            event.pop(name, None)
        else:
            event[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        if not event:
            break
    return json.dumps(event).encode()


messages = st.one_of(
    mutated_events(),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
)


async def feed(consumer: Consumer, batch: list[tuple[int, bytes]]) -> None:
    broker = consumer.app.state.runtime.broker
    async with TestKafkaBroker(broker) as test_broker:
        for pick, body in batch:
            topic = consumer.topics[pick % len(consumer.topics)]
            taken, dead = len(consumer.fake.taken), consumer.dead_letters()
            # an exception out of here is what would stall the partition
            await test_broker.publish(
                body, topic=topic, key=b"c-1", headers={"content-type": "application/json"}
            )
            outcomes = (len(consumer.fake.taken) - taken, consumer.dead_letters() - dead)
            assert outcomes in ((1, 0), (0, 1)), (topic, body[:300], outcomes)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(st.tuples(st.integers(0, 1), messages), min_size=1, max_size=6))
def test_every_message_is_processed_or_dead_lettered(
    consumers: list[Consumer], batch: list[tuple[int, bytes]]
) -> None:
    for consumer in consumers:
        asyncio.run(feed(consumer, batch))


def test_each_valid_event_is_taken_and_each_kind_of_failure_is_dead_lettered(
    consumers: list[Consumer],
) -> None:
    """The examples the fuzzing must meet at least: valid events, each failure of a use case."""
    intake, scheduler, notifier = consumers

    def body(event: BaseModel, case: str = "c-1") -> bytes:
        return json.dumps(json.loads(event.model_dump_json()) | {"case": case}).encode()

    events = valid_events()
    decisions = [body(e) for e in events if getattr(e, "type", "") in DECISION_TYPES]
    case_events = [body(e) for e in events if getattr(e, "type", "") not in DECISION_TYPES]
    for consumer, bodies, pick in (
        (intake, decisions, 0),
        (scheduler, case_events, 0),
        (notifier, case_events, 0),
        (notifier, decisions, 1),
    ):
        before = len(consumer.fake.taken)
        asyncio.run(feed(consumer, [(pick, b) for b in bodies]))
        assert len(consumer.fake.taken) - before == len(bodies)

    registry: Callable[[Consumer, str], float] = lambda c, reason: sum(  # noqa: E731
        s.value
        for m in c.app.state.runtime.registry.collect()
        if m.name == "thuisbest_dead_letters"
        for s in m.samples
        if s.name.endswith("_total") and s.labels["reason"] == reason
    )
    before = {reason: registry(scheduler, reason) for reason in ("undecodable", "handler_failed")}
    referral = events[0]
    asyncio.run(
        feed(
            scheduler,
            [(0, b"{oops"), (0, body(referral, "boom-1")), (0, body(referral, "invalid-1")), (0, b"[1]")],
        )
    )
    assert registry(scheduler, "undecodable") - before["undecodable"] == 2
    assert registry(scheduler, "handler_failed") - before["handler_failed"] == 2


DECISION_TYPES = {"placement_planned", "case_waitlisted", "startgesprek_planned", "request_refused"}
