"""Fixtures of every tier that needs PostgreSQL: one embedded server a session, a fresh database a test."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings

from tools.embedded import EmbeddedPostgres

# Property tests check rules, not speed: on a shared 2-core machine an example may take longer
# than Hypothesis's default 200 ms deadline for reasons that have nothing to do with the code.
settings.register_profile("thuisbest", deadline=None, print_blob=True)
settings.load_profile("thuisbest")


def dsn_for(dsn: str, database: str) -> str:
    """The DSN of another database on the same server."""
    return f"{dsn.rsplit('/', 1)[0]}/{database}"


@contextlib.contextmanager
def pg_temp_dir() -> Iterator[Path]:
    """A temporary directory for a postgres data dir, outside pytest's tmp_path: as root
    the server runs as another user, and every pytest session that starts strips the
    group/other permissions from /tmp/pytest-of-root, locking that user out."""
    path = Path(tempfile.mkdtemp(prefix="thuisbest-pg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    with pg_temp_dir() as path, EmbeddedPostgres(path / "data") as server:
        yield server.dsn


@pytest.fixture
def pg_tmp_path() -> Iterator[Path]:
    """Like tmp_path, for tests that run their own EmbeddedPostgres."""
    with pg_temp_dir() as path:
        yield path


@pytest.fixture
async def fresh_db(pg_dsn: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex}"
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield dsn_for(pg_dsn, name)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()
