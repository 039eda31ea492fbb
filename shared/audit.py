"""The audit trail of every service: who read or changed which case, and what came of it.

Rows are written in the use case's own transaction when access is allowed (the change and its
record commit together) and in a transaction of their own when it is refused (the refusal rolls
the use case back, its record must stay). The privacy officer reads them at `GET /v1/audit`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import asyncpg
from fastapi import APIRouter, Request
from pydantic import BaseModel

from shared.actor import Actor
from shared.http import ActorDep, CaseQuery, problems_documented

log = logging.getLogger(__name__)
Outcome = Literal["allowed", "refused"]
COLUMNS = ("service", "person", "role", "case_id", "action", "address", "outcome", "detail")


class AuditEntry(BaseModel):
    at: datetime
    service: str
    person: str
    role: str
    case: str | None
    action: str
    address: str | None
    outcome: Outcome
    detail: str | None


MAX_TEXT = 200  # a case id from a URL is whatever the caller typed: keep the record small


def _text(value: str | None) -> str | None:
    """Text PostgreSQL can store (no NUL), cut to MAX_TEXT: a refusal of odd input is recorded too."""
    if value is None:
        return None
    clean = value.replace("\x00", "\\0")
    return clean if len(clean) <= MAX_TEXT else clean[: MAX_TEXT - 1] + "…"


def _row(
    service: str, actor: Actor, action: str, case: str | None, outcome: Outcome, detail: str | None
) -> tuple[str | None, ...]:
    fields = (service, actor.id, actor.role, case, action, actor.address, outcome, detail)
    return tuple(_text(f) for f in fields)


async def write(
    conn: asyncpg.Connection,
    service: str,
    actor: Actor,
    action: str,
    cases: Iterable[str | None],
    outcome: Outcome = "allowed",
    detail: str | None = None,
) -> None:
    """One row per case (None: an action on no case, such as a capacity change)."""
    rows = [_row(service, actor, action, case, outcome, detail) for case in cases]
    if len(rows) == 1:
        await conn.execute(
            "INSERT INTO audit (service, person, role, case_id, action, address, outcome, detail)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            *rows[0],
        )
    elif rows:
        await conn.copy_records_to_table("audit", records=rows, columns=COLUMNS)


class AuditTrail:
    def __init__(self, pool: asyncpg.Pool, service: str) -> None:
        self.pool, self.service = pool, service

    async def record(
        self,
        actor: Actor,
        action: str,
        case: str | None,
        outcome: Outcome = "allowed",
        detail: str | None = None,
    ) -> None:
        async with self.pool.acquire() as conn:
            await write(conn, self.service, actor, action, [case], outcome, detail)

    async def of_case(self, case: str, limit: int = 1000) -> list[AuditEntry]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT at, service, person, role, case_id, action, address, outcome, detail FROM audit"
                " WHERE case_id = $1 ORDER BY id LIMIT $2",
                case,
                limit,
            )
        return [AuditEntry(case=r["case_id"], **{k: r[k] for k in r.keys() if k != "case_id"}) for r in rows]

    async def keep_for(self, days: int) -> int:
        """Raise the stored retention to `days` if it is lower, then purge what is older; the
        number of rows purged."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE audit_policy SET retention = make_interval(days => $1)"
                " WHERE retention < make_interval(days => $1)",
                days,
            )
            status = await conn.execute(
                "DELETE FROM audit WHERE at < now() - (SELECT retention FROM audit_policy)"
            )
        purged = int(str(status).split()[-1])
        if purged:
            log.info("%s: purged %d audit rows past their retention", self.service, purged)
        return purged


audit_router = APIRouter()


@audit_router.get(
    "/v1/audit",
    tags=["privacy"],
    summary="The audit trail of a case in this service (privacy officer only)",
    response_model=list[AuditEntry],
    responses=problems_documented(401, 403, 422, 503),
)
async def read_audit(case: CaseQuery, actor: ActorDep, request: Request) -> list[AuditEntry]:
    runtime = request.app.state.runtime
    await runtime.gate.role(actor, "read_audit", case)
    entries: list[AuditEntry] = await runtime.trail.of_case(case)
    await runtime.trail.record(actor, "read_audit", case)
    return entries
