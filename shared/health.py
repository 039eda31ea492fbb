"""Health: what `/healthz` answers for a service (its database and broker connections)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

if TYPE_CHECKING:
    from shared.service import Runtime


class Health(BaseModel):
    service: str
    database: str  # "ok" or "down: <why>"
    broker: str


async def check(runtime: Runtime) -> dict[str, str]:
    status = {"service": runtime.name}
    try:
        async with runtime.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
        status["database"] = "ok"
    except Exception as exc:  # report, don't raise: this is the health answer
        status["database"] = f"down: {type(exc).__name__}"
    try:
        ok = await runtime.broker.ping(timeout=2)
        status["broker"] = "ok" if ok else "down"
    except Exception as exc:
        status["broker"] = f"down: {type(exc).__name__}"
    return status


def install_health(app: FastAPI, runtime: Runtime) -> None:
    @app.get(
        "/healthz",
        tags=["ops"],
        summary="200 when the broker and database connections work",
        response_model=Health,
        responses={503: {"model": Health, "description": "The database or the broker is down"}},
    )
    async def healthz() -> JSONResponse:
        status = await check(runtime)
        healthy = status["database"] == "ok" and status["broker"] == "ok"
        return JSONResponse(status, status_code=200 if healthy else 503)
