"""Scheduler service: case events into the planning core, debounced re-plans off the loop, decisions out."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaMessage
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.scheduler.core import Scheduler, SolverConfig
from shared.bus import Outgoing, add_to_outbox, consume, first_time, subscriber_options
from shared.clock import Clock, SystemClock
from shared.events import TOPIC_CASE_EVENTS, TOPIC_DECISIONS, Decision, DecisionV1, case_event_adapter
from shared.http import problem_response, read_json_object, validation_problems
from shared.network import NetworkIndex
from shared.service import Runtime, make_app
from shared.settings import ServiceSettings
from shared.types import Day

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


class CapacityChange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    group: str
    beds: int = Field(ge=0)
    from_: Day = Field(alias="from")
    until: Day


class PlannerHost:
    """Owns the one in-memory planning core; every change is saved with its decisions in one transaction."""

    def __init__(self, rt: Runtime, clock: Clock, config: SolverConfig) -> None:
        self.rt, self.clock, self.config = rt, clock, config
        self.decisions_topic = rt.settings.topic(TOPIC_DECISIONS)
        self.lock = asyncio.Lock()
        self.dirty = asyncio.Event()
        self.core: Scheduler = Scheduler(rt.network, config=config)
        self.last_day: date = clock.now().date()
        reg = rt.registry
        self.replans = Counter("thuisbest_replans", "Re-plans run", registry=reg)
        self.replan_seconds = Histogram(
            "thuisbest_replan_seconds",
            "Wall time of one re-plan",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10),
            registry=reg,
        )
        self.decisions = Counter(
            "thuisbest_decisions", "Decisions published, by type", ["type"], registry=reg
        )

    async def load(self) -> None:
        async with self.rt.pool.acquire() as conn:
            snapshot = await conn.fetchval("SELECT snapshot::text FROM planner_state WHERE id = 1")
        if snapshot:
            self.core = Scheduler.restore(self.rt.network, json.loads(snapshot), config=self.config)
            log.info("planner state restored")

    async def _save(self, conn: Any, decisions: list[Decision]) -> None:
        await conn.execute(
            "INSERT INTO planner_state (id, snapshot) VALUES (1, $1::jsonb)"
            " ON CONFLICT (id) DO UPDATE SET snapshot = EXCLUDED.snapshot, saved_at = now()",
            json.dumps(self.core.snapshot(), default=str),
        )
        await add_to_outbox(conn, [Outgoing(self.decisions_topic, d) for d in decisions])
        for d in decisions:
            self.decisions.labels(d.type).inc()

    async def change(self, apply: Any, dedupe: Any = None) -> list[Decision]:
        """Run `apply()` on the core and save the result; on any failure restore the saved state."""
        async with self.lock:
            try:
                async with self.rt.pool.acquire() as conn, conn.transaction():
                    if dedupe is not None and not await first_time(conn, "scheduler.case-events", dedupe):
                        return []
                    decisions: list[Decision] = apply()
                    await self._save(conn, decisions)
            except BaseException:
                await self.load()
                raise
        self.rt.relay.kick()
        if self.core.needs_replan():
            self.dirty.set()
        return decisions

    async def replan(self) -> None:
        async with self.lock:
            started = time.perf_counter()
            now = self.clock.now()
            try:
                decisions = await asyncio.to_thread(self.core.replan, now)
                async with self.rt.pool.acquire() as conn, conn.transaction():
                    await self._save(conn, decisions)
            except BaseException:
                await self.load()
                raise
            self.replans.inc()
            self.replan_seconds.observe(time.perf_counter() - started)
            self.last_day = now.date()
        self.rt.relay.kick()

    async def run(self, debounce: float) -> None:
        """Re-plan after a burst of events has settled, and when a new day starts."""
        while True:
            try:
                await asyncio.wait_for(self.dirty.wait(), timeout=30)
            except TimeoutError:
                if self.clock.now().date() == self.last_day:
                    continue
            await asyncio.sleep(debounce)
            self.dirty.clear()
            try:
                await self.replan()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-plan failed; will try again")
                await asyncio.sleep(1)
                self.dirty.set()


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    clock = clock or SystemClock()
    rt = Runtime("scheduler", settings, MIGRATIONS)
    net = NetworkIndex(rt.network)
    host = PlannerHost(rt, clock, SolverConfig(time_limit_s=settings.solver_time_limit_seconds))
    beds = Gauge(
        "thuisbest_beds",
        "Beds today by region, group kind and state (occupied/free)",
        ["region", "group_kind", "state"],
        registry=rt.registry,
    )
    waiting = Gauge("thuisbest_waiting_list_length", "Cases waiting for a placement", registry=rt.registry)
    rt.broker.publisher(host.decisions_topic, schema=DecisionV1, title=TOPIC_DECISIONS)

    @rt.broker.subscriber(settings.topic(TOPIC_CASE_EVENTS), **subscriber_options(settings, "scheduler"))
    async def on_case_event(msg: KafkaMessage) -> None:
        await consume(msg, case_event_adapter, rt.dead, apply_event)

    async def apply_event(event: Any) -> None:
        await host.change(lambda: host.core.handle(event, clock.now()), dedupe=event.event_id)

    async def on_start() -> None:
        await host.load()
        host.dirty.set()  # catch up with the clock at once
        rt.background.append(asyncio.create_task(host.run(settings.replan_debounce_seconds)))

    app = make_app(
        rt,
        title="ThuisBest scheduler",
        description="Plans beds, time-outs, MST therapists, trajectbegeleiders and startgesprekken.",
        on_start=on_start,
    )

    @app.get("/v1/plan", tags=["plan"], summary="The current plan: stays, meetings, waiting, rejected")
    async def get_plan() -> dict[str, Any]:
        return host.core.plan(clock.now().date())

    @app.get("/v1/cases/{case}/explanation", tags=["plan"], summary="Why this case is planned as it is")
    async def explain(case: str) -> JSONResponse:
        text = host.core.explain(case)
        if text is None:
            return problem_response([{"field": "case", "reason": f"unknown case {case!r}"}], 404)
        return JSONResponse({"case": case, "explanation": text})

    @app.post("/v1/capacity", tags=["plan"], summary="A group has this many beds on nights in [from, until)")
    async def post_capacity(request: Request) -> JSONResponse:
        body = await read_json_object(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            change = CapacityChange.model_validate(body)
        except ValidationError as exc:
            return problem_response(validation_problems(exc))
        if change.group not in net.groups:
            return problem_response([{"field": "group", "reason": f"unknown group {change.group!r}"}])
        if change.until <= change.from_:
            return problem_response([{"field": "until", "reason": "must be after from"}])
        now = clock.now()
        await host.change(
            lambda: host.core.set_capacity(change.group, change.beds, change.from_, change.until, now)
        )
        host.dirty.set()
        return JSONResponse({"group": change.group, "beds": change.beds}, status_code=202)

    @app.middleware("http")
    async def refresh_gauges(request: Request, call_next: Any) -> Any:
        if request.url.path == "/metrics":
            today = clock.now().date()
            plan = host.core.plan(today)
            occupied: dict[str, int] = {}
            for stay in plan["stays"]:
                if stay["start"] <= today.isoformat() < stay["end"]:
                    occupied[stay["group"]] = occupied.get(stay["group"], 0) + 1
            totals: dict[tuple[str, str, str], int] = {}
            for gid, info in net.groups.items():
                used = occupied.get(gid, 0)
                for state, n in (("occupied", used), ("free", max(info.group.beds - used, 0))):
                    key = (info.region, info.group.kind, state)
                    totals[key] = totals.get(key, 0) + n
            for (region, kind, state), n in totals.items():
                beds.labels(region, kind, state).set(n)
            waiting.set(len(plan["waiting"]))
        return await call_next(request)

    return app
