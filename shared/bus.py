"""Kafka plumbing every service shares: broker factory, outbox relay, deduplicating consumption, dead letters.

Nothing lost, nothing twice: a service writes its state change and its outgoing events in one
PostgreSQL transaction (the outbox); the relay publishes them and marks them published; a
consumer records each event id in `processed_events` in the same transaction as its effects and
commits its Kafka offset only after that transaction (ack policy NACK_ON_ERROR).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import BaseMiddleware
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ValidationError

from shared.aio import wait_set
from shared.events import MessageDeadLettered
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


def make_broker(settings: ServiceSettings, service: str, registry: CollectorRegistry) -> KafkaBroker:
    # The embedded broker has no idempotent producer; duplicates are handled by consumers.
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=f"thuisbest-{service}",
        enable_idempotence=False,
        acks=1,
        middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name=service)],
    )


def subscriber_options(settings: ServiceSettings, group: str) -> dict[str, Any]:
    return {
        "group_id": settings.topic(group),
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "rebalance_timeout_ms": settings.kafka_rebalance_timeout_ms,
        "max_poll_interval_ms": settings.kafka_max_poll_interval_ms,
    }


def subscribe(
    broker: KafkaBroker,
    settings: ServiceSettings,
    topic: str,
    group: str,
    handler: Callable[[Any], Awaitable[None]],
) -> None:
    """Subscribe a typed handler: its payload type is the schema in /asyncapi.json, and the
    message is decoded into it before the call (undecodable: dead letter, see below)."""
    broker.subscriber(settings.topic(topic), **subscriber_options(settings, group))(handler)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    event: BaseModel  # has `event_id` and `case`

    @property
    def key(self) -> str:
        return str(getattr(self.event, "case", ""))


async def add_to_outbox(conn: asyncpg.Connection, items: Iterable[Outgoing]) -> int:
    """Inside the caller's transaction: queue events for the relay."""
    rows = [
        (item.event.event_id, item.topic, item.key, item.event.model_dump_json())  # type: ignore[attr-defined]
        for item in items
    ]
    if rows:
        await conn.executemany(
            "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4::jsonb)"
            " ON CONFLICT (event_id) DO NOTHING",
            rows,
        )
    return len(rows)


async def first_time(conn: asyncpg.Connection, consumer: str, event_id: Any) -> bool:
    """Inside the caller's transaction: True the first time this consumer sees this event."""
    status = await conn.execute(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        event_id,
    )
    return str(status).endswith(" 1")


class OutboxRelay:
    """Publishes outbox rows in id order; woken at once by `kick()`, else polls."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        registry: CollectorRegistry,
        service: str,
        poll_seconds: float = 0.2,
    ) -> None:
        self.pool, self.broker, self.poll_seconds = pool, broker, poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = Counter(
            "thuisbest_outbox_published",
            "Events relayed from the outbox to Kafka",
            ["service", "topic"],
            registry=registry,
        )
        self.failures = Counter(
            "thuisbest_outbox_publish_failures",
            "Failed attempts to relay outbox events",
            ["service"],
            registry=registry,
        )
        self.service = service

    def kick(self) -> None:
        self._wake.set()

    async def relay_once(self, batch: int = 200) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, payload::text AS payload FROM outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                batch,
            )
            for row in rows:
                await self.broker.publish(
                    row["payload"].encode(),
                    topic=row["topic"],
                    key=row["key"].encode(),
                    headers={"content-type": "application/json"},
                )
                self.published.labels(self.service, row["topic"]).inc()
            if rows:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                    [r["id"] for r in rows],
                )
        return len(rows)

    async def run(self) -> None:
        while True:
            try:
                while await self.relay_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker or database is away: try again shortly
                self.failures.labels(self.service).inc()
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)
            await wait_set(self._wake, self.poll_seconds)
            self._wake.clear()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"{self.service}-outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


class DeadLetters:
    """Undecodable messages go to the dead-letter topic with the reason, and are counted."""

    def __init__(self, broker: KafkaBroker, registry: CollectorRegistry, service: str, topic: str) -> None:
        self.broker, self.service, self.topic = broker, service, topic
        self.counter = Counter(
            "thuisbest_dead_letters",
            "Messages a service could not decode, sent to the dead-letter topic",
            ["service", "topic"],
            registry=registry,
        )

    async def send(self, msg: KafkaMessage, reason: str) -> None:
        raw = msg.raw_message
        topic = getattr(raw, "topic", "?")
        self.counter.labels(self.service, topic).inc()
        log.warning("dead letter from %s: %s", topic, reason)
        letter = MessageDeadLettered(
            service=self.service,
            topic=topic,
            partition=getattr(raw, "partition", None),
            offset=getattr(raw, "offset", None),
            reason=reason,
            body=msg.body.decode("utf-8", errors="replace"),
        )
        await self.broker.publish(letter.model_dump_json().encode(), topic=self.topic)


# Failures worth a retry (the message is nacked and redelivered): the database or broker is away
# or busy. Anything else an event raises would fail again on every redelivery and stop the
# partition for every case behind it: that event goes to the dead-letter topic instead.
TRANSIENT: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.AdminShutdownError,
)


def _decode_problems(exc: ValidationError) -> str:
    # The first place of a location is the handler's parameter name: leave it out.
    found = []
    for err in exc.errors()[:10]:
        place = ".".join(str(p) for p in err["loc"][1:] or err["loc"]) or "body"
        found.append(f"{place}: {err['msg']}")
    return "; ".join(found)


def _event_id(body: bytes) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return "?"
    return str(value.get("event_id", "?")) if isinstance(value, dict) else "?"


def dead_letter_middleware(dead: DeadLetters) -> type[BaseMiddleware]:
    """Handlers take typed payloads; this decides what a failure means for the message.

    Undecodable, or failing for a reason a retry cannot cure (a poison message): dead letter with
    the reason, so later events still flow. Transient failures propagate: the offset is not
    committed and the message comes again."""

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
            try:
                return await call_next(msg)
            except TRANSIENT:
                raise
            except ValidationError as exc:
                await dead.send(msg, f"undecodable event: {_decode_problems(exc)}")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                await dead.send(msg, f"undecodable event: not valid JSON: {exc}")
            except Exception as exc:
                event_id = _event_id(msg.body)
                log.exception("event %s cannot be processed; dead-lettered", event_id)
                await dead.send(msg, f"unprocessable event {event_id}: {type(exc).__name__}: {exc}"[:2000])
            return None

    return DeadLetterMiddleware
