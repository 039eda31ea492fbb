"""A poison message must not stop a partition: dead-lettered with its reason; transient failures retry.

Typed handlers on an in-memory broker (faststream's TestKafkaBroker) with the dead-letter middleware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel

from shared.bus import dead_letter_middleware


class Event(BaseModel):
    event_id: str
    n: int


@dataclass
class Dead:
    letters: list[str] = field(default_factory=list)

    async def send(self, msg: Any, reason: str) -> None:
        self.letters.append(reason)


async def run(body: bytes, error: BaseException | None) -> tuple[list[Event], Dead]:
    seen: list[Event] = []
    dead = Dead()
    broker = KafkaBroker("127.0.0.1:9")
    broker.add_middleware(dead_letter_middleware(dead))  # type: ignore[arg-type]

    async def handler(event: Event) -> None:
        seen.append(event)
        if error is not None:
            raise error

    broker.subscriber("events", group_id="g")(handler)
    async with TestKafkaBroker(broker) as br:
        await br.publish(body, topic="events", headers={"content-type": "application/json"})
    return seen, dead


async def test_a_good_event_is_handled_and_nothing_is_dead_lettered() -> None:
    seen, dead = await run(b'{"event_id": "e1", "n": 1}', None)
    assert [e.n for e in seen] == [1] and dead.letters == []


async def test_an_undecodable_message_is_dead_lettered_with_the_field() -> None:
    seen, dead = await run(b'{"event_id": "e1", "n": "many"}', None)
    assert seen == [] and len(dead.letters) == 1
    assert dead.letters[0].startswith("undecodable event: n:"), dead.letters


async def test_a_message_that_is_not_json_is_dead_lettered() -> None:
    seen, dead = await run(b"{oops", None)
    assert seen == [] and len(dead.letters) == 1 and dead.letters[0].startswith("undecodable event")


async def test_an_event_that_fails_for_good_is_dead_lettered_with_the_reason() -> None:
    seen, dead = await run(b'{"event_id": "e2", "n": 2}', ValueError("year 10000 is out of range"))
    assert len(seen) == 1
    assert dead.letters == ["unprocessable event e2: ValueError: year 10000 is out of range"]


@pytest.mark.parametrize(
    "error", [ConnectionRefusedError("db away"), asyncpg.DeadlockDetectedError("deadlock"), TimeoutError()]
)
async def test_a_transient_failure_propagates_so_the_message_comes_again(error: BaseException) -> None:
    with pytest.raises(type(error)):
        await run(b'{"event_id": "e3", "n": 3}', error)
