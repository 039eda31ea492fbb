"""The notifier's repository: per-case engine state, alerts as durable timers, deliveries, acks, dead
letters. Raw asyncpg on the connection of a unit of work (the caller owns the transaction); rows go
in and domain objects come out.

Alerts are upserted by their dedupe key, so a notice or timer computed twice is one row; the
dispatcher claims due rows (`claim_due`, FOR UPDATE SKIP LOCKED plus a lease) so that no two
dispatchers send one row twice.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.notifier.engine import Notice


@dataclass(frozen=True)
class AlertRow:
    """An alert row as ops and the case view see it (no message text: it may hold an address)."""

    id: int
    key: str
    alert: str
    case: str
    kind: str
    recipient: str
    channel: str
    level: int
    due_at: datetime
    status: str
    attempts: int
    sent_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    cancelled_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Claimed:
    """A due row claimed by one dispatcher for the length of its lease."""

    id: int
    token: str
    notice: Notice


@dataclass(frozen=True)
class AckResult:
    alert_id: int
    alert: str
    acked_by: str
    first: bool  # False when the alert had been acknowledged before
    seconds_to_ack: float | None  # from the alert's first sent notice; None if nothing was sent


@dataclass(frozen=True)
class DeadLetter:
    id: int
    alert_id: int
    case: str
    kind: str
    recipient: str
    channel: str
    attempts: int
    reason: str
    at: datetime
    requeued_at: datetime | None


@dataclass(frozen=True)
class Processed:
    duplicate: bool
    notices: list[Notice]
    scheduled: list[Notice]
    cancelled: list[str]


_ALERT_COLUMNS = (
    "id, key, alert, case_id, kind, recipient, channel, level, due_at, status, attempts, sent_at, "
    "acked_at, acked_by, cancelled_at, last_error"
)


def _alert(row: asyncpg.Record) -> AlertRow:
    return AlertRow(
        id=row["id"],
        key=row["key"],
        alert=row["alert"],
        case=row["case_id"],
        kind=row["kind"],
        recipient=row["recipient"],
        channel=row["channel"],
        level=row["level"],
        due_at=row["due_at"],
        status=row["status"],
        attempts=row["attempts"],
        sent_at=row["sent_at"],
        acked_at=row["acked_at"],
        acked_by=row["acked_by"],
        cancelled_at=row["cancelled_at"],
        last_error=row["last_error"],
    )


_UPSERT = """
INSERT INTO notifier_alert
    (key, alert, case_id, kind, recipient, channel, level, due_at, status, token, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
        CASE WHEN EXISTS (SELECT 1 FROM notifier_ack a WHERE a.alert = $2) THEN 'acked' ELSE 'pending' END,
        $9, $10::jsonb)
ON CONFLICT (key) DO UPDATE
SET due_at = EXCLUDED.due_at,
    payload = EXCLUDED.payload,
    status = CASE WHEN notifier_alert.status = 'cancelled' THEN EXCLUDED.status
                  ELSE notifier_alert.status END,
    cancelled_at = NULL
WHERE notifier_alert.status IN ('pending', 'cancelled')
"""


class AlertRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # -- the live path ------------------------------------------------------------------------

    async def first_event(self, event: Any) -> bool:
        """Record `event` as handled; False when it was handled before (a redelivery)."""
        first = await self.conn.fetchval(
            "INSERT INTO notifier_event (event_id, case_id, type) VALUES ($1, $2, $3) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING true",
            event.event_id,
            event.case,
            event.type,
        )
        return bool(first)

    async def case_state_for_update(self, case: str) -> Any:
        """The engine's stored state of a case (None at first), locked to the end of the transaction:
        the lock serialises the events of one case across notifier instances."""
        await self.conn.execute(
            "INSERT INTO notifier_case_state (case_id, state) VALUES ($1, 'null'::jsonb) "
            "ON CONFLICT (case_id) DO NOTHING",
            case,
        )
        raw = await self.conn.fetchval(
            "SELECT state FROM notifier_case_state WHERE case_id = $1 FOR UPDATE", case
        )
        return json.loads(raw) if raw else None

    async def save_case_state(self, case: str, state: Any) -> None:
        await self.conn.execute(
            "UPDATE notifier_case_state SET state = $2::jsonb, updated_at = now() WHERE case_id = $1",
            case,
            json.dumps(state),
        )

    async def record(
        self, notices: Sequence[Notice], cancelled: Iterable[str] = (), *, now: datetime
    ) -> None:
        """Upsert notices by dedupe key (a sent, acked or dead row is never touched); cancel pending keys."""
        conn = self.conn
        cancelled = sorted(set(cancelled))
        if cancelled:
            await conn.execute(
                "UPDATE notifier_alert SET status = 'cancelled', cancelled_at = $2 "
                "WHERE key = ANY($1::text[]) AND status = 'pending'",
                cancelled,
                now,
            )
        if notices:
            await conn.executemany(
                _UPSERT,
                [
                    (
                        n.key,
                        n.alert,
                        n.case,
                        n.kind,
                        n.to,
                        n.channel,
                        n.level,
                        n.at,
                        secrets.token_urlsafe(18),
                        json.dumps(n.to_json()),
                    )
                    for n in sorted(notices)
                ],
            )

    # -- reading ------------------------------------------------------------------------------

    async def alerts(self, case: str) -> list[AlertRow]:
        """Every notice of a case, in due order: what was sent, what is pending, what was stopped."""
        rows = await self.conn.fetch(
            f"SELECT {_ALERT_COLUMNS} FROM notifier_alert WHERE case_id = $1 ORDER BY due_at, id", case
        )
        return [_alert(r) for r in rows]

    async def get(self, alert_id: int) -> AlertRow | None:
        row = await self.conn.fetchrow(f"SELECT {_ALERT_COLUMNS} FROM notifier_alert WHERE id = $1", alert_id)
        return _alert(row) if row else None

    async def counts(self) -> dict[str, int]:
        rows = await self.conn.fetch("SELECT status, count(*) AS n FROM notifier_alert GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    async def open_alerts(self) -> int:
        """Escalating alerts sent and not acknowledged, whose cause has not cleared (no level cancelled)."""
        value = await self.conn.fetchval(
            "SELECT count(DISTINCT s.alert) FROM notifier_alert s WHERE s.status = 'sent'"
            " AND (s.payload->>'escalates')::boolean"
            " AND NOT EXISTS (SELECT 1 FROM notifier_ack k WHERE k.alert = s.alert)"
            " AND NOT EXISTS (SELECT 1 FROM notifier_alert c"
            " WHERE c.alert = s.alert AND c.status = 'cancelled')"
        )
        return int(value or 0)

    # -- acknowledgement ----------------------------------------------------------------------

    async def ack(self, alert_id: int, token: str, now: datetime) -> AckResult | None:
        """Acknowledge the alert of a notice with its recipient's token; None for an unknown id or bad token.

        The whole alert (every person and level) stops: pending rows become `acked` and never fire.
        """
        conn = self.conn
        row = await conn.fetchrow(
            "SELECT id, alert, recipient, token FROM notifier_alert WHERE id = $1", alert_id
        )
        if row is None or not secrets.compare_digest(row["token"].encode(), token.encode()):
            return None
        inserted = await conn.fetchval(
            "INSERT INTO notifier_ack (alert, alert_id, acked_by, acked_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (alert) DO NOTHING RETURNING true",
            row["alert"],
            alert_id,
            row["recipient"],
            now,
        )
        if not inserted:
            ack = await conn.fetchrow("SELECT acked_by FROM notifier_ack WHERE alert = $1", row["alert"])
            return AckResult(alert_id, row["alert"], ack["acked_by"], False, None)
        await conn.execute(
            "UPDATE notifier_alert SET status = 'acked', acked_at = $2, acked_by = $3 "
            "WHERE alert = $1 AND status IN ('pending', 'sent')",
            row["alert"],
            now,
            row["recipient"],
        )
        first_sent = await conn.fetchval(
            "SELECT min(sent_at) FROM notifier_alert WHERE alert = $1", row["alert"]
        )
        seconds = (now - first_sent).total_seconds() if first_sent else None
        return AckResult(alert_id, row["alert"], row["recipient"], True, seconds)

    # -- the dispatcher's side ----------------------------------------------------------------

    async def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[Claimed]:
        """Claim up to `limit` due pending rows until now + lease, skipping rows another dispatcher holds."""
        conn = self.conn
        rows = await conn.fetch(
            """
            WITH due AS (
                SELECT id FROM notifier_alert
                WHERE status = 'pending' AND due_at <= $1
                  AND (claimed_until IS NULL OR claimed_until <= $1)
                  AND NOT EXISTS (SELECT 1 FROM notifier_ack k WHERE k.alert = notifier_alert.alert)
                ORDER BY due_at, id
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            )
            UPDATE notifier_alert a SET claimed_until = $3
            FROM due WHERE a.id = due.id
            RETURNING a.id, a.token, a.payload
            """,
            now,
            limit,
            now + lease,
        )
        claimed = [Claimed(r["id"], r["token"], Notice.from_json(json.loads(r["payload"]))) for r in rows]
        return sorted(claimed, key=lambda c: (c.notice, c.id))

    async def mark_sent(self, alert_id: int, now: datetime, *, channel: str, attempts: int) -> None:
        conn = self.conn
        # An ack or cancel that raced the send keeps its status; sent_at records the send. The
        # message text (it may hold a time-out address) is not kept once it went out.
        await conn.execute(
            "UPDATE notifier_alert SET status = CASE WHEN status = 'pending' THEN 'sent' ELSE status END,"
            " sent_at = $2, attempts = attempts + $3, claimed_until = NULL, last_error = NULL,"
            " payload = payload - 'text' WHERE id = $1",
            alert_id,
            now,
            attempts,
        )
        await conn.execute(
            "INSERT INTO notifier_delivery (alert_id, at, channel, attempts, ok)"
            " VALUES ($1, $2, $3, $4, true)",
            alert_id,
            now,
            channel,
            attempts,
        )

    async def mark_dead(
        self, alert_id: int, now: datetime, *, channel: str, attempts: int, reason: str
    ) -> None:
        """Give up on a row: status `dead`, and a dead letter ops can list and requeue."""
        conn = self.conn
        row = await conn.fetchrow(
            "UPDATE notifier_alert SET status = 'dead', attempts = attempts + $2, last_error = $3, "
            "claimed_until = NULL WHERE id = $1 RETURNING case_id, kind, recipient, channel",
            alert_id,
            attempts,
            reason,
        )
        await conn.execute(
            "INSERT INTO notifier_delivery (alert_id, at, channel, attempts, ok, error) "
            "VALUES ($1, $2, $3, $4, false, $5)",
            alert_id,
            now,
            channel,
            attempts,
            reason,
        )
        if row is not None:
            await conn.execute(
                "INSERT INTO notifier_dead_letter"
                " (alert_id, case_id, kind, recipient, channel, attempts, "
                "reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                alert_id,
                row["case_id"],
                row["kind"],
                row["recipient"],
                row["channel"],
                attempts,
                reason,
                now,
            )

    async def dead_letters(self, *, include_requeued: bool = False) -> list[DeadLetter]:
        rows = await self.conn.fetch(
            "SELECT id, alert_id, case_id, kind, recipient, channel, attempts, reason, at, requeued_at "
            "FROM notifier_dead_letter WHERE $1 OR requeued_at IS NULL ORDER BY at, id",
            include_requeued,
        )
        return [
            DeadLetter(
                r["id"],
                r["alert_id"],
                r["case_id"],
                r["kind"],
                r["recipient"],
                r["channel"],
                r["attempts"],
                r["reason"],
                r["at"],
                r["requeued_at"],
            )
            for r in rows
        ]

    async def requeue(self, dead_letter_id: int, now: datetime) -> bool:
        """Send a dead-lettered notice again at the next dispatcher run."""
        conn = self.conn
        alert_id = await conn.fetchval(
            "UPDATE notifier_dead_letter SET requeued_at = $2 WHERE id = $1 AND requeued_at IS NULL "
            "RETURNING alert_id",
            dead_letter_id,
            now,
        )
        if alert_id is None:
            return False
        await conn.execute(
            "UPDATE notifier_alert SET status = 'pending', claimed_until = NULL"
            " WHERE id = $1 AND status = 'dead'",
            alert_id,
        )
        return True
