"""The scheduler's use cases: take a case event, change capacity, re-plan, read the plan, explain a case,
and the board's reads: beds per night, the waiting list, what a capacity change would do.

One in-memory planning core (pure, `services/scheduler/core`) is changed only under a lock, and
every change is saved with its decisions in one unit of work (snapshot, outbox and the event's
dedupe record). Readers of the plan (and metrics, the beds, the waiting list, a capacity dry run)
get the plan as published after the last committed change, so they never see a re-plan half done
and are never blocked by one; an explanation reads the core itself and waits for a running
re-plan to finish.

Who may see what is the role table's (`shared/access.py`): a person reads the plan of the cases
whose home region they serve (`read_plan`), and every case shown is written to the audit trail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.scheduler.board import Published, capacity_effects, group_beds, waiting_list
from services.scheduler.core import Scheduler, SolverConfig
from services.scheduler.core.state import Placement
from services.scheduler.core.waitlist import lapsing_soon, last_machtiging_start
from services.scheduler.repository import PlannerRepository
from services.scheduler.views import (
    BedsView,
    CapacityChangeView,
    CapacityDryRun,
    Explanation,
    GroupBeds,
    PlanView,
    PromiseAccepted,
    WaitingListView,
    plan_of,
    visible_plan,
)
from shared import audit
from shared.access import CaseScope, Gate, related, unknown_case
from shared.actor import Actor
from shared.aio import wait_set
from shared.bus import OutboxRelay
from shared.clock import Clock
from shared.errors import Conflict, Forbidden, Refused
from shared.events import TOPIC_DECISIONS, CaseEventT, Decision
from shared.inputs import CapacityRequest, StaffChangeRequest
from shared.network import GroupInfo, Network, NetworkIndex
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
CASE_EVENTS_CONSUMER = "scheduler.case-events"
SERVICE = "scheduler"


@dataclass(frozen=True)
class Watch:
    """What the published plan says about waits and machtigingen, for the gauges (read on scrape)."""

    waiting_since: tuple[date, ...]  # per waiting case: the first day it could have started
    # per open case that needs a machtiging: the last start day its machtigingen allow, and the
    # start of its placement (None: not placed)
    machtigingen: tuple[tuple[date | None, date | None], ...]

    def longest_wait_days(self, today: date) -> int:
        return max((max((today - since).days, 0) for since in self.waiting_since), default=0)

    def lapsing_unplaced(self, today: date) -> int:
        """Cases with a machtiging whose last start day is within LAPSING_WITHIN and no placement
        starting on or before it."""
        return sum(1 for last_start, start in self.machtigingen if lapsing_soon(last_start, start, today))


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
        self.config = SolverConfig(
            time_limit_s=settings.solver_time_limit_seconds, commit_days=settings.promise_days
        )
        self.decisions_topic = settings.topic(TOPIC_DECISIONS)
        self.lock = asyncio.Lock()
        self.dirty = asyncio.Event()
        self.core = Scheduler(network, config=self.config)
        self.view: PlanView
        self.home: dict[str, str]  # case -> home region, as of the published plan
        self.explanations: dict[str, str | None]  # case -> why it is planned so, as published
        self.regions: frozenset[str]  # the home regions of those cases
        self._shown: dict[frozenset[str], tuple[PlanView, list[str]]]  # the plan per set of regions
        self.published: Published  # the same plan for the board's reads, with its snapshot
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

    def _publish(self, snapshot: dict[str, Any] | None = None) -> None:
        """Make the core's plan the one readers get, with each case's home region to filter it by;
        `snapshot`: the core's snapshot as just saved (taken here when None)."""
        self.view = PlanView.model_validate(self.core.plan())
        self.published = Published(
            view=self.view,
            snapshot=self.core.snapshot() if snapshot is None else snapshot,
            capacity={group: dict(nights) for group, nights in self.core.capacity.items()},
        )
        self.home = {case.id: case.home_region for case in self.core.cases.values()}
        # Each case's explanation as published: read without waiting for a running re-plan.
        self.explanations = {case_id: self.core.explain(case_id) for case_id in self.core.cases}
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
                (last_machtiging_start(case), case.placement.start if case.placement is not None else None)
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
        self._publish(snapshot or None)
        if snapshot:
            log.info("planner state restored")

    async def _commit(self, uow: PlannerUnit, decisions: list[Decision]) -> dict[str, Any]:
        """Save the core's snapshot and queue its decisions; the snapshot saved."""
        snapshot = self.core.snapshot()
        await uow.planner.save_snapshot(snapshot)
        for d in decisions:
            uow.publish(self.decisions_topic, d)
        return snapshot

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
                    snapshot = await self._commit(uow, decisions)
            except BaseException:
                await self.load()
                raise
            self._publish(snapshot)
        for d in decisions:
            self.decisions.labels(d.type).inc()
        if self.core.needs_replan():
            self.dirty.set()
        return decisions

    async def record_case_event(self, event: CaseEventT) -> list[Decision]:
        """A case event from intake, once (a redelivered event changes nothing)."""
        return await self._change(lambda: self.core.handle(event, self.clock.now()), dedupe=event.event_id)

    async def _capacity_group(self, change: CapacityRequest, actor: Actor) -> GroupInfo:
        """The group of a capacity change, when the person may change it: only a coordinator of the
        group's region (403 otherwise); an unknown group is a 422."""
        await self.gate.role(actor, "change_capacity")
        group = self.net.groups.get(change.group)
        if group is None:
            raise Refused.one("group", f"unknown group {change.group!r}")
        await self.gate.region(actor, "change_capacity", group.region, "group")
        return group

    async def change_capacity(self, change: CapacityRequest, actor: Actor) -> list[Decision]:
        """A group has `beds` beds on the nights in [from, until); re-plans soon after (see
        `_capacity_group` for who may)."""
        await self._capacity_group(change, actor)
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

    async def change_staff(self, change: StaffChangeRequest, actor: Actor) -> list[Decision]:
        """A therapist, trajectbegeleider or supervisor is absent or has left: coordinators of a region
        the person serves (403 otherwise); an unknown person, or one of another role, is a 422. The
        handovers and meetings planned again are decided at once; the plan follows at the re-plan."""
        await self.gate.role(actor, "report_staff_change")
        problem = self.net.staff_change_problem(change.person)
        if problem is not None:
            raise Refused.one("person", problem)
        person = self.net.people[change.person]
        if not any(
            related(actor, "report_staff_change", CaseScope(case=None, home_region=r)) for r in person.regions
        ):
            mine = ", ".join(sorted(actor.regions)) or "no region"
            reason = f"a {actor.role} of {mine} may not report a staff change of {change.person}"
            await self.gate.refuse(actor, "report_staff_change", None, Forbidden.one("person", reason))
        now = self.clock.now()

        async def record(uow: PlannerUnit) -> None:
            until = change.until.isoformat() if change.until else "for good"
            detail = f"{change.person} {change.status} from {change.from_} until {until}"
            await uow.audit(actor, "report_staff_change", None, detail=detail)

        decisions = await self._change(
            lambda: self.core.staff_change(change.person, change.from_, change.until, change.status, now),
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
                    snapshot = await self._commit(uow, decisions)
            except BaseException as exc:
                if isinstance(exc, Exception):
                    self.replan_failures.inc()
                    self.last_replan_failed.set(1)
                    self.last_replan_error = f"{type(exc).__name__}: {exc}"[:300]
                await self.load()
                raise
            self._publish(snapshot)
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

    async def plan_for(self, actor: Actor, case: str | None = None) -> PlanView:
        """The published plan as far as `actor` may see it: the cases whose home region they serve
        (403 for a role that may not read the plan); with `case`, that case's part only (empty when
        it is not theirs). Each case shown is audited, in one write."""
        await self.gate.role(actor, "read_plan")
        view, shown = self._visible(actor)
        if case is not None:
            view = plan_of(view, lambda shown: shown == case)
            shown = [c for c in shown if c == case]
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
            cases |= {h.case for h in view.handovers}
            found = self._shown[regions] = (view, sorted(cases))
        return found

    def _shows(self, actor: Actor) -> Callable[[str], bool]:
        """Whether the person may read the plan of a case (its home region is theirs), as of the
        published plan; a case of unknown region is nobody's."""
        regions = self._visible_regions(actor)
        home = self.home
        return lambda case: home.get(case) in regions

    def _visible_regions(self, actor: Actor) -> frozenset[str]:
        return frozenset(
            region
            for region in set(self.net.regions) | self.regions
            if related(actor, "read_plan", CaseScope(case=None, home_region=region))
        )

    async def _audit_reads(self, actor: Actor, cases: list[str], detail: str) -> None:
        async with self.pool.acquire() as conn:
            await audit.write(conn, SERVICE, actor, "read_plan", cases or [None], detail=detail)

    async def beds_for(self, actor: Actor, first: date | None, days: int) -> BedsView:
        """Per group of the person's regions (the group's region) and night in [first, first + days):
        the beds and who is on them, as published. A case's id only when the person may read its
        plan, else the bed shows as taken (`case: null`). 403 for a role that may not read the plan;
        the cases shown are audited."""
        await self.gate.role(actor, "read_plan")
        today = self.clock.now().date()
        first = today if first is None else first
        regions = self._visible_regions(actor)
        groups = sorted(
            (info for info in self.net.groups.values() if info.region in regions),
            key=lambda info: (info.location.id, info.id),
        )
        changes = await self._capacity_changes([g.id for g in groups], first, first + timedelta(days))
        published, shows = self.published, self._shows(actor)
        stays, capacity = published.stays(), published.capacity
        rows: list[GroupBeds] = [
            group_beds(
                info,
                capacity.get(info.id, {}),
                stays.get(info.id, ()),
                first,
                days,
                today,
                shows,
                changes.get(info.id, []),
                calendar=self.net.calendar,  # the network's own holidays too
            )
            for info in groups
        ]
        shown = sorted({e.case for g in rows for n in g.days for e in n.entries if e.case is not None})
        await self._audit_reads(actor, shown, "beds")
        return BedsView(today=today, from_=first, days=days, groups=rows)

    async def _capacity_changes(
        self, groups: list[str], first: date, until: date
    ) -> dict[str, list[CapacityChangeView]]:
        if not groups:
            return {}
        async with self.pool.acquire() as conn:
            rows = await PlannerRepository(conn).capacity_changes(groups, first, until)
        out: dict[str, list[CapacityChangeView]] = {}
        for r in rows:
            out.setdefault(r["group_id"], []).append(
                CapacityChangeView(
                    from_=r["from_day"],
                    until=r["until_day"],
                    beds=r["beds"],
                    announced_at=r["at"],
                    announced_by=r["actor"],
                )
            )
        return out

    async def waiting_list_for(self, actor: Actor) -> WaitingListView:
        """The open cases of the person's regions that have not started (waiting, or planned to
        start after today), most urgent and longest waiting first, as published. 403 for a role that
        may not read the plan; the cases shown are audited."""
        await self.gate.role(actor, "read_plan")
        today = self.clock.now().date()
        regions = self._visible_regions(actor)
        cases = [c for c in self.published.open_cases().values() if c.home_region in regions]
        entries = waiting_list(self.net, cases, today)
        await self._audit_reads(actor, [e.case for e in entries], "waiting list")
        return WaitingListView(today=today, entries=entries)

    async def capacity_dry_run(self, change: CapacityRequest, actor: Actor) -> CapacityDryRun:
        """What `change_capacity` would do to the published plan if made now: the change and a
        re-plan on a copy of the planning core, off the event loop; nothing is saved, published or
        recorded but the audit of the dry run (and of the cases shown)."""
        await self._capacity_group(change, actor)
        now = self.clock.now()
        snapshot = self.published.snapshot  # the published plan: no lock, no wait for a re-plan
        before, after = await asyncio.to_thread(self._simulate_capacity, snapshot, change, now)
        shows = self._shows(actor)
        effects = capacity_effects(before, after)
        mine = [e for e in effects if shows(e.case)]
        pending = bool(snapshot.get("dirty")) or snapshot.get("last_replan") != now.date().isoformat()
        detail = f"dry run: {change.group}: {change.beds} beds from {change.from_} until {change.until}"
        async with self.pool.acquire() as conn:
            await audit.write(conn, SERVICE, actor, "change_capacity", [None], detail=detail)
            if mine:
                await audit.write(conn, SERVICE, actor, "read_plan", [e.case for e in mine], detail="dry run")
        return CapacityDryRun(
            group=change.group,
            beds=change.beds,
            from_=change.from_,
            until=change.until,
            affected=mine,
            others=len(effects) - len(mine),
            replan_pending=pending,
        )

    def _simulate_capacity(
        self, snapshot: dict[str, Any], change: CapacityRequest, now: datetime
    ) -> tuple[dict[str, Placement | None], dict[str, Placement | None]]:
        """The open cases' placements before and after the change and a re-plan (runs in a thread,
        on a core of its own)."""
        copy = Scheduler.restore(self.network, snapshot, config=self.config)

        def placements() -> dict[str, Placement | None]:
            return {
                cid: None if c.placement is None else replace(c.placement)
                for cid, c in copy.cases.items()
                if c.open
            }

        before = placements()
        copy.set_capacity(change.group, change.beds, change.from_, change.until, now)
        copy.replan(now)
        return before, placements()

    async def promise(self, case: str, actor: Actor) -> PromiseAccepted:
        """A coordinator of the case's home region promises its expected placement now (404 for a
        case outside their regions; 409 when there is no expected placement to promise)."""
        region = self.home.get(case)
        scope = None if region is None else CaseScope(case=case, home_region=region)
        await self.gate.case(actor, "promise_placement", case, scope)
        found: list[Placement] = []

        def apply() -> list[Decision]:
            try:
                found.append(self.core.promise(case))
            except LookupError:
                raise unknown_case(case) from None
            except ValueError as exc:
                raise Conflict.one("case", f"nothing to promise: {exc}") from None
            return []

        async def record(uow: PlannerUnit) -> None:
            await uow.audit(
                actor, "promise_placement", case, detail=f"{found[0].group} from {found[0].start}"
            )

        await self._change(apply, record=record)
        self.dirty.set()
        p = found[0]
        return PromiseAccepted(
            case=case,
            group=p.group,
            start=p.start,
            mst_therapist=p.therapist,
            trajectbegeleider=p.trajectbegeleider,
        )

    async def explain(self, case: str, actor: Actor) -> Explanation:
        """Why the case is planned as it is, as published (a running re-plan is not waited for);
        404 for a case outside the person's regions, as for an unknown one."""
        region = self.home.get(case)
        scope = None if region is None else CaseScope(case=case, home_region=region)
        await self.gate.case(actor, "read_plan", case, scope)
        text = self.explanations.get(case)
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
