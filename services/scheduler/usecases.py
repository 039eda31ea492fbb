"""The scheduler's use cases: take a case event, change capacity, re-plan, read the plan, explain a case.

One in-memory planning core (pure, `services/scheduler/core`) is changed only under a lock, and
every change is saved with its decisions in one unit of work (snapshot, outbox and the event's
dedupe record). Readers of the plan (and metrics) get the plan as published after the last
committed change, so they never see a re-plan half done and are never blocked by one; an
explanation reads the core itself and waits for a running re-plan to finish.

Who may see what is the role table's (`shared/access.py`): a person reads the plan of the cases
whose home region they serve (`read_plan`), and every case shown is written to the audit trail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Histogram

from services.scheduler.core import Scheduler, SolverConfig
from services.scheduler.repository import PlannerRepository
from services.scheduler.views import Explanation, PlanView, visible_plan
from shared import audit
from shared.access import CaseScope, Gate, related, unknown_case
from shared.actor import Actor
from shared.aio import wait_set
from shared.bus import OutboxRelay
from shared.clock import Clock
from shared.errors import Refused
from shared.events import TOPIC_DECISIONS, CaseEventT, Decision
from shared.inputs import CapacityRequest
from shared.network import Network, NetworkIndex
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
CASE_EVENTS_CONSUMER = "scheduler.case-events"
SERVICE = "scheduler"


class PlannerUnit(UnitOfWork):
    planner: PlannerRepository

    def opened(self) -> None:
        self.planner = PlannerRepository(self.conn)


class Planner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        relay: OutboxRelay | None,
        network: Network,
        clock: Clock,
        settings: ServiceSettings,
        registry: CollectorRegistry,
        gate: Gate,
    ) -> None:
        self.pool, self.relay, self.network, self.clock = pool, relay, network, clock
        self.gate = gate
        self.net = NetworkIndex(network)
        self.config = SolverConfig(time_limit_s=settings.solver_time_limit_seconds)
        self.decisions_topic = settings.topic(TOPIC_DECISIONS)
        self.lock = asyncio.Lock()
        self.dirty = asyncio.Event()
        self.core = Scheduler(network, config=self.config)
        self.view: PlanView
        self.home: dict[str, str]  # case -> home region, as of the published plan
        self.regions: frozenset[str]  # the home regions of those cases
        self._shown: dict[frozenset[str], tuple[PlanView, list[str]]]  # the plan per set of regions
        self._publish()
        self.last_day: date = clock.now().date()
        self.replans = Counter("thuisbest_replans", "Re-plans run", registry=registry)
        self.replan_seconds = Histogram(
            "thuisbest_replan_seconds",
            "Wall time of one re-plan",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10),
            registry=registry,
        )
        self.decisions = Counter(
            "thuisbest_decisions", "Decisions published, by type", ["type"], registry=registry
        )

    def unit(self) -> PlannerUnit:
        return PlannerUnit(self.pool, self.relay, SERVICE)

    def _publish(self) -> None:
        """Make the core's plan the one readers get, with each case's home region to filter it by."""
        self.view = PlanView.model_validate(self.core.plan())
        self.home = {case.id: case.home_region for case in self.core.cases.values()}
        self.regions = frozenset(self.home.values())
        self._shown = {}

    async def load(self) -> None:
        """Restore the core from its last saved snapshot (at start, and after a failed change)."""
        async with self.unit() as uow:
            snapshot = await uow.planner.snapshot()
        self.core = (
            Scheduler.restore(self.network, snapshot, config=self.config)
            if snapshot
            else Scheduler(self.network, config=self.config)
        )
        self._publish()
        if snapshot:
            log.info("planner state restored")

    async def _commit(self, uow: PlannerUnit, decisions: list[Decision]) -> None:
        await uow.planner.save_snapshot(self.core.snapshot())
        for d in decisions:
            uow.publish(self.decisions_topic, d)

    async def _change(
        self,
        apply: Callable[[], list[Decision]],
        *,
        dedupe: Any = None,
        record: Callable[[PlannerUnit], Any] | None = None,
    ) -> list[Decision]:
        """Run `apply()` on the core and save the result; on any failure restore the saved state."""
        async with self.lock:
            try:
                async with self.unit() as uow:
                    if dedupe is not None and not await uow.first_time(CASE_EVENTS_CONSUMER, dedupe):
                        return []
                    decisions = apply()
                    if record is not None:
                        await record(uow)
                    await self._commit(uow, decisions)
            except BaseException:
                await self.load()
                raise
            self._publish()
        for d in decisions:
            self.decisions.labels(d.type).inc()
        if self.core.needs_replan():
            self.dirty.set()
        return decisions

    async def record_case_event(self, event: CaseEventT) -> list[Decision]:
        """A case event from intake, once (a redelivered event changes nothing)."""
        return await self._change(lambda: self.core.handle(event, self.clock.now()), dedupe=event.event_id)

    async def change_capacity(self, change: CapacityRequest, actor: Actor) -> list[Decision]:
        """A group has `beds` beds on the nights in [from, until); re-plans soon after. Only a
        coordinator of the group's region may say so (403 otherwise); an unknown group is a 422."""
        await self.gate.role(actor, "change_capacity")
        group = self.net.groups.get(change.group)
        if group is None:
            raise Refused.one("group", f"unknown group {change.group!r}")
        await self.gate.region(actor, "change_capacity", group.region, "group")
        now = self.clock.now()

        async def record(uow: PlannerUnit) -> None:
            await uow.planner.add_capacity_change(change, now, actor)
            detail = f"{change.group}: {change.beds} beds from {change.from_} until {change.until}"
            await uow.audit(actor, "change_capacity", None, detail=detail)

        decisions = await self._change(
            lambda: self.core.set_capacity(change.group, change.beds, change.from_, change.until, now),
            record=record,
        )
        self.dirty.set()
        return decisions

    async def replan(self) -> list[Decision]:
        """Plan again from now: the solver runs off the event loop, readers keep the last plan."""
        async with self.lock:
            started = time.perf_counter()
            now = self.clock.now()
            try:
                decisions = await asyncio.to_thread(self.core.replan, now)
                async with self.unit() as uow:
                    await self._commit(uow, decisions)
            except BaseException:
                await self.load()
                raise
            self._publish()
            self.replans.inc()
            self.replan_seconds.observe(time.perf_counter() - started)
            self.last_day = now.date()
        for d in decisions:
            self.decisions.labels(d.type).inc()
        return decisions

    def plan(self) -> PlanView:
        """The whole published plan: for metrics, never for a person (see `plan_for`)."""
        return self.view

    async def plan_for(self, actor: Actor) -> PlanView:
        """The published plan as far as `actor` may see it: the cases whose home region they serve
        (403 for a role that may not read the plan). Each case shown is audited, in one write."""
        await self.gate.role(actor, "read_plan")
        view, shown = self._visible(actor)
        async with self.pool.acquire() as conn:
            await audit.write(conn, SERVICE, actor, "read_plan", shown or [None])
        return view

    def _visible(self, actor: Actor) -> tuple[PlanView, list[str]]:
        """The filtered plan and its cases, kept per set of regions until the next publish."""
        regions = frozenset(
            region
            for region in self.regions
            if related(actor, "read_plan", CaseScope(case=None, home_region=region))
        )
        found = self._shown.get(regions)
        if found is None:
            view = visible_plan(self.view, self.home, regions)
            cases = {s.case for s in view.stays} | {w.case for w in view.waiting}
            cases |= {m.case for m in view.meetings} | {r.case for r in view.rejected}
            found = self._shown[regions] = (view, sorted(cases))
        return found

    async def explain(self, case: str, actor: Actor) -> Explanation:
        """Why the case is planned as it is; 404 for a case outside the person's regions, as for
        an unknown one."""
        region = self.home.get(case)
        scope = None if region is None else CaseScope(case=case, home_region=region)
        await self.gate.case(actor, "read_plan", case, scope)
        async with self.lock:  # the core's cases change while a re-plan runs
            text = self.core.explain(case)
        if text is None:
            raise unknown_case(case)
        await self.gate.trail.record(actor, "read_plan", case, detail="explanation")
        return Explanation(case=case, explanation=text)

    async def run(self, debounce: float) -> None:
        """Re-plan after a burst of events has settled, and when a new day starts."""
        while True:
            if not await wait_set(self.dirty, 30) and self.clock.now().date() == self.last_day:
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
