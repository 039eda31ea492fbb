"""A poison outbox row never blocks the rest: on the real tansu broker and PostgreSQL, an event the
producer refuses for good (larger than its max_request_size: MessageSizeTooLargeError) between two
good ones is moved aside and dead-lettered; the good ones arrive; transient failures keep rows."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from shared.aio import within
from shared.bus import DeadLetters, OutboxRelay, make_broker
from shared.db import create_pool, migrate
from shared.events import TOPIC_DEAD_LETTER, MessageDeadLettered
from shared.service import PLATFORM_MIGRATIONS
from shared.settings import ServiceSettings
from tools.embedded import create_topics, kafka_client_options

pytestmark = pytest.mark.integration
TOO_LARGE = 2 * 1024 * 1024  # over aiokafka's default max_request_size (1 MiB)


@dataclass
class Outbox:
    pool: asyncpg.Pool
    broker: KafkaBroker
    registry: CollectorRegistry
    relay: OutboxRelay
    topic: str
    dead_topic: str
    bootstrap: str

    async def add(self, payload: dict[str, Any]) -> uuid.UUID:
        event_id = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4::jsonb)",
            event_id,
            self.topic,
            "case-1",
            json.dumps({"event_id": str(event_id), **payload}),
        )
        return event_id

    async def read(self, topic: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"{topic}-reader",
            fetch_max_bytes=8 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            **kafka_client_options(),
        )
        await consumer.start()
        records: list[ConsumerRecord[bytes, bytes]] = []
        try:
            async with asyncio.timeout(20):
                while len(records) < count:
                    for batch in (await consumer.getmany(timeout_ms=200)).values():
                        records.extend(batch)
            extra = await consumer.getmany(timeout_ms=300)
            records.extend(r for batch in extra.values() for r in batch)
        finally:
            await consumer.stop()
        return records

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"service": "intake", **labels}) or 0.0


@pytest.fixture
async def outbox(fresh_db: str, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Outbox]:
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    topic, dead_topic = f"{topic_prefix}cases", settings.topic(TOPIC_DEAD_LETTER)
    await create_topics(kafka_bootstrap, [topic, dead_topic])
    pool = await create_pool(fresh_db)
    await migrate(pool, "platform", PLATFORM_MIGRATIONS)
    registry = CollectorRegistry()
    broker = make_broker(settings, "intake", registry)
    DeadLetters(broker, registry, "intake", dead_topic)  # the relay finds the service's dead letters
    relay = OutboxRelay(pool, broker, registry, "intake")
    await broker.start()
    try:
        yield Outbox(pool, broker, registry, relay, topic, dead_topic, kafka_bootstrap)
    finally:
        await broker.stop()
        await pool.close()


async def test_an_oversized_row_is_moved_aside_and_the_rows_around_it_arrive(outbox: Outbox) -> None:
    first = await outbox.add({"n": 1})
    poison = await outbox.add({"n": 2, "conflicts_with": ["x" * 40] * (TOO_LARGE // 40)})
    last = await outbox.add({"n": 3})

    assert await within(outbox.relay.relay_once(), 30) == 3
    assert await outbox.relay.relay_once() == 0  # nothing left: the poisoned row is not retried

    arrived = await outbox.read(outbox.topic, 2)
    assert [json.loads(r.value)["event_id"] for r in arrived if r.value] == [str(first), str(last)]

    (letter,) = await outbox.read(outbox.dead_topic, 1)
    assert letter.value is not None and len(letter.value) < 4096  # small: never the payload itself
    dead = MessageDeadLettered.model_validate_json(letter.value)
    assert dead.kind == "poisoned_outbox" and dead.event_id == str(poison) and dead.topic == outbox.topic
    assert dead.size is not None and dead.size > TOO_LARGE and dead.body == ""
    assert "MessageSizeTooLargeError" in dead.reason and str(poison) in dead.reason

    row = await outbox.pool.fetchrow(
        "SELECT published_at, poisoned_at, poison_reason FROM outbox WHERE event_id = $1", poison
    )
    assert row is not None and row["published_at"] is None and row["poisoned_at"] is not None
    assert "MessageSizeTooLargeError" in row["poison_reason"]
    published = await outbox.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
    assert published == 2

    assert outbox.sample("thuisbest_outbox_poisoned_total", topic=outbox.topic) == 1
    assert outbox.sample("thuisbest_dead_letters_total", topic=outbox.topic, reason="poisoned_outbox") == 1
    assert outbox.sample("thuisbest_outbox_published_total", topic=outbox.topic) == 2
    backlog = await outbox.relay.backlog()
    assert backlog.rows == 0 and backlog.oldest_seconds == 0
    assert outbox.sample("thuisbest_outbox_backlog_rows") == 0


async def test_a_small_refused_row_is_dead_lettered_with_its_body(outbox: Outbox) -> None:
    """An invalid topic name: the broker refuses it for good; the letter carries the small row."""
    event_id = uuid.uuid4()
    await outbox.pool.execute(
        "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, 'c', $3::jsonb)",
        event_id,
        "bad topic name!",
        json.dumps({"event_id": str(event_id)}),
    )
    good = await outbox.add({"n": 1})
    assert await within(outbox.relay.relay_once(), 30) == 2
    (letter,) = await outbox.read(outbox.dead_topic, 1)
    assert letter.value is not None
    dead = MessageDeadLettered.model_validate_json(letter.value)
    assert dead.kind == "poisoned_outbox" and dead.event_id == str(event_id)
    assert json.loads(dead.body) == {"event_id": str(event_id)}
    arrived = await outbox.read(outbox.topic, 1)
    assert [json.loads(r.value)["event_id"] for r in arrived if r.value] == [str(good)]


async def test_a_transient_failure_keeps_the_rows_for_the_next_attempt(outbox: Outbox) -> None:
    first = await outbox.add({"n": 1})
    await outbox.broker.stop()  # the producer is away: not the rows' fault
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises for a stopped producer
        await within(outbox.relay.relay_once(), 30)
    row = await outbox.pool.fetchrow(
        "SELECT published_at, poisoned_at FROM outbox WHERE event_id = $1", first
    )
    assert row is not None and row["published_at"] is None and row["poisoned_at"] is None
    assert (await outbox.relay.backlog()).rows == 1
    await outbox.broker.start()
    assert await within(outbox.relay.relay_once(), 30) == 1
    assert outbox.sample("thuisbest_outbox_poisoned_total", topic=outbox.topic) == 0
