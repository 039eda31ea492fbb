"""Health that tells the truth: what `/healthz` and `/readyz` answer, and the platform gauges they share.

`/healthz` says whether the service is alive: 200 while its database and broker connections work
(status `ok`, or `degraded` when something behind them is stuck), 503 when either is `down`.
`/readyz` is stricter: 200 only when the status is `ok`. Degraded means: the outbox holds a row
not yet published (poisoned rows aside) older than `outbox_stuck_seconds`, a consumer is more
than `consumer_lag_max` messages behind on a topic, or a check the service added says so (the
scheduler's last re-plan failed).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import Gauge
from pydantic import BaseModel

from shared.aio import within

if TYPE_CHECKING:
    from shared.bus import OutboxRelay
    from shared.service import Runtime

log = logging.getLogger(__name__)
PROBE_SECONDS = 2.0
OK = "ok"
Status = Literal["ok", "degraded", "down"]
# A check the service adds: None when all is well, else what is wrong (a short sentence).
Check = Callable[[], str | None]


class Health(BaseModel):
    service: str
    status: Status
    database: str  # "ok" or "down: <why>"
    broker: str
    checks: dict[str, str]  # name -> "ok" or what is wrong


class Monitor:
    """The service's health checks and the gauges of its outbox backlog and consumer lag."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.lag = Gauge(
            "thuisbest_consumer_lag",
            "Messages a consumer is behind, summed over its assigned partitions of a topic",
            ["service", "topic"],
            registry=runtime.registry,
        )
        self.checks: dict[str, Check] = {}

    def add_check(self, name: str, check: Check) -> None:
        """Report `check` under `name`; the service is degraded while it returns a reason."""
        self.checks[name] = check

    def _relay(self) -> OutboxRelay | None:
        try:
            return self.runtime.relay
        except AssertionError:  # not started
            return None

    async def outbox(self) -> str:
        """`ok`, or how many rows wait and how old the oldest is when it is older than allowed."""
        relay = self._relay()
        if relay is None:
            return OK
        backlog = await within(relay.backlog(), PROBE_SECONDS)
        limit = self.runtime.settings.outbox_stuck_seconds
        if backlog.rows and backlog.oldest_seconds > limit:
            return (
                f"stuck: {backlog.rows} events not published, the oldest {backlog.oldest_seconds:.0f} s"
                f" old (more than {limit:g} s)"
            )
        return OK

    async def consumer_lag(self) -> dict[str, int]:
        """Messages behind per topic: the end offset minus the consumer's position, summed over its
        assigned partitions (one offsets request per consumer)."""
        behind: dict[str, int] = {}
        for subscriber in self.runtime.broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if not isinstance(consumer, AIOKafkaConsumer):
                continue  # not started, or an in-memory test broker
            for topic in consumer.subscription():
                behind.setdefault(topic, 0)
            assigned = list(consumer.assignment())
            if not assigned:
                continue
            # One ListOffsets request per consumer: the high watermark a fetch reports is only as
            # far as that fetch read on some brokers (tansu), so it cannot be trusted for the end.
            ends = await within(consumer.end_offsets(assigned), PROBE_SECONDS)
            for tp in assigned:
                position = await within(consumer.position(tp), PROBE_SECONDS)
                behind[tp.topic] = behind.get(tp.topic, 0) + max(ends.get(tp, position) - position, 0)
        for topic, n in behind.items():
            self.lag.labels(self.runtime.name, topic).set(n)
        return behind

    async def lagging(self) -> str:
        limit = self.runtime.settings.consumer_lag_max
        late = {topic: n for topic, n in (await self.consumer_lag()).items() if n > limit}
        if not late:
            return OK
        return "behind: " + ", ".join(f"{topic} {n} messages" for topic, n in sorted(late.items()))

    async def refresh(self) -> None:
        """Before a scrape: the outbox and lag gauges (one indexed query, one offsets request per
        consumer). A failure leaves the last values."""
        relay = self._relay()
        try:
            if relay is not None:
                await within(relay.backlog(), PROBE_SECONDS)
            await self.consumer_lag()
        except Exception as exc:  # a scrape must answer even when the database is away
            log.debug("%s: platform gauges not refreshed: %s", self.runtime.name, exc)

    async def report(self) -> dict[str, Any]:
        """The health answer (see Health)."""
        runtime = self.runtime
        database = await _probe(lambda: _database(runtime))
        broker = await _probe(lambda: _broker(runtime))
        checks: dict[str, str] = {}
        if database == OK:
            checks["outbox"] = await _probe(self.outbox)
        else:
            checks["outbox"] = "unknown: the database is down"
        checks["consumer_lag"] = await _probe(self.lagging)
        for name, check in self.checks.items():
            try:
                checks[name] = check() or OK
            except Exception as exc:
                checks[name] = f"unknown: {type(exc).__name__}"
        status: Status = "ok"
        if database != OK or broker != OK:
            status = "down"
        elif any(value != OK for value in checks.values()):
            status = "degraded"
        return {
            "service": runtime.name,
            "status": status,
            "database": database,
            "broker": broker,
            "checks": checks,
        }


async def _probe(probe: Callable[[], Awaitable[str]]) -> str:
    try:
        return await probe()
    except Exception as exc:  # report, don't raise: this is the health answer
        return f"down: {type(exc).__name__}"


async def _database(runtime: Runtime) -> str:
    async with runtime.pool.acquire(timeout=PROBE_SECONDS) as conn:
        await conn.fetchval("SELECT 1")
    return OK


async def _broker(runtime: Runtime) -> str:
    return OK if await runtime.broker.ping(timeout=PROBE_SECONDS) else "down"


def install_health(app: FastAPI, runtime: Runtime) -> Monitor:
    """`/healthz`, `/readyz` and the refresh of the platform gauges before a `/metrics` scrape;
    the monitor is `app.state.health` (services add their own checks to it)."""
    monitor = Monitor(runtime)
    app.state.health = monitor

    @app.get(
        "/healthz",
        tags=["ops"],
        summary="Alive: 200 while the database and broker connections work (ok or degraded)",
        response_model=Health,
        responses={503: {"model": Health, "description": "The database or the broker is down"}},
    )
    async def healthz() -> JSONResponse:
        report = await monitor.report()
        return JSONResponse(report, status_code=503 if report["status"] == "down" else 200)

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Ready: 200 only when all is well (status ok)",
        response_model=Health,
        responses={503: {"model": Health, "description": "Degraded or down (see `checks`)"}},
    )
    async def readyz() -> JSONResponse:
        report = await monitor.report()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    @app.middleware("http")
    async def refresh_platform_gauges(request: Request, call_next: Any) -> Any:
        if request.url.path == "/metrics":
            await monitor.refresh()
        return await call_next(request)

    return monitor
