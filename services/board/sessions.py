"""Signed-in people: sessions in PostgreSQL behind an HTTP-only, SameSite cookie, each with its CSRF token.

The cookie holds 32 random bytes; the table keeps only their SHA-256. A session ends at
`board_session_hours` after sign-in, after `board_idle_minutes` unused, or when the person signs out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

COOKIE = "thuisbest_board"
SEEN_EVERY = timedelta(minutes=1)  # `seen_at` is written at most this often per session
PENDING_FOR = timedelta(minutes=10)  # an OpenID Connect sign-in must come back within this


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass
class Session:
    id_hash: bytes
    person: str
    csrf: str
    language: str | None
    tokens: dict[str, Any] | None
    expires_at: datetime
    seen_at: datetime

    def csrf_ok(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.csrf.encode())


@dataclass(frozen=True)
class Pending:
    code_verifier: str
    nonce: str
    return_to: str


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, *, lifetime: timedelta, idle: timedelta) -> None:
        self.pool, self.lifetime, self.idle = pool, lifetime, idle

    async def create(
        self, person: str, now: datetime, *, language: str | None, tokens: dict[str, Any] | None = None
    ) -> tuple[str, Session]:
        """A new session of `person`: the cookie value (shown once) and the session."""
        cookie = secrets.token_urlsafe(32)
        session = Session(
            _hash(cookie), person, secrets.token_urlsafe(32), language, tokens, now + self.lifetime, now
        )
        await self.pool.execute(
            "INSERT INTO board_sessions (id_hash, person, csrf, language, tokens, created_at, seen_at,"
            " expires_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6, $7)",
            session.id_hash,
            person,
            session.csrf,
            language,
            None if tokens is None else json.dumps(tokens),
            now,
            session.expires_at,
        )
        return cookie, session

    async def get(self, cookie: str | None, now: datetime) -> Session | None:
        """The live session of a cookie; None when there is none, it expired or sat idle too long."""
        if not cookie or len(cookie) > 100:
            return None
        row = await self.pool.fetchrow(
            "SELECT id_hash, person, csrf, language, tokens, expires_at, seen_at FROM board_sessions"
            " WHERE id_hash = $1",
            _hash(cookie),
        )
        if row is None:
            return None
        session = Session(
            row["id_hash"],
            row["person"],
            row["csrf"],
            row["language"],
            None if row["tokens"] is None else json.loads(row["tokens"]),
            row["expires_at"],
            row["seen_at"],
        )
        if now >= session.expires_at or now - session.seen_at >= self.idle:
            await self.pool.execute("DELETE FROM board_sessions WHERE id_hash = $1", session.id_hash)
            return None
        if now - session.seen_at >= SEEN_EVERY:
            session.seen_at = now
            await self.pool.execute(
                "UPDATE board_sessions SET seen_at = $2 WHERE id_hash = $1", session.id_hash, now
            )
        return session

    async def end(self, session: Session) -> None:
        await self.pool.execute("DELETE FROM board_sessions WHERE id_hash = $1", session.id_hash)

    async def set_language(self, session: Session, language: str) -> None:
        session.language = language
        await self.pool.execute(
            "UPDATE board_sessions SET language = $2 WHERE id_hash = $1", session.id_hash, language
        )

    async def set_tokens(self, session: Session, tokens: dict[str, Any]) -> None:
        session.tokens = tokens
        await self.pool.execute(
            "UPDATE board_sessions SET tokens = $2::jsonb WHERE id_hash = $1",
            session.id_hash,
            json.dumps(tokens),
        )

    async def purge(self, now: datetime) -> int:
        """Forget ended sessions and stale sign-ins; returns how many sessions went."""
        status = await self.pool.execute(
            "DELETE FROM board_sessions WHERE expires_at <= $1 OR seen_at <= $2", now, now - self.idle
        )
        await self.pool.execute("DELETE FROM board_pending_signins WHERE created_at <= $1", now - PENDING_FOR)
        return int(status.split()[-1])

    async def use_link(self, jti: str, person: str) -> bool:
        """True the first time a sign-in link's token id is used; False ever after."""
        status = await self.pool.execute(
            "INSERT INTO board_signin_links (jti, person) VALUES ($1, $2) ON CONFLICT DO NOTHING", jti, person
        )
        return str(status).endswith(" 1")

    async def begin_signin(self, state: str, pending: Pending, now: datetime) -> None:
        await self.pool.execute(
            "INSERT INTO board_pending_signins (state, code_verifier, nonce, return_to, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            state,
            pending.code_verifier,
            pending.nonce,
            pending.return_to,
            now,
        )

    async def finish_signin(self, state: str, now: datetime) -> Pending | None:
        """The sign-in under way with this state, once (and only within PENDING_FOR)."""
        row = await self.pool.fetchrow(
            "DELETE FROM board_pending_signins WHERE state = $1 RETURNING code_verifier, nonce, return_to,"
            " created_at",
            state,
        )
        if row is None or now - row["created_at"] > PENDING_FOR:
            return None
        return Pending(row["code_verifier"], row["nonce"], row["return_to"])
