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
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from aiokafka import errors as kafka_errors
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import BaseMiddleware
from prometheus_client import CollectorRegistry, Counter, Gauge
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
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
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


# Errors of one record that no retry cures: the record is too large, its topic name is not
# valid, the broker refuses its form. Everything else (the broker away, a timeout, a leader
# moving) is retried, however aiokafka classes it: several "not retriable" errors such as
# KafkaTimeoutError or ProducerClosed only say that the broker or the producer is away.
POISON: tuple[type[Exception], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.CorruptRecordException,
    kafka_errors.InvalidMessageError,
    kafka_errors.InvalidTimestampError,
    kafka_errors.UnsupportedForMessageFormatError,
    kafka_errors.PolicyViolationError,
    UnicodeError,  # a key or payload that cannot be encoded
)
# A dead letter about a poisoned outbox row carries the row itself only when it is this small.
DEAD_LETTER_BODY_MAX = 64 * 1024
DeadLetterKind = Literal["undecodable", "handler_failed", "poisoned_outbox"]
UNDECODABLE = "undecodable event"  # how the reason of a message that could not be decoded starts


# What Kafka accepts as a topic name. aiokafka does not check it before sending: it asks the
# broker for the topic's metadata until its request times out, which would look transient.
LEGAL_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def is_poison(exc: BaseException) -> bool:
    """Whether publishing failed for a reason of the record itself, which a retry cannot cure."""
    return isinstance(exc, POISON)


@dataclass(frozen=True)
class Backlog:
    """The outbox rows still to relay (poisoned rows excluded) and the age of the oldest."""

    rows: int
    oldest_seconds: float


class OutboxRelay:
    """Publishes outbox rows in id order, one by one; woken at once by `kick()`, else polls.

    A row the broker refuses for good (see POISON) is moved aside: marked poisoned, announced on
    the dead-letter topic, counted and logged; the rows behind it go on. A transient failure
    keeps the row (and those behind it) for the next attempt."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        registry: CollectorRegistry,
        service: str,
        poll_seconds: float = 0.2,
        dead: DeadLetters | None = None,
    ) -> None:
        self.pool, self.broker, self.poll_seconds = pool, broker, poll_seconds
        self.registry = registry
        self._dead = dead
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
        self.poisoned = Counter(
            "thuisbest_outbox_poisoned",
            "Outbox rows the broker refused for good, moved aside and dead-lettered",
            ["service", "topic"],
            registry=registry,
        )
        self.backlog_rows = Gauge(
            "thuisbest_outbox_backlog_rows",
            "Outbox rows not yet published (poisoned rows excluded)",
            ["service"],
            registry=registry,
        )
        self.oldest_age = Gauge(
            "thuisbest_outbox_oldest_age_seconds",
            "Age of the oldest outbox row not yet published (0 when none)",
            ["service"],
            registry=registry,
        )
        self.service = service
        self.backlog_rows.labels(service).set(0)
        self.oldest_age.labels(service).set(0)

    @property
    def dead(self) -> DeadLetters | None:
        """Where poisoned rows are announced: as given, else the service's dead letters."""
        return self._dead if self._dead is not None else DeadLetters.of(self.registry)

    def kick(self) -> None:
        self._wake.set()

    async def relay_once(self, batch: int = 200) -> int:
        """Relay up to `batch` rows; the number of rows done with (published or poisoned). A
        transient failure is raised after the rows published before it are marked."""
        failure: Exception | None = None
        done = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, event_id, topic, key, payload::text AS payload FROM outbox"
                " WHERE published_at IS NULL AND poisoned_at IS NULL ORDER BY id LIMIT $1"
                " FOR UPDATE SKIP LOCKED",
                batch,
            )
            published: list[int] = []
            for row in rows:
                try:
                    if not LEGAL_TOPIC.fullmatch(row["topic"]):
                        raise kafka_errors.InvalidTopicError(f"not a valid topic name: {row['topic']!r}")
                    await self.broker.publish(
                        row["payload"].encode(),
                        topic=row["topic"],
                        key=row["key"].encode(),
                        headers={"content-type": "application/json"},
                    )
                except Exception as exc:
                    if not is_poison(exc):
                        failure = exc
                        break
                    await self._poison(conn, row, exc)
                    done += 1
                    continue
                published.append(row["id"])
                self.published.labels(self.service, row["topic"]).inc()
            if published:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", published
                )
            done += len(published)
        if failure is not None:
            raise failure
        return done

    async def _poison(self, conn: asyncpg.Connection, row: asyncpg.Record, exc: Exception) -> None:
        """Move a refused row aside, in the relay's transaction, and say so on the dead-letter topic."""
        size = len(row["payload"].encode("utf-8", errors="replace"))
        reason = f"{type(exc).__name__}: {exc}"[:500]
        await conn.execute(
            "UPDATE outbox SET poisoned_at = now(), poison_reason = $2 WHERE id = $1", row["id"], reason
        )
        self.poisoned.labels(self.service, row["topic"]).inc()
        log.error(
            "outbox row %s (event %s, %d bytes) refused by the broker for good on %s: %s; moved aside",
            row["id"],
            row["event_id"],
            size,
            row["topic"],
            reason,
        )
        dead = self.dead
        if dead is not None:
            body = row["payload"] if size <= DEAD_LETTER_BODY_MAX else ""
            await dead.announce(
                MessageDeadLettered(
                    service=self.service,
                    topic=row["topic"],
                    partition=None,
                    offset=None,
                    reason=f"the broker refused outbox event {row['event_id']} ({size} bytes): {reason}",
                    body=body,
                    kind="poisoned_outbox",
                    event_id=str(row["event_id"]),
                    size=size,
                ),
                key=row["key"],
            )

    async def backlog(self) -> Backlog:
        """Rows waiting and the age of the oldest, from the partial index; sets the gauges."""
        async with self.pool.acquire(timeout=2) as conn:
            row = await conn.fetchrow(
                "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
                " FROM outbox WHERE published_at IS NULL AND poisoned_at IS NULL"
            )
        assert row is not None
        found = Backlog(int(row["n"]), max(float(row["age"]), 0.0))
        self.backlog_rows.labels(self.service).set(found.rows)
        self.oldest_age.labels(self.service).set(found.oldest_seconds)
        return found

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


_dead_letters: weakref.WeakKeyDictionary[CollectorRegistry, DeadLetters] = weakref.WeakKeyDictionary()


class DeadLetters:
    """Messages given up on go to the dead-letter topic with the reason, and are counted by kind:
    `undecodable`, `handler_failed` (a well-formed event that failed for good) or
    `poisoned_outbox` (an event of this service the broker refused)."""

    def __init__(self, broker: KafkaBroker, registry: CollectorRegistry, service: str, topic: str) -> None:
        self.broker, self.service, self.topic = broker, service, topic
        self.counter = Counter(
            "thuisbest_dead_letters",
            "Messages given up on and sent to the dead-letter topic, by kind (reason)",
            ["service", "topic", "reason"],
            registry=registry,
        )
        _dead_letters[registry] = self

    @staticmethod
    def of(registry: CollectorRegistry) -> DeadLetters | None:
        """The dead letters of the service whose metrics are in `registry`."""
        return _dead_letters.get(registry)

    async def send(self, msg: KafkaMessage, reason: str, kind: DeadLetterKind | None = None) -> None:
        """Dead-letter a consumed message; its kind is `undecodable` when the reason says so (as
        the middleware's reasons for a message that could not be decoded do), else `handler_failed`."""
        if kind is None:
            kind = "undecodable" if reason.startswith(UNDECODABLE) else "handler_failed"
        raw = msg.raw_message
        topic = getattr(raw, "topic", "?")
        log.warning("dead letter (%s) from %s: %s", kind, topic, reason)
        letter = MessageDeadLettered(
            service=self.service,
            topic=topic,
            partition=getattr(raw, "partition", None),
            offset=getattr(raw, "offset", None),
            reason=reason,
            body=msg.body.decode("utf-8", errors="replace")[:DEAD_LETTER_BODY_MAX],
            kind=kind,
            event_id=_event_id(msg.body),
            size=len(msg.body),
        )
        await self.announce(letter)

    async def announce(self, letter: MessageDeadLettered, key: str | None = None) -> None:
        """Publish a dead letter and count it."""
        await self.broker.publish(
            letter.model_dump_json().encode(),
            topic=self.topic,
            key=key.encode() if key else None,
            headers={"content-type": "application/json"},
        )
        self.counter.labels(self.service, letter.topic, letter.kind or "undecodable").inc()


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


def _event_id(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    found = value.get("event_id") if isinstance(value, dict) else None
    return str(found)[:100] if found is not None else None


# A well-formed event whose handler fails with a database error that is not transient (a
# constraint violated) or a validation error of its own is tried this often, in place with these
# pauses between, before it is dead-lettered: what the database held may have changed meanwhile
# (a conflict with a concurrent change passes). Any other error (a ValueError of pure code on the
# event's data) would fail the same way again: dead-lettered after the first try.
RETRY_IN_PLACE: tuple[type[Exception], ...] = (asyncpg.PostgresError, ValidationError)
HANDLER_ATTEMPTS = 3
HANDLER_RETRY_PAUSES = (0.05, 0.2)


def dead_letter_middleware(
    dead: DeadLetters, attempts: int = HANDLER_ATTEMPTS, pauses: tuple[float, ...] = HANDLER_RETRY_PAUSES
) -> type[BaseMiddleware]:
    """Handlers take typed payloads; this decides what a failure means for the message.

    Undecodable: dead letter with the reason at once. Failing for a reason a retry cannot cure (a
    poison message): dead-lettered with the reason (a constraint or validation error in a use case
    after `attempts` tries, see RETRY_IN_PLACE), so later events still flow. Transient failures
    (the database or broker away) propagate: the offset is not committed and the message comes
    again, for as long as it takes."""

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
            for attempt in range(1, max(attempts, 1) + 1):
                try:
                    return await call_next(msg)
                except TRANSIENT:
                    raise
                except ValidationError as exc:
                    if _in_handler(exc, self.context.get("handler_")):
                        failure: Exception = exc
                    else:
                        await dead.send(msg, f"{UNDECODABLE}: {_decode_problems(exc)}")
                        return None
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    await dead.send(msg, f"{UNDECODABLE}: not valid JSON: {exc}")
                    return None
                except Exception as exc:
                    failure = exc
                event_id = _event_id(msg.body) or "?"
                if attempt < attempts and isinstance(failure, RETRY_IN_PLACE):
                    log.warning(
                        "event %s failed (attempt %d of %d): %s: %s",
                        event_id,
                        attempt,
                        attempts,
                        type(failure).__name__,
                        failure,
                    )
                    await asyncio.sleep(pauses[min(attempt - 1, len(pauses) - 1)] if pauses else 0)
                    continue
                log.error("event %s cannot be processed; dead-lettered", event_id, exc_info=failure)
                reason = f"unprocessable event {event_id}: {type(failure).__name__}: {failure}"[:2000]
                await dead.send(msg, reason)
                break
            return None

    return DeadLetterMiddleware


def _in_handler(exc: ValidationError, subscriber: Any) -> bool:
    """Whether a validation error came from inside a handler (a use case validating something of
    its own) rather than from decoding the message into the handler's payload type: faststream
    names the model it decodes into after the handler function."""
    names = {
        getattr(getattr(getattr(item, "handler", None), "_original_call", None), "__name__", None)
        for item in getattr(subscriber, "calls", ())
    }
    names.discard(None)
    return bool(names) and exc.title not in names
