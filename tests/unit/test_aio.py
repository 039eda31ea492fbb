"""The waits the services' loops use must let a cancellation through even when what they wait
for completes in the same loop iteration (asyncio.wait_for on 3.11 swallows it there)."""

from __future__ import annotations

import asyncio

import pytest

from shared.aio import wait_set, within


async def test_a_loop_waiting_on_an_event_stops_when_cancelled_as_the_event_is_set() -> None:
    wake = asyncio.Event()
    rounds = 0

    async def loop() -> None:  # the shape of the outbox relay's loop
        nonlocal rounds
        while True:
            rounds += 1
            await wait_set(wake, 60)
            wake.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)  # the loop is now waiting
    wake.set()  # a kick ...
    task.cancel()  # ... and a stop in the same iteration
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled() and rounds == 1


async def test_wait_set_tells_whether_the_event_came_in_time() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_set(event, 5) is True


async def test_within_returns_the_result_or_times_out_and_cancels() -> None:
    assert await within(asyncio.sleep(0, result=7), 1) == 7
    slow = asyncio.ensure_future(asyncio.sleep(60))
    with pytest.raises(TimeoutError):
        await within(slow, 0.01)
    assert slow.cancelled()
