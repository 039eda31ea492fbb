"""Component tier: a service's app in this process, its broker in memory (TestKafkaBroker), its
database a fresh one on the real embedded PostgreSQL. No processes, no real broker."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared.clock import VirtualClock
from shared.events import ReferralRegistered
from shared.issuer import ISSUER, Issuer
from shared.kinds import eligible_window, kind_spec
from shared.settings import ServiceSettings

SAMPLE_NETWORK = Path(__file__).resolve().parents[2] / "shared" / "data" / "demo-network.json"


@dataclass(frozen=True)
class Seen:
    """One message a watcher saw on a topic: its key, raw bytes and the JSON it decodes to (or None)."""

    key: str
    raw: bytes
    body: Any


@dataclass
class Watcher:
    """Records every message published on one topic of the in-memory broker."""

    topic: str
    messages: list[Seen] = field(default_factory=list)

    async def handle(self, msg: KafkaMessage) -> None:
        raw = bytes(msg.body or b"")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        key = msg.raw_message.key  # type: ignore[union-attr]
        self.messages.append(Seen((key or b"").decode(), raw, body))

    def bodies(self, **match: Any) -> list[Any]:
        """The decoded messages whose top-level fields equal `match`."""
        return [
            m.body
            for m in self.messages
            if isinstance(m.body, dict) and all(m.body.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, count: int = 1, within: float = 10.0, **match: Any) -> list[Any]:
        """At least `count` messages matching `match`; fails after `within` seconds."""
        found: list[Any] = await eventually(lambda: self.bodies(**match), lambda f: len(f) >= count, within)
        return found


async def eventually(
    probe: Callable[[], Any], ok: Callable[[Any], bool] = bool, within: float = 10.0, what: str = ""
) -> Any:
    """Poll `probe()` (sync or async) until `ok(result)`; the last result, or fail after `within` s."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if ok(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what or probe}: {result!r}")
        await asyncio.sleep(0.02)


@dataclass
class Running:
    app: FastAPI
    broker: KafkaBroker  # the in-memory test broker: publish to drive subscribers
    http: httpx.AsyncClient
    clock: VirtualClock
    settings: ServiceSettings
    dsn: str
    issuer: Issuer
    watchers: dict[str, Watcher] = field(default_factory=dict)

    def as_(self, person: str, **claims: Any) -> dict[str, str]:
        """Request headers that sign in as `person` (the client signs in as `coord` by default)."""
        return {"authorization": f"Bearer {self.issuer.token(person, **claims)}"}

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def seen(self, name: str) -> Watcher:
        """The watcher of topic `name` (unprefixed), as asked for with `running(..., watch=)`."""
        return self.watchers[name]

    async def publish(self, name: str, payload: Any, key: str | None = None) -> None:
        """Publish on topic `name` (unprefixed) as the relay does: JSON bytes, keyed by case.
        The in-memory broker runs the subscribers before this returns."""
        if hasattr(payload, "model_dump_json"):
            data = payload.model_dump_json().encode()
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload).encode()
        await self.broker.publish(
            data,
            topic=self.topic(name),
            key=(key or "").encode() or None,
            headers={"content-type": "application/json"},
        )

    async def db(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    """The test token issuer: a signing key whose public JWKS the services trust."""
    return Issuer.ensure(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="session")
def identity_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Intake's identity-store keys: one `key-id:base64` line per key, the first encrypts."""
    path = tmp_path_factory.mktemp("keys") / "identity.keys"
    path.write_text(f"k1:{base64.b64encode(os.urandom(32)).decode()}\n")
    return path


@pytest.fixture
def service_settings(fresh_db: str, tmp_path: Path, issuer: Issuer, identity_keys: Path) -> ServiceSettings:
    return ServiceSettings(
        auth_jwks_file=issuer.jwks_file,
        auth_issuer=ISSUER,
        webhook_secret="component-test-secret",
        identity_key_file=identity_keys,
        intake_url="http://intake.test",
        database_url=fresh_db,
        kafka_bootstrap="127.0.0.1:9",  # never reached: the broker is the in-memory test broker
        network_file=SAMPLE_NETWORK,
        mail_dir=tmp_path / "mail",
        topic_prefix=f"c-{uuid.uuid4().hex[:8]}.",  # the services must apply it everywhere
        solver_time_limit_seconds=1.0,
        outbox_poll_seconds=0.05,
        replan_debounce_seconds=0.05,
        dispatch_poll_seconds=0.1,
    )


AppFactory = Callable[..., FastAPI]


@contextlib.asynccontextmanager
async def running(
    factory: AppFactory,
    settings: ServiceSettings,
    now: datetime,
    watch: Iterable[str] = (),
    *,
    person: str = "coord",
) -> AsyncIterator[Running]:
    """The app with its lifespan run (migrations, use cases, relay) inside TestKafkaBroker.

    `watch`: unprefixed topic names to record every message of (see `Running.seen`); the
    watchers subscribe before the test broker starts, as subscribers must."""
    clock = VirtualClock(now)
    assert settings.auth_jwks_file is not None
    issuer = Issuer.load(settings.auth_jwks_file.parent)  # the issuer the settings trust
    app = factory(settings, clock)
    broker = app.state.runtime.broker
    watchers = {name: Watcher(settings.topic(name)) for name in watch}
    for watcher in watchers.values():
        broker.subscriber(watcher.topic)(watcher.handle)
    async with TestKafkaBroker(broker) as test_broker, app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        signed_in = {"authorization": f"Bearer {issuer.token(person, minutes=120)}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=signed_in
        ) as client:
            yield Running(app, test_broker, client, clock, settings, settings.database_url, issuer, watchers)


def fields_of(response: httpx.Response) -> set[str]:
    """The fields a refusal names; every refusal is in the problem format (RFC 9457 problem details
    with our `problems` list) with a reason each."""
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "problems"}, body
    assert response.headers["content-type"] == "application/problem+json", response.headers
    assert body["status"] == response.status_code, body
    assert all(p["reason"] for p in body["problems"]), body
    return {p["field"] for p in body["problems"]}


NOW = datetime(2026, 3, 2, 10, 0)  # a Monday: every component test's clock starts here
FIRST_START = date(2026, 3, 5)  # the earliest start of the referrals built here
BIRTH_DATE = "2012-05-01"  # 13 on the earliest start: fits thuisbest_open (10-19) and thuisbest (12-17)


def referral(case: str = "c-1", **extra: Any) -> dict[str, Any]:
    """The body of `POST /v1/referrals` for a thuisbest_open youth of 13 in ZL (as `referred`)."""
    return {
        "case": case,
        "kind": "thuisbest_open",
        "birth_date": BIRTH_DATE,
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "urgency": "normal",
        "earliest_start": FIRST_START.isoformat(),
    } | extra


def referred(
    case: str, *, region: str = "ZL", earliest: date = FIRST_START, **extra: Any
) -> ReferralRegistered:
    """The event intake publishes for a thuisbest_open referral of a 13-year-old."""
    kind = kind_spec("thuisbest_open")
    eligible_from, eligible_until = eligible_window(kind, date.fromisoformat(BIRTH_DATE))
    fields: dict[str, Any] = {
        "occurred_at": NOW,
        "case": case,
        "kind": kind.name,
        "home_region": region,
        "referrer": f"ref-{region}",
        "urgency": "normal",
        "earliest_start": earliest,
        "stay_days": kind.default_stay,
        "eligible_from": eligible_from,
        "eligible_until": eligible_until,
    }
    return ReferralRegistered(**(fields | extra))
