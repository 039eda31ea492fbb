"""PostgreSQL access: a pool per service and numbered .sql migrations per service schema."""

from __future__ import annotations

from pathlib import Path

import asyncpg


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 5) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=30)
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool, service: str, folder: Path) -> list[str]:
    """Apply `folder/NNN_*.sql` not yet applied for `service`, each in its own transaction.

    Several processes may start at once: one advisory lock makes them take turns.
    Returns the names applied now.
    """
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext('thuisbest-migrations'))")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " service text NOT NULL, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (service, name))"
            )
            done = {
                r["name"]
                for r in await conn.fetch("SELECT name FROM schema_migrations WHERE service = $1", service)
            }
            for path in sorted(folder.glob("[0-9][0-9][0-9]_*.sql")):
                if path.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (service, name) VALUES ($1, $2)",
                        service,
                        path.name,
                    )
                applied_now.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('thuisbest-migrations'))")
    return applied_now
