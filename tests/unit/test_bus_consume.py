"""A poison message must not stop a partition: dead-lettered with its reason; transient failures retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel, TypeAdapter

from shared.bus import consume


class Event(BaseModel):
    event_id: str
    n: int


@dataclass
class Message:
    body: bytes
    raw_message: Any = None


@dataclass
class Dead:
    letters: list[str] = field(default_factory=list)

    async def send(self, msg: Any, reason: str) -> None:
        self.letters.append(reason)


ADAPTER = TypeAdapter(Event)


async def run(body: bytes, error: BaseException | None) -> tuple[list[Event], Dead]:
    seen: list[Event] = []
    dead = Dead()

    async def handler(event: Event) -> None:
        seen.append(event)
        if error is not None:
            raise error

    await consume(Message(body), ADAPTER, dead, handler)  # type: ignore[arg-type]
    return seen, dead


async def test_a_good_event_is_handled_and_nothing_is_dead_lettered() -> None:
    seen, dead = await run(b'{"event_id": "e1", "n": 1}', None)
    assert [e.n for e in seen] == [1] and dead.letters == []


async def test_an_undecodable_message_is_dead_lettered_with_the_field() -> None:
    seen, dead = await run(b'{"event_id": "e1", "n": "many"}', None)
    assert seen == [] and len(dead.letters) == 1 and "n:" in dead.letters[0]


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
