"""The board's live stream tells a page about a change that came by while the page connected."""

from __future__ import annotations

import time

import pytest

from services.board.live import Live
from shared.aio import within

CHANGED = "event: changed\ndata: changed\n\n"


async def first_chunks(live: Live, case: str | None, since: float | None, n: int) -> list[str]:
    stream = live.events(case, since)
    out = [await anext(stream)]
    try:
        while len(out) < n:
            out.append(await within(anext(stream), 0.2))
    except TimeoutError:
        pass
    await stream.aclose()
    return out


@pytest.mark.asyncio
async def test_a_change_after_the_page_was_rendered_is_told_as_the_stream_opens() -> None:
    live = Live(settle=0.0, heartbeat=60.0)
    rendered = time.time() - 1
    live.changed("c-1")
    assert await first_chunks(live, "c-1", rendered, 2) == ["retry: 3000\n\n", CHANGED]
    assert await first_chunks(live, None, rendered, 2) == ["retry: 3000\n\n", CHANGED]  # any case
    assert await first_chunks(live, "c-2", rendered, 2) == ["retry: 3000\n\n"]  # another case's page
    assert await first_chunks(live, "c-1", time.time() + 1, 2) == ["retry: 3000\n\n"]  # rendered after it
    assert await first_chunks(live, "c-1", None, 2) == ["retry: 3000\n\n"]  # no render time: nothing
    assert live.listeners == set()
