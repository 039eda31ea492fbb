"""Intake's repository: cases, their identity data, accepted events and the access log (raw asyncpg).

Rows go in and domain objects come out: callers never see a database record.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, TypeAdapter

from services.intake.domain import Case, Meeting, Refusal, Stay, TimeoutStay
from shared.actor import Actor
from shared.inputs import ReferralEvent

CASE_COLUMNS = (
    "case_id, kind, home_region, referrer, urgency, received_at, closed, stay, timeouts, meetings,"
    " waiting_reason, expected_start, refusals"
)
_timeouts = TypeAdapter(list[TimeoutStay])
_meetings = TypeAdapter(list[Meeting])
_refusals = TypeAdapter(list[Refusal])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _dump(value: BaseModel | list[Any] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps([item.model_dump(mode="json") for item in value])


def _case(row: asyncpg.Record) -> Case:
    stay = _json(row["stay"])
    return Case(
        id=row["case_id"],
        kind=row["kind"],
        home_region=row["home_region"],
        referrer=row["referrer"],
        urgency=row["urgency"],
        received_at=row["received_at"],
        closed=row["closed"],
        stay=Stay.model_validate(stay) if stay else None,
        timeouts=_timeouts.validate_python(_json(row["timeouts"]) or []),
        meetings=_meetings.validate_python(_json(row["meetings"]) or []),
        waiting_reason=row["waiting_reason"],
        expected_start=row["expected_start"],
        refusals=_refusals.validate_python(_json(row["refusals"]) or []),
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
        if not str(inserted).endswith(" 1"):
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

    async def add_event(self, case: str, type_: str, at: datetime, body: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO case_events (case_id, type, at, body) VALUES ($1, $2, $3, $4::jsonb)",
            case,
            type_,
            at,
            json.dumps(body, default=str),
        )

    async def log_access(self, actor: Actor, case: str, action: str) -> None:
        await self.conn.execute(
            "INSERT INTO access_log (actor, case_id, action) VALUES ($1, $2, $3)", actor.id, case, action
        )

    async def get(self, case: str, *, for_update: bool = False) -> Case | None:
        """The case; `for_update` locks it to the end of the transaction, so that events of one
        case are accepted one at a time and reach the outbox in the order they were accepted."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1{lock}", case)
        return _case(row) if row is not None else None

    async def all(self) -> list[Case]:
        return [_case(row) for row in await self.conn.fetch(f"SELECT {CASE_COLUMNS} FROM cases")]

    async def save(self, case: Case) -> None:
        """Write back what may change after the referral: closed, stay, time-outs, meetings, wait."""
        await self.conn.execute(
            "UPDATE cases SET closed = $2, stay = $3::jsonb, timeouts = $4::jsonb, meetings = $5::jsonb,"
            " waiting_reason = $6, expected_start = $7, refusals = $8::jsonb, updated_at = now()"
            " WHERE case_id = $1",
            case.id,
            case.closed,
            _dump(case.stay),
            _dump(case.timeouts),
            _dump(case.meetings),
            case.waiting_reason,
            case.expected_start,
            _dump(case.refusals),
        )
