"""The notifier's repository: per-case engine state and parties, alerts as durable timers, deliveries,
acknowledge links, acks, dead letters. Raw asyncpg on the connection of a unit of work (the caller
owns the transaction); rows go in and domain objects come out.

Alerts are upserted by their dedupe key, so a notice or timer computed twice is one row; the
dispatcher claims due rows (`claim_due`, FOR UPDATE SKIP LOCKED plus a lease) so that no two
dispatchers send one row twice. Each claim makes the acknowledge link of the message about to go
out: only a hash of its token is kept, with its expiry and, once used, when (a link works once).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.notifier.engine import Notice, Parties


@dataclass(frozen=True)
class AlertRow:
    """An alert row as ops and the case view see it (no message text: that goes to its recipient only)."""

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
class OwnAlert:
    """An alert row as its recipient sees it in their list: with its subject (in their language)."""

    id: int
    case: str
    kind: str
    level: int
    subject: str
    due_at: datetime
    act_by: str | None
    urgent: bool
    escalates: bool
    created_at: datetime
    sent_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None


@dataclass(frozen=True)
class Claimed:
    """A due row claimed by one dispatcher for the length of its lease, with the token of the
    acknowledge link its message carries (kept here only as a hash)."""

    id: int
    token: str
    notice: Notice


@dataclass(frozen=True)
class Chain:
    """An alert row and who may acknowledge it: everyone its alert goes to, its recipients and every
    level of its escalation chain above them (a person is on it once, at the first level naming them)."""

    row: AlertRow
    people: frozenset[str]


@dataclass(frozen=True)
class Link:
    """An acknowledge link as stored: whose it is, until when it works, whether it was used."""

    alert_id: int
    recipient: str
    case: str
    expires_at: datetime
    used_at: datetime | None

    def problem(self, now: datetime) -> str | None:
        """Why the link no longer works, or None."""
        if self.used_at is not None:
            return "used before"
        if self.expires_at <= now:
            return "expired"
        return None


def link_hash(token: str) -> bytes:
    """What is stored of a link's token: its SHA-256 (the token is 256 random bits, so a plain
    hash cannot be reversed by guessing)."""
    return hashlib.sha256(token.encode()).digest()


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
    (key, alert, case_id, kind, recipient, channel, level, due_at, status, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
        CASE WHEN EXISTS (SELECT 1 FROM notifier_ack a WHERE a.alert = $2) THEN 'acked' ELSE 'pending' END,
        $9::jsonb)
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

    async def save_parties(self, case: str, parties: Parties | None) -> None:
        """Who the case concerns, as the last event left it: what `read_case` is checked against."""
        if parties is None:
            return
        await self.conn.execute(
            "INSERT INTO notifier_case_scope (case_id, home_region, referrer, therapist, trajectbegeleider)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id) DO UPDATE SET"
            " home_region = EXCLUDED.home_region, referrer = EXCLUDED.referrer,"
            " therapist = EXCLUDED.therapist, trajectbegeleider = EXCLUDED.trajectbegeleider",
            case,
            parties.home_region,
            parties.referrer,
            parties.therapist,
            parties.trajectbegeleider,
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

    async def parties(self, case: str) -> Parties | None:
        row = await self.conn.fetchrow(
            "SELECT home_region, referrer, therapist, trajectbegeleider FROM notifier_case_scope"
            " WHERE case_id = $1",
            case,
        )
        if row is None:
            return None
        return Parties(row["home_region"], row["referrer"], row["therapist"], row["trajectbegeleider"])

    async def chain(self, alert_id: int) -> Chain | None:
        """The row and the people of its alert at every level (stored up front, one row each)."""
        row = await self.get(alert_id)
        if row is None:
            return None
        people = await self.conn.fetch(
            "SELECT DISTINCT recipient FROM notifier_alert WHERE alert = $1", row.alert
        )
        return Chain(row, frozenset(r["recipient"] for r in people))

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

    async def escalation_counts(self) -> tuple[int, int]:
        """Open escalating alerts (see `open_alerts`), and those of them whose last escalation level
        has gone out with nobody acknowledging (no level left pending): (open, exhausted)."""
        row = await self.conn.fetchrow(
            "SELECT count(DISTINCT s.alert) AS open, count(DISTINCT s.alert) FILTER (WHERE NOT EXISTS"
            " (SELECT 1 FROM notifier_alert p WHERE p.alert = s.alert AND p.status = 'pending')) AS exhausted"
            " FROM notifier_alert s WHERE s.status = 'sent'"
            " AND (s.payload->>'escalates')::boolean"
            " AND NOT EXISTS (SELECT 1 FROM notifier_ack k WHERE k.alert = s.alert)"
            " AND NOT EXISTS (SELECT 1 FROM notifier_alert c"
            " WHERE c.alert = s.alert AND c.status = 'cancelled')"
        )
        assert row is not None
        return int(row["open"] or 0), int(row["exhausted"] or 0)

    # -- acknowledgement ----------------------------------------------------------------------

    async def ack(self, alert_id: int, by: str, now: datetime) -> AckResult | None:
        """Acknowledge the alert of a notice on behalf of `by`; None for an unknown id. Who may do
        so is the caller's to check.

        The whole alert (every person and level) stops: pending rows become `acked` and never fire.
        """
        conn = self.conn
        alert = await conn.fetchval("SELECT alert FROM notifier_alert WHERE id = $1", alert_id)
        if alert is None:
            return None
        inserted = await conn.fetchval(
            "INSERT INTO notifier_ack (alert, alert_id, acked_by, acked_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (alert) DO NOTHING RETURNING true",
            alert,
            alert_id,
            by,
            now,
        )
        if not inserted:
            earlier = await conn.fetchval("SELECT acked_by FROM notifier_ack WHERE alert = $1", alert)
            return AckResult(alert_id, alert, earlier, False, None)
        await conn.execute(
            "UPDATE notifier_alert SET status = 'acked', acked_at = $2, acked_by = $3 "
            "WHERE alert = $1 AND status IN ('pending', 'sent')",
            alert,
            now,
            by,
        )
        first_sent = await conn.fetchval("SELECT min(sent_at) FROM notifier_alert WHERE alert = $1", alert)
        seconds = (now - first_sent).total_seconds() if first_sent else None
        return AckResult(alert_id, alert, by, True, seconds)

    async def own(self, person: str, *, acked_since: datetime | None, limit: int) -> list[OwnAlert]:
        """The alerts sent to `person` (the first notice or an escalation to them) that nobody has
        acknowledged, and with `acked_since` those acknowledged since then too; open before
        acknowledged, urgent first, then the highest escalation level, then the newest. An alert
        whose cause cleared (its remaining levels cancelled: the meeting was held, the stay ended)
        is not open any more."""
        rows = await self.conn.fetch(
            """
            SELECT a.id, a.case_id, a.kind, a.level, a.due_at, a.sent_at, a.created_at,
                   coalesce(a.payload->>'subject', '') AS subject, a.payload->>'act_by' AS act_by,
                   coalesce((a.payload->>'urgent')::boolean, false) AS urgent,
                   coalesce((a.payload->>'escalates')::boolean, false) AS escalates,
                   k.acked_at, k.acked_by
            FROM notifier_alert a
            LEFT JOIN notifier_ack k ON k.alert = a.alert
            WHERE a.recipient = $1 AND a.sent_at IS NOT NULL AND a.status IN ('sent', 'acked')
              AND (k.alert IS NULL OR ($2::timestamp IS NOT NULL AND k.acked_at >= $2::timestamp))
              AND (k.alert IS NOT NULL OR NOT EXISTS
                   (SELECT 1 FROM notifier_alert c WHERE c.alert = a.alert AND c.status = 'cancelled'))
            ORDER BY k.alert IS NULL DESC, urgent DESC, a.level DESC, a.due_at DESC, a.id DESC
            LIMIT $3
            """,
            person,
            acked_since,
            limit,
        )
        return [
            OwnAlert(
                id=r["id"],
                case=r["case_id"],
                kind=r["kind"],
                level=r["level"],
                subject=r["subject"],
                due_at=r["due_at"],
                act_by=r["act_by"],
                urgent=r["urgent"],
                escalates=r["escalates"],
                created_at=r["created_at"],
                sent_at=r["sent_at"],
                acked_at=r["acked_at"],
                acked_by=r["acked_by"],
            )
            for r in rows
        ]

    async def link(self, alert_id: int, token: str, *, for_update: bool = False) -> Link | None:
        """The acknowledge link of this alert row with this token, if there is one."""
        row = await self.conn.fetchrow(
            "SELECT l.alert_id, a.recipient, a.case_id, l.expires_at, l.used_at"
            " FROM notifier_ack_link l JOIN notifier_alert a ON a.id = l.alert_id"
            " WHERE l.token_hash = $1 AND l.alert_id = $2" + (" FOR UPDATE OF l" if for_update else ""),
            link_hash(token),
            alert_id,
        )
        if row is None:
            return None
        return Link(row["alert_id"], row["recipient"], row["case_id"], row["expires_at"], row["used_at"])

    async def use_link(self, token: str, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE notifier_ack_link SET used_at = $2 WHERE token_hash = $1", link_hash(token), now
        )

    # -- the dispatcher's side ----------------------------------------------------------------

    async def claim_due(
        self, now: datetime, *, limit: int, lease: timedelta, link_valid: timedelta
    ) -> list[Claimed]:
        """Claim up to `limit` due pending rows until now + lease, skipping rows another dispatcher
        holds; each gets a new acknowledge link, valid for `link_valid` (a row sent again after a
        crash gets another: the links of both messages work)."""
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
            RETURNING a.id, a.payload
            """,
            now,
            limit,
            now + lease,
        )
        claimed = [
            Claimed(r["id"], secrets.token_urlsafe(32), Notice.from_json(json.loads(r["payload"])))
            for r in rows
        ]
        if claimed:
            await conn.executemany(
                "INSERT INTO notifier_ack_link (token_hash, alert_id, expires_at) VALUES ($1, $2, $3)",
                [(link_hash(c.token), c.id, now + link_valid) for c in claimed],
            )
        return sorted(claimed, key=lambda c: (c.notice, c.id))

    async def mark_sent(self, alert_id: int, now: datetime, *, channel: str, attempts: int) -> None:
        conn = self.conn
        # An ack or cancel that raced the send keeps its status; sent_at records the send. The
        # message text is not kept once it went out: the case view never shows it.
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

    async def requeue(self, dead_letter_id: int, now: datetime) -> str | None:
        """Send a dead-lettered notice again at the next dispatcher run; its case, or None when
        there is no such dead letter waiting."""
        conn = self.conn
        row = await conn.fetchrow(
            "UPDATE notifier_dead_letter SET requeued_at = $2 WHERE id = $1 AND requeued_at IS NULL "
            "RETURNING alert_id, case_id",
            dead_letter_id,
            now,
        )
        if row is None:
            return None
        await conn.execute(
            "UPDATE notifier_alert SET status = 'pending', claimed_until = NULL"
            " WHERE id = $1 AND status = 'dead'",
            row["alert_id"],
        )
        return str(row["case_id"])
