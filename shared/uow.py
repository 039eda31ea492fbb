"""One unit of work: a transaction, the repositories on it, the outbox and the consumer's dedupe record.

Nothing lost, nothing twice: the state change, the events it publishes and the record that an
incoming event was handled commit together or not at all; the relay is woken after the commit.
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Self

import asyncpg
from pydantic import BaseModel

from shared import audit
from shared.actor import Actor
from shared.bus import OutboxRelay, Outgoing, add_to_outbox, first_time


class UnitOfWork:
    """`async with uow:` opens the transaction; subclasses attach their repositories in `opened`."""

    def __init__(self, pool: asyncpg.Pool, relay: OutboxRelay | None = None, service: str = "") -> None:
        self._pool, self._relay = pool, relay
        self.service = service or (relay.service if relay is not None else "")
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._tx: asyncpg.transaction.Transaction | None = None
        self._outgoing: list[Outgoing] = []

    @property
    def conn(self) -> asyncpg.Connection:
        assert self._conn is not None, "use the unit of work inside `async with`"
        return self._conn

    def opened(self) -> None:
        """Called with the transaction open: attach repositories to `self.conn`."""

    async def __aenter__(self) -> Self:
        self._conn = await self._pool.acquire()
        try:
            self._tx = self._conn.transaction()
            await self._tx.start()
        except BaseException:
            await self._pool.release(self._conn)
            self._conn = self._tx = None
            raise
        self._outgoing = []
        self.opened()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None and self._tx is not None
        sent = False
        try:
            if exc_type is None:
                await add_to_outbox(self._conn, self._outgoing)
                await self._tx.commit()
                sent = bool(self._outgoing)
            else:
                await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)
            self._conn = self._tx = None
        if sent and self._relay is not None:
            self._relay.kick()

    def publish(self, topic: str, event: BaseModel) -> None:
        """Queue `event` on `topic`, sent only if the unit of work commits."""
        self._outgoing.append(Outgoing(topic, event))

    async def first_time(self, consumer: str, event_id: uuid.UUID) -> bool:
        """True the first time `consumer` handles `event_id`; recorded in this transaction."""
        return await first_time(self.conn, consumer, event_id)

    async def audit(self, actor: Actor, action: str, *cases: str | None, detail: str | None = None) -> None:
        """Record in the audit trail, in this transaction, that `actor` did `action` on `cases`."""
        await audit.write(self.conn, self.service, actor, action, cases or [None], "allowed", detail)
