"""Waiting with a time limit that never swallows a cancellation.

On Python 3.11 `asyncio.wait_for` returns normally when the awaited thing completes in the same
loop iteration as the task is cancelled (python/cpython#86296, fixed in 3.12). A loop such as the
outbox relay's then runs on after `stop()` cancelled it, and the service never stops. `asyncio.timeout`
counts cancellations and has no such race, so the services wait through these two helpers only
(ruff bans `asyncio.wait_for`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` was set within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """The result of `awaitable`, or TimeoutError after `seconds` (it is then cancelled)."""
    async with asyncio.timeout(seconds):
        return await awaitable
