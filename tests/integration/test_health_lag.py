"""Consumer lag on the real tansu broker: a consumer held up behind its messages is reported behind
(`thuisbest_consumer_lag{service,topic}`, and `degraded` past `consumer_lag_max`), and caught up after."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import CollectorRegistry

from shared.bus import make_broker, subscriber_options
from shared.health import OK, Monitor
from shared.settings import ServiceSettings
from tools.embedded import create_topics, kafka_client_options

pytestmark = pytest.mark.integration


@dataclass
class Stub:
    """The parts of a Runtime the monitor reads (no database: the relay is not started)."""

    settings: ServiceSettings
    broker: KafkaBroker
    name: str = "scheduler"
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    @property
    def relay(self) -> Any:
        raise AssertionError("service not started")


async def test_a_consumer_held_up_is_reported_behind_and_then_caught_up(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, consumer_lag_max=3)
    topic = settings.topic("cases")
    await create_topics(kafka_bootstrap, [topic])
    stub = Stub(settings, make_broker(settings, "scheduler", CollectorRegistry()))
    monitor = Monitor(stub)  # type: ignore[arg-type]
    go = asyncio.Event()
    seen: list[bytes] = []

    async def held_up(msg: KafkaMessage) -> None:
        await go.wait()
        seen.append(msg.body)

    options = subscriber_options(settings, "lag") | {
        k: v for k, v in kafka_client_options().items() if k != "auto_offset_reset"
    }
    stub.broker.subscriber(topic, **options)(held_up)
    await stub.broker.start()
    try:
        for n in range(10):
            await stub.broker.publish(str(n).encode(), topic=topic, key=b"c")

        async def behind() -> int:
            return (await monitor.consumer_lag()).get(topic, 0)

        async with asyncio.timeout(30):
            while await behind() < 5:  # noqa: ASYNC110 - polling what the broker reports
                await asyncio.sleep(0.2)
        assert (
            stub.registry.get_sample_value("thuisbest_consumer_lag", {"service": "scheduler", "topic": topic})
            == await behind()
        )
        assert (await monitor.lagging()).startswith(f"behind: {topic} ")
        go.set()
        async with asyncio.timeout(30):
            while len(seen) < 10 or await behind() > 0:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        assert await monitor.lagging() == OK
    finally:
        go.set()
        await stub.broker.stop()
