"""Intake's repositories: cases and their accepted events, and the sealed identities (raw asyncpg).

Rows go in and domain objects come out: callers never see a database record. Identity data
reaches this layer sealed (services/intake/identity.py) and leaves it sealed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, TypeAdapter

from services.intake.domain import Case, Meeting, Refusal, Stay, TimeoutStay
from services.intake.identity import Identity, Sealed
from shared.inputs import Outcome, ReferralEvent

CASE_COLUMNS = (
    "case_id, kind, home_region, referrer, urgency, received_at, closed, stay, timeouts, meetings,"
    " waiting_reason, expected_start, refusals, close_reason, outcome, relapse"
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
    stay, outcome = _json(row["stay"]), _json(row["outcome"])
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
        close_reason=row["close_reason"],
        outcome=Outcome.model_validate(outcome) if outcome else None,
        relapse=row["relapse"],
    )


class CaseRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def request_hash(self, case: str) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT request_hash FROM cases WHERE case_id = $1", case
        )
        return value

    async def set_request_hash(self, case: str, request_hash: str) -> None:
        await self.conn.execute("UPDATE cases SET request_hash = $2 WHERE case_id = $1", case, request_hash)

    async def hashed_with_other_key(self, key_id: str) -> list[str]:
        """The cases whose referral digest was made with another key than `key_id`."""
        rows = await self.conn.fetch(
            "SELECT case_id FROM cases WHERE split_part(request_hash, ':', 1) <> $1 ORDER BY case_id", key_id
        )
        return [row["case_id"] for row in rows]

    async def referral_body(self, case: str) -> dict[str, Any] | None:
        """The referral as accepted, without its identity data (the `case_events` row)."""
        body = await self.conn.fetchval(
            "SELECT body FROM case_events WHERE case_id = $1 AND type = 'referral' ORDER BY id LIMIT 1", case
        )
        data = _json(body)
        return data if isinstance(data, dict) else None

    async def seconds_since_referral(self, case: str) -> float | None:
        """How long ago (database time) the case's referral was recorded; None without one."""
        value = await self.conn.fetchval(
            "SELECT extract(epoch FROM clock_timestamp() - recorded_at) FROM case_events"
            " WHERE case_id = $1 AND type = 'referral' ORDER BY id LIMIT 1",
            case,
        )
        return None if value is None else max(float(value), 0.0)

    async def add_referral(
        self, ref: ReferralEvent, request_hash: str, identity: Sealed, bsn_hash: bytes | None
    ) -> bool:
        """Store a new case with its sealed identity; False when the case id is already taken (a
        concurrent repeat)."""
        inserted = await self.conn.execute(
            "INSERT INTO identities (case_id, key_id, sealed, bsn_hash) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (case_id) DO NOTHING",
            ref.case,
            identity.key_id,
            identity.blob,
            bsn_hash,
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

    async def history(self, case: str) -> list[tuple[str, datetime, datetime, dict[str, Any]]]:
        """The case's events in the order they were accepted: type, at, recorded at, body."""
        rows = await self.conn.fetch(
            "SELECT type, at, recorded_at, body FROM case_events WHERE case_id = $1 ORDER BY id", case
        )
        return [(r["type"], r["at"], r["recorded_at"], json.loads(r["body"])) for r in rows]

    async def get(self, case: str, *, for_update: bool = False) -> Case | None:
        """The case; `for_update` locks it to the end of the transaction, so that events of one
        case are accepted one at a time and reach the outbox in the order they were accepted."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1{lock}", case)
        return _case(row) if row is not None else None

    async def all(self) -> list[Case]:
        return [_case(row) for row in await self.conn.fetch(f"SELECT {CASE_COLUMNS} FROM cases")]

    async def save(self, case: Case) -> None:
        """Write back what may change after the referral: closed, stay, time-outs, meetings, wait,
        and how the trajectory closed and its follow-up."""
        await self.conn.execute(
            "UPDATE cases SET closed = $2, stay = $3::jsonb, timeouts = $4::jsonb, meetings = $5::jsonb,"
            " waiting_reason = $6, expected_start = $7, refusals = $8::jsonb, close_reason = $9,"
            " outcome = $10::jsonb, relapse = $11, updated_at = now()"
            " WHERE case_id = $1",
            case.id,
            case.closed,
            _dump(case.stay),
            _dump(case.timeouts),
            _dump(case.meetings),
            case.waiting_reason,
            case.expected_start,
            _dump(case.refusals),
            case.close_reason,
            _dump(case.outcome),
            case.relapse,
        )


class IdentityRepository:
    """The `identities` table: one sealed identity per case, and the keyed hash of its BSN."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, case: str) -> Sealed | None:
        row = await self.conn.fetchrow("SELECT key_id, sealed FROM identities WHERE case_id = $1", case)
        if row is None or row["sealed"] is None:
            return None
        return Sealed(row["key_id"], bytes(row["sealed"]))

    async def cases_with_bsn(self, bsn_hashes: list[bytes]) -> list[str]:
        """The cases of a BSN, found by its keyed hashes (one per key of the ring)."""
        rows = await self.conn.fetch(
            "SELECT case_id FROM identities WHERE bsn_hash = ANY($1::bytea[]) ORDER BY case_id", bsn_hashes
        )
        return [row["case_id"] for row in rows]

    async def store(self, case: str, identity: Sealed, bsn_hash: bytes | None) -> None:
        """Replace a case's sealed identity (sealing plaintext rows, re-sealing with a new key)."""
        await self.conn.execute(
            "UPDATE identities SET key_id = $2, sealed = $3, bsn_hash = $4 WHERE case_id = $1",
            case,
            identity.key_id,
            identity.blob,
            bsn_hash,
        )

    async def sealed_with_other_key(self, key_id: str) -> list[tuple[str, Sealed]]:
        rows = await self.conn.fetch(
            "SELECT case_id, key_id, sealed FROM identities WHERE key_id <> $1 ORDER BY case_id FOR UPDATE",
            key_id,
        )
        return [(row["case_id"], Sealed(row["key_id"], bytes(row["sealed"]))) for row in rows]

    async def has_plaintext_columns(self) -> bool:
        """Whether the columns of before the identity store (migration 001) are still there."""
        found = await self.conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = 'identities' AND column_name IN ('birth_date', 'timeout_address')"
        )
        return bool(found)

    async def plaintext_rows(self) -> list[tuple[str, Identity]]:
        rows = await self.conn.fetch(
            "SELECT case_id, birth_date, timeout_address FROM identities WHERE sealed IS NULL"
            " ORDER BY case_id FOR UPDATE"
        )
        return [
            (row["case_id"], Identity(birth_date=row["birth_date"], timeout_address=row["timeout_address"]))
            for row in rows
        ]

    async def drop_plaintext_columns(self) -> None:
        """Once every row is sealed: no plaintext column is left, and every row must be sealed."""
        await self.conn.execute(
            "ALTER TABLE identities DROP COLUMN IF EXISTS birth_date, DROP COLUMN IF EXISTS timeout_address,"
            " ALTER COLUMN key_id SET NOT NULL, ALTER COLUMN sealed SET NOT NULL"
        )
