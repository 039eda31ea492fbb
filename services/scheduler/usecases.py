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
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
from shared.kinds import lapse_date
from shared.network import Network, NetworkIndex
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
CASE_EVENTS_CONSUMER = "scheduler.case-events"
SERVICE = "scheduler"
LAPSING_WITHIN = timedelta(days=14)  # a machtiging whose last start day is this near, unplaced: an alert


@dataclass(frozen=True)
class Watch:
    """What the published plan says about waits and machtigingen, for the gauges (read on scrape)."""

    waiting_since: tuple[date, ...]  # per waiting case: the first day it could have started
    # per open case that needs a machtiging: the last start days its machtigingen allow, and the
    # start of its placement (None: not placed)
    machtigingen: tuple[tuple[tuple[date, ...], date | None], ...]

    def longest_wait_days(self, today: date) -> int:
        return max((max((today - since).days, 0) for since in self.waiting_since), default=0)

    def lapsing_unplaced(self, today: date) -> int:
        """Cases with a machtiging whose last start day is within LAPSING_WITHIN and no placement
        starting on or before it."""
        count = 0
        for last_starts, start in self.machtigingen:
            if any(
                today <= last <= today + LAPSING_WITHIN and (start is None or start > last)
                for last in last_starts
            ):
                count += 1
        return count


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
        self.replan_failures = Counter(
            "thuisbest_replan_failures", "Re-plans that failed (the last plan stays)", registry=registry
        )
        self.last_replan_failed = Gauge(
            "thuisbest_last_replan_failed", "1 when the last re-plan failed, else 0", registry=registry
        )
        self.last_replan_error: str | None = None  # why the last re-plan failed; None when it did not
        self.longest_wait = Gauge(
            "thuisbest_longest_wait_days",
            "The longest wait in days among the cases waiting for a placement (0 when none)",
            registry=registry,
        )
        self.lapsing = Gauge(
            "thuisbest_machtiging_lapsing_unplaced",
            "Cases whose machtiging's last start day is within 14 days, with no placement starting before it",
            registry=registry,
        )

    def unit(self) -> PlannerUnit:
        return PlannerUnit(self.pool, self.relay, SERVICE)

    def _publish(self) -> None:
        """Make the core's plan the one readers get, with each case's home region to filter it by."""
        self.view = PlanView.model_validate(self.core.plan())
        self.home = {case.id: case.home_region for case in self.core.cases.values()}
        self.regions = frozenset(self.home.values())
        self._shown = {}
        waiting = {w.case for w in self.view.waiting}
        cases = self.core.cases.values()
        self.watch = Watch(
            waiting_since=tuple(
                max(case.referred_at.date(), case.earliest_start)
                for case in cases
                if case.id in waiting and case.open and case.placement is None
            ),
            machtigingen=tuple(
                (
                    tuple(
                        min(lapse_date(valid_from), valid_until - timedelta(days=max(case.stay_days - 1, 0)))
                        for valid_from, valid_until in case.machtigingen
                    ),
                    case.placement.start if case.placement is not None else None,
                )
                for case in cases
                if case.open and case.needs_machtiging and case.machtigingen
            ),
        )

    def refresh_gauges(self, today: date) -> None:
        """The gauges of waits and lapsing machtigingen as of `today` (cheap: from the published plan)."""
        self.longest_wait.set(self.watch.longest_wait_days(today))
        self.lapsing.set(self.watch.lapsing_unplaced(today))

    def replan_problem(self) -> str | None:
        """For the health check: why the last re-plan failed, None when it did not."""
        error = self.last_replan_error
        return None if error is None else f"the last re-plan failed: {error}"

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
            except BaseException as exc:
                if isinstance(exc, Exception):
                    self.replan_failures.inc()
                    self.last_replan_failed.set(1)
                    self.last_replan_error = f"{type(exc).__name__}: {exc}"[:300]
                await self.load()
                raise
            self._publish()
            self.last_replan_failed.set(0)
            self.last_replan_error = None
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
