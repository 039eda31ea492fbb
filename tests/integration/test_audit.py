"""The audit trail on a real PostgreSQL: append-only for the services' own role, purged only past
its retention, and the retention can only go up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.actor import Actor
from shared.audit import AuditTrail, write
from shared.db import create_pool, migrate

PLATFORM = Path(__file__).resolve().parents[2] / "shared" / "migrations"
COORD = Actor(id="coord", role="coordinator", regions=frozenset({"ZL"}), address="10.1.2.3")


@pytest.fixture
async def pool(fresh_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(fresh_db)
    await migrate(pool, "platform", PLATFORM)
    yield pool
    await pool.close()


async def test_rows_are_appended_and_read_back_per_case(pool: asyncpg.Pool) -> None:
    trail = AuditTrail(pool, "intake")
    await trail.record(COORD, "read_case", "c-1")
    await trail.record(COORD, "withdraw", "c-1", "refused", "404: case: unknown case 'c-1'")
    async with pool.acquire() as conn:
        await write(conn, "scheduler", COORD, "read_plan", ["c-1", "c-2", "c-3"])  # COPY path
    entries = await trail.of_case("c-1")
    assert [(e.service, e.action, e.outcome) for e in entries] == [
        ("intake", "read_case", "allowed"),
        ("intake", "withdraw", "refused"),
        ("scheduler", "read_plan", "allowed"),
    ]
    assert (
        entries[0].person == "coord" and entries[0].role == "coordinator" and entries[0].address == "10.1.2.3"
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit SET person = 'someone-else'",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "UPDATE audit_policy SET retention = interval '1 day'",
        "DELETE FROM audit_policy",
    ],
)
async def test_the_trail_cannot_be_changed_or_emptied(pool: asyncpg.Pool, statement: str) -> None:
    await AuditTrail(pool, "intake").record(COORD, "read_case", "c-1")
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM audit") == 1
        assert await conn.fetchval("SELECT retention = interval '7305 days' FROM audit_policy")


async def test_only_rows_past_the_retention_are_purged_and_retention_only_rises(pool: asyncpg.Pool) -> None:
    trail = AuditTrail(pool, "intake")
    async with pool.acquire() as conn:
        # An old row, as if written 21 years ago (the trigger lets inserts through untouched).
        await conn.execute(
            "INSERT INTO audit (at, service, person, role, case_id, action, outcome)"
            " VALUES (now() - interval '21 years', 'intake', 'old', 'coordinator', 'c-0', 'read_case',"
            " 'allowed')"
        )
    await trail.record(COORD, "read_case", "c-1")
    assert await trail.keep_for(7305) == 1  # the 21-year-old row goes, today's stays
    assert [e.person for e in await trail.of_case("c-1")] == ["coord"]
    await trail.keep_for(10000)  # raising works
    await trail.keep_for(400)  # lowering is ignored: the longer retention stays
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT retention FROM audit_policy") == await conn.fetchval(
            "SELECT interval '10000 days'"
        )
