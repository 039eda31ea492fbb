"""The scheduler's repository: the planning core's snapshot and the capacity changes announced (asyncpg)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import asyncpg

from shared.actor import Actor
from shared.inputs import CapacityRequest


class PlannerRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def snapshot(self) -> dict[str, Any] | None:
        text = await self.conn.fetchval("SELECT snapshot::text FROM planner_state WHERE id = 1")
        return json.loads(text) if text else None

    async def save_snapshot(self, snapshot: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO planner_state (id, snapshot) VALUES (1, $1::jsonb)"
            " ON CONFLICT (id) DO UPDATE SET snapshot = EXCLUDED.snapshot, saved_at = now()",
            json.dumps(snapshot, default=str),
        )

    async def add_capacity_change(self, change: CapacityRequest, at: datetime, actor: Actor) -> None:
        await self.conn.execute(
            "INSERT INTO capacity_changes (group_id, beds, from_day, until_day, at, actor)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            change.group,
            change.beds,
            change.from_,
            change.until,
            at,
            actor.id,
        )

    async def capacity_changes(self, groups: list[str], first: date, until: date) -> list[asyncpg.Record]:
        """The changes of `groups` that touch a night in [first, until), in the order announced."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT group_id, beds, from_day, until_day, at, actor FROM capacity_changes"
            " WHERE group_id = ANY($1::text[]) AND from_day < $3 AND until_day > $2 ORDER BY id",
            groups,
            first,
            until,
        )
        return rows
