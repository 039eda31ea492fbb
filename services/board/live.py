"""Live pages: the board listens to the case events and the scheduler's decisions on Kafka and tells
the open pages (server-sent events) that something changed; htmx then fetches the page part again
through the services, with the person's own token. A notice carries no case data: a case page
hears about its own case only, every other page only that the plan changed."""

from __future__ import annotations

import asyncio
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

    def changed(self, case: str) -> None:
        """A case event or decision about `case` came by."""
        for listener in list(self.listeners):
            if listener.case is None or listener.case == case:
                try:
                    listener.queue.put_nowait(case)
                except asyncio.QueueFull:
                    pass  # it has plenty to do already: one notice is as good as many

    async def events(self, case: str | None) -> AsyncIterator[str]:
        """The text/event-stream of one open page: `changed` after a burst of changes has settled,
        a comment line now and then to keep proxies from closing the connection. It runs until the
        page goes away (the response is then cancelled, and the listener removed)."""
        listener = Listener(case)
        self.listeners.add(listener)
        try:
            yield "retry: 3000\n\n"
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
