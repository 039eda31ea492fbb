"""The notifier's units of work: each method is one transaction over the alert repository.

The live path: `process(event, engine, now)` dedupes on `event_id`, feeds the event to the pure
engine with the case's stored state, and upserts the resulting notices (due now) and timers (due
later) by their dedupe key, cancelling the timers whose cause cleared or moved, and keeps who the
case concerns (its parties: what `read_case` is checked against), all in one transaction. The use
cases (`usecases.py`) and the dispatcher call these, or open a unit of their own where an access
decision and its audit record belong in the transaction; the SQL is in `repository.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from shared.db import migrate
from shared.uow import UnitOfWork

from .engine import Notice, NotificationEngine, Parties
from .metrics import NotifierMetrics
from .repository import AckResult, AlertRepository, AlertRow, Claimed, DeadLetter, Processed

MIGRATIONS = Path(__file__).with_name("migrations")
SERVICE = "notifier"


class NotifierUnit(UnitOfWork):
    alerts: AlertRepository

    def opened(self) -> None:
        self.alerts = AlertRepository(self.conn)


class NotifierStore:
    def __init__(self, pool: asyncpg.Pool, *, metrics: NotifierMetrics | None = None) -> None:
        self.pool = pool
        self.metrics = metrics

    def unit(self) -> NotifierUnit:
        return NotifierUnit(self.pool, service=SERVICE)

    async def migrate(self) -> list[str]:
        return await migrate(self.pool, SERVICE, MIGRATIONS)

    # -- the live path ------------------------------------------------------------------------

    async def process(self, event: Any, engine: NotificationEngine, now: datetime) -> Processed:
        """Apply one event exactly once (by event_id): engine state, notices and timers in one transaction."""
        case = event.case
        async with self.unit() as uow:
            if not await uow.alerts.first_event(event):
                return Processed(True, [], [], [])
            stored = await uow.alerts.case_state_for_update(case)
            # No await between restore and forget: the shared engine holds only this case meanwhile.
            try:
                engine.restore_case(case, stored)
                outcome = engine.apply(event, now)
                state = engine.snapshot_case(case)
                parties = engine.parties(case)
            finally:
                engine.forget(case)
            await uow.alerts.save_case_state(case, state)
            await uow.alerts.save_parties(case, parties)
            await uow.alerts.record([*outcome.notices, *outcome.scheduled], outcome.cancelled, now=now)
        return Processed(False, outcome.notices, outcome.scheduled, outcome.cancelled)

    async def record(
        self, notices: Sequence[Notice], cancelled: Iterable[str] = (), *, now: datetime
    ) -> None:
        """Upsert notices by dedupe key (a sent, acked or dead row is never touched); cancel pending keys."""
        async with self.unit() as uow:
            await uow.alerts.record(notices, cancelled, now=now)

    # -- reading ------------------------------------------------------------------------------

    async def alerts(self, case: str) -> list[AlertRow]:
        """Every notice of a case, in due order: what was sent, what is pending, what was stopped."""
        async with self.unit() as uow:
            return await uow.alerts.alerts(case)

    async def get(self, alert_id: int) -> AlertRow | None:
        async with self.unit() as uow:
            return await uow.alerts.get(alert_id)

    async def parties(self, case: str) -> Parties | None:
        async with self.unit() as uow:
            return await uow.alerts.parties(case)

    async def counts(self) -> dict[str, int]:
        async with self.unit() as uow:
            return await uow.alerts.counts()

    async def open_alerts(self) -> int:
        async with self.unit() as uow:
            return await uow.alerts.open_alerts()

    async def escalation_counts(self) -> tuple[int, int]:
        """(open escalating alerts, those past their last level unacknowledged), in one query."""
        async with self.unit() as uow:
            return await uow.alerts.escalation_counts()

    # -- acknowledgement ----------------------------------------------------------------------

    async def ack(self, alert_id: int, by: str, now: datetime) -> AckResult | None:
        """Acknowledge the alert of a notice on behalf of `by` (who may is the use case's to check);
        None for an unknown id."""
        async with self.unit() as uow:
            result = await uow.alerts.ack(alert_id, by, now)
        self.observe(result)
        return result

    def observe(self, result: AckResult | None) -> None:
        """Count how long an acknowledged alert waited for it."""
        if self.metrics is not None and result is not None and result.seconds_to_ack is not None:
            self.metrics.time_to_ack.observe(result.seconds_to_ack)

    # -- the dispatcher's side ----------------------------------------------------------------

    async def claim_due(
        self, now: datetime, *, limit: int, lease: timedelta, link_valid: timedelta = timedelta(days=14)
    ) -> list[Claimed]:
        """Claim up to `limit` due pending rows until now + lease, skipping rows another dispatcher
        holds; each with a new acknowledge link valid for `link_valid`."""
        async with self.unit() as uow:
            return await uow.alerts.claim_due(now, limit=limit, lease=lease, link_valid=link_valid)

    async def mark_sent(self, alert_id: int, now: datetime, *, channel: str, attempts: int) -> None:
        async with self.unit() as uow:
            await uow.alerts.mark_sent(alert_id, now, channel=channel, attempts=attempts)

    async def mark_dead(
        self, alert_id: int, now: datetime, *, channel: str, attempts: int, reason: str
    ) -> None:
        """Give up on a row: status `dead`, and a dead letter ops can list and requeue."""
        async with self.unit() as uow:
            await uow.alerts.mark_dead(alert_id, now, channel=channel, attempts=attempts, reason=reason)

    async def dead_letters(self, *, include_requeued: bool = False) -> list[DeadLetter]:
        async with self.unit() as uow:
            return await uow.alerts.dead_letters(include_requeued=include_requeued)

    async def requeue(self, dead_letter_id: int, now: datetime) -> bool:
        """Send a dead-lettered notice again at the next dispatcher run."""
        async with self.unit() as uow:
            return await uow.alerts.requeue(dead_letter_id, now) is not None
