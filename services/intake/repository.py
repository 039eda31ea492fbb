"""Intake's repository: cases, their identity data, accepted events and the access log (raw asyncpg)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg

from shared.events import (
    CaseWaitlisted,
    Decision,
    PlacementCancelled,
    PlacementPlanned,
    RequestRefused,
    StartgesprekCancelled,
    StartgesprekPlanned,
    TimeoutAssigned,
)
from shared.inputs import ReferralEvent

CASE_COLUMNS = (
    "case_id, kind, closed, stay, timeouts, meetings, waiting_reason, expected_start, refusals, received_at"
)

WITHOUT_STARTGESPREK = (
    "(SELECT coalesce(jsonb_agg(m), '[]'::jsonb) FROM jsonb_array_elements(meetings) m"
    " WHERE m->>'meeting' <> 'startgesprek')"
)


class CaseRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def request_hash(self, case: str) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT request_hash FROM cases WHERE case_id = $1", case
        )
        return value

    async def add_referral(self, ref: ReferralEvent, request_hash: str) -> bool:
        """Store a new case; False when the case id is already taken (a concurrent repeat)."""
        inserted = await self.conn.execute(
            "INSERT INTO identities (case_id, birth_date, timeout_address) VALUES ($1, $2, $3)"
            " ON CONFLICT (case_id) DO NOTHING",
            ref.case,
            ref.birth_date,
            ref.timeout_address,
        )
        if not inserted.endswith(" 1"):
            return False
        await self.conn.execute(
            "INSERT INTO cases (case_id, kind, home_region, referrer, urgency, received_at, request_hash)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            ref.case,
            ref.kind,
            ref.home_region,
            ref.referrer,
            ref.urgency,
            ref.at,
            request_hash,
        )
        return True

    async def add_event(self, case: str, type_: str, at: Any, body: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO case_events (case_id, type, at, body) VALUES ($1, $2, $3, $4::jsonb)",
            case,
            type_,
            at,
            json.dumps(body, default=str),
        )

    async def set_closed(self, case: str, how: str | None) -> None:
        await self.conn.execute(
            "UPDATE cases SET closed = $2, updated_at = now() WHERE case_id = $1", case, how
        )

    async def log_access(self, actor: str, case: str, action: str) -> None:
        await self.conn.execute(
            "INSERT INTO access_log (actor, case_id, action) VALUES ($1, $2, $3)", actor, case, action
        )

    async def get(self, case: str, *, for_update: bool = False) -> asyncpg.Record | None:
        """The case row; `for_update` locks it to the end of the transaction, so that events of one
        case are accepted one at a time and reach the outbox in the order they were accepted."""
        lock = " FOR UPDATE" if for_update else ""
        return await self.conn.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1{lock}", case)

    async def count_by_status(self, today: date) -> dict[str, int]:
        rows = await self.conn.fetch(f"SELECT {CASE_COLUMNS} FROM cases")
        counts: dict[str, int] = {}
        for row in rows:
            status = case_status(row, today)
            counts[status] = counts.get(status, 0) + 1
        return counts

    async def apply_decision(self, d: Decision) -> None:
        """Keep the case view up to date with what the scheduler decided."""
        match d:
            case PlacementPlanned():
                stay = {
                    "group": d.group,
                    "location": d.location,
                    "start": d.start.isoformat(),
                    "end": d.end.isoformat(),
                    "mst_therapist": d.mst_therapist,
                    "trajectbegeleider": d.trajectbegeleider,
                    "explanation": d.explanation,
                }
                await self._update(
                    d.case, "stay = $2::jsonb, waiting_reason = NULL, expected_start = NULL", json.dumps(stay)
                )
            case PlacementCancelled():
                await self._update(d.case, "stay = NULL, waiting_reason = $2", d.reason)
            case CaseWaitlisted():
                await self._update(
                    d.case,
                    "stay = NULL, waiting_reason = $2, expected_start = $3",
                    d.reason,
                    d.expected_start,
                )
            case StartgesprekPlanned():
                meeting = {
                    "meeting": "startgesprek",
                    "start": d.start.strftime("%Y-%m-%dT%H:%M"),
                    "end": d.end.strftime("%Y-%m-%dT%H:%M"),
                    "place": d.place,
                    "attendees": d.attendees,
                }
                await self._update(
                    d.case,
                    f"meetings = {WITHOUT_STARTGESPREK} || jsonb_build_array($2::jsonb)",
                    json.dumps(meeting),
                )
            case StartgesprekCancelled():
                await self._update(
                    d.case,
                    f"meetings = {WITHOUT_STARTGESPREK}",
                )
            case TimeoutAssigned():
                timeout = {"group": d.group, "location": d.location, "start": str(d.start), "end": str(d.end)}
                await self._update(
                    d.case, "timeouts = timeouts || jsonb_build_array($2::jsonb)", json.dumps(timeout)
                )
            case RequestRefused():
                refusal = {"event": d.event, "at": d.at.strftime("%Y-%m-%dT%H:%M"), "reason": d.reason}
                await self._update(
                    d.case, "refusals = refusals || jsonb_build_array($2::jsonb)", json.dumps(refusal)
                )
                if d.event == "withdraw":  # the scheduler refused it: the case goes on
                    await self.set_closed(d.case, None)

    async def _update(self, case: str, assignments: str, *args: Any) -> None:
        await self.conn.execute(
            f"UPDATE cases SET {assignments}, updated_at = now() WHERE case_id = $1", case, *args
        )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def case_status(row: asyncpg.Record, today: date) -> str:
    """registered, waiting, planned, placed, home, timeout, closed or withdrawn, as of `today`."""
    if row["closed"]:
        return str(row["closed"])
    for t in _json(row["timeouts"]) or []:
        if date.fromisoformat(t["start"]) <= today < date.fromisoformat(t["end"]):
            return "timeout"
    stay = _json(row["stay"])
    if stay:
        if today < date.fromisoformat(stay["start"]):
            return "planned"
        return "placed" if today < date.fromisoformat(stay["end"]) else "home"
    if row["waiting_reason"]:
        return "waiting"
    return "registered"


def case_view(row: asyncpg.Record, today: date) -> dict[str, Any]:
    return {
        "case": row["case_id"],
        "status": case_status(row, today),
        "stay": _json(row["stay"]),
        "meetings": _json(row["meetings"]),
        "waiting_reason": row["waiting_reason"],
        "expected_start": row["expected_start"].isoformat() if row["expected_start"] else None,
    }
