"""The notifier's use cases: take an event, list a case's notifications, acknowledge an alert,
list and requeue dead letters. The pure engine decides what is due; the store keeps it durably,
each call one transaction."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from services.notifier.engine import NotificationEngine
from services.notifier.repository import AlertRow, DeadLetter, Processed
from services.notifier.store import NotifierStore
from shared.actor import Actor
from shared.clock import Clock
from shared.errors import NotFound
from shared.events import CaseEventT, Decision, TimeoutAddressRecorded
from shared.types import fmt_local, is_case_id

MAX_ID = 2**63  # ids are bigint: anything larger names nothing


class NotificationView(BaseModel):
    id: int
    at: str
    case: str
    kind: str
    to: str
    channel: str
    level: int
    status: str
    sent_at: str | None
    acked_by: str | None

    @classmethod
    def of(cls, row: AlertRow) -> NotificationView:
        return cls(
            id=row.id,
            at=fmt_local(row.due_at),
            case=row.case,
            kind=row.kind,
            to=row.recipient,
            channel=row.channel,
            level=row.level,
            status=row.status,
            sent_at=row.sent_at.isoformat(timespec="seconds") if row.sent_at else None,
            acked_by=row.acked_by,
        )


class Acknowledged(BaseModel):
    id: int
    alert: str
    acked_by: str
    first: bool  # False when someone had acknowledged the alert before


class DeadLetterView(BaseModel):
    id: int
    alert_id: int
    case: str
    kind: str
    to: str
    channel: str
    attempts: int
    reason: str
    at: str

    @classmethod
    def of(cls, d: DeadLetter) -> DeadLetterView:
        return cls(
            id=d.id,
            alert_id=d.alert_id,
            case=d.case,
            kind=d.kind,
            to=d.recipient,
            channel=d.channel,
            attempts=d.attempts,
            reason=d.reason,
            at=d.at.isoformat(timespec="seconds"),
        )


class Requeued(BaseModel):
    id: int
    requeued: bool


class Notifier:
    def __init__(self, store: NotifierStore, engine: NotificationEngine, clock: Clock) -> None:
        self.store, self.engine, self.clock = store, engine, clock

    async def take_event(self, event: CaseEventT | Decision | TimeoutAddressRecorded) -> Processed:
        """Whatever this event makes due now or later, kept as alerts (each event once)."""
        return await self.store.process(event, self.engine, self.clock.now())

    async def notifications_of(self, case: str, actor: Actor) -> list[NotificationView]:
        if not is_case_id(case):
            return []
        return [NotificationView.of(row) for row in await self.store.alerts(case)]

    async def acknowledge(self, alert_id: int, token: str, actor: Actor) -> Acknowledged:
        """Stops the alert for everyone: no more reminders or escalations."""
        now: datetime = self.clock.now()
        result = await self.store.ack(alert_id, token, now) if 0 < alert_id < MAX_ID else None
        if result is None:
            raise NotFound.one("token", "unknown notification or wrong token")
        return Acknowledged(id=alert_id, alert=result.alert, acked_by=result.acked_by, first=result.first)

    async def dead_letters(self, actor: Actor) -> list[DeadLetterView]:
        return [DeadLetterView.of(d) for d in await self.store.dead_letters()]

    async def requeue(self, dead_id: int, actor: Actor) -> Requeued:
        if not (0 < dead_id < MAX_ID and await self.store.requeue(dead_id, self.clock.now())):
            raise NotFound.one("dead_id", "unknown or already requeued")
        return Requeued(id=dead_id, requeued=True)
