"""Live pages: the board listens to the case events and the scheduler's decisions on Kafka and tells
the open pages (server-sent events) that something changed; htmx then fetches the page part again
through the services, with the person's own token. A notice carries no case data: a case page
hears about its own case only, every other page only that the plan changed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

HEARTBEAT_SECONDS = 15.0
SETTLE_SECONDS = 0.6  # the other services apply a decision too: let them before pages read it again
QUEUE = 64


@dataclass(eq=False)
class Listener:
    case: str | None  # None: any change
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE))


class Live:
    def __init__(self, settle: float = SETTLE_SECONDS, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.settle, self.heartbeat = settle, heartbeat
        self.listeners: set[Listener] = set()
        self.last: dict[str | None, float] = {}  # case (None: any case) -> when a change last came by

    def changed(self, case: str) -> None:
        """A case event or decision about `case` came by."""
        self.last[case] = self.last[None] = time.time()
        for listener in list(self.listeners):
            if listener.case is None or listener.case == case:
                try:
                    listener.queue.put_nowait(case)
                except asyncio.QueueFull:
                    pass  # it has plenty to do already: one notice is as good as many

    async def events(self, case: str | None, since: float | None = None) -> AsyncIterator[str]:
        """The text/event-stream of one open page: `changed` after a burst of changes has settled,
        a comment line now and then to keep proxies from closing the connection. It runs until the
        page goes away (the response is then cancelled, and the listener removed). `since`: when the
        page was rendered; a change that came by after that, before this stream began, is told at
        once (a decision can come within a tenth of a second of the referral that the page shows)."""
        listener = Listener(case)
        self.listeners.add(listener)
        try:
            yield "retry: 3000\n\n"
            if since is not None and self.last.get(case, 0.0) > since:
                yield "event: changed\ndata: changed\n\n"
            while True:
                try:
                    async with asyncio.timeout(self.heartbeat):
                        await listener.queue.get()
                except TimeoutError:
                    yield ": still here\n\n"
                    continue
                await asyncio.sleep(self.settle)
                while not listener.queue.empty():
                    listener.queue.get_nowait()
                yield "event: changed\ndata: changed\n\n"
        finally:
            self.listeners.discard(listener)
