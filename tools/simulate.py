"""`thuisbest simulate`: replay a scenario's events through the planning core on a virtual clock."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any, Protocol

from services.intake.rules import (
    later_event_problems,
    referral_problems,
    staff_change_problems,
    to_case_event,
)
from services.scheduler.core import Scheduler, SchedulerStats, SolverConfig
from shared.clock import VirtualClock
from shared.events import (
    CaseClosed,
    Decision,
    DischargeReported,
    PlacementCancelled,
    PlacementPlanned,
    ReferralWithdrawn,
)
from shared.inputs import (
    CapacityEvent,
    CloseEvent,
    FollowUpEvent,
    MachtigingEvent,
    Outcome,
    ReferralEvent,
    StaffChangeEvent,
    TimeoutRequestEvent,
    WithdrawEvent,
)
from shared.kinds import KINDS, lapse_date
from shared.network import NetworkIndex, ScenarioError
from shared.types import fmt_local
from tools.scenario import Kpis, NotificationOut, Report, Scenario, SolverStats, load_scenario


class _Notifier(Protocol):
    def handle(self, event: Any, now: datetime) -> list[Any]: ...
    def due(self, until: datetime) -> list[Any]: ...


def _notifier(scenario: Scenario, rules_file: str | Path | None = None) -> _Notifier:
    """The live notifier's pure engine with the same rules file (default: the shipped rules)."""
    from services.notifier.engine import NotificationEngine
    from services.notifier.rules import load_rules

    engine: _Notifier = NotificationEngine(scenario.network, load_rules(rules_file))
    return engine


@dataclass
class _DecisionCounts:
    """What the scheduler's decision stream tells: announced placements, moves, planned stay ends."""

    announced: int = 0  # PlacementPlanned "new": a placement announced
    moves: int = 0  # an announced placement moved or restaffed, or cancelled while its case goes on
    standing: set[str] = field(default_factory=set)  # cases whose announced placement stands
    ended: set[str] = field(default_factory=set)  # cases withdrawn or closed (their cancels are no moves)
    planned_end: dict[str, date] = field(default_factory=dict)  # case -> end, without a counted discharge

    def see(self, item: Any) -> None:
        match item:
            case ReferralWithdrawn() | CaseClosed():
                self.ended.add(item.case)
            case PlacementPlanned(change="discharged"):
                self.planned_end.pop(item.case, None)  # a counted discharge: the engine knows its end
            case PlacementPlanned():
                if item.change == "new":
                    self.announced += 1
                    self.standing.add(item.case)
                else:
                    self.moves += 1
                self.planned_end[item.case] = item.end
            case PlacementCancelled():
                if item.case in self.standing and item.case not in self.ended:
                    self.moves += 1
                self.standing.discard(item.case)
                self.planned_end.pop(item.case, None)

    def ended_as_planned(self, until: date) -> list[tuple[str, date]]:
        """Stays whose planned end is on or before `until`, in end order; each is told once."""
        due = sorted((end, case) for case, end in self.planned_end.items() if end <= until)
        for _, case in due:
            del self.planned_end[case]
        return [(case, end) for end, case in due]

    @property
    def moves_per_announced_placement(self) -> float:
        return round(self.moves / self.announced, 2) if self.announced else 0.0


@dataclass
class _Run:
    scenario: Scenario
    scheduler: Scheduler
    engine: _Notifier | None
    notices: list[Any]
    rejected: list[dict[str, str]]
    referred: dict[str, str]  # case -> kind, of referrals intake accepted
    refused_kind: dict[str, str]  # case -> kind, of referrals intake rejected
    decisions: _DecisionCounts = field(default_factory=_DecisionCounts)
    closed: set[str] = field(default_factory=set)  # cases intake closed (a follow-up may come after)

    def notify(self, items: list[Any], now: datetime) -> None:
        for item in items:
            self.decisions.see(item)
        if self.engine is None:
            return
        for item in items:
            self.notices.extend(self.engine.handle(item, now))

    def due(self, until: datetime) -> None:
        if self.engine is None:
            return
        # SCENARIO.md: a stay with no counted discharge ends on its planned end, the family follows
        # the plan. The engine learns it as a discharge reported at the start of that day, before any
        # timer due later fires (else `stay_exceeded` would escalate a stay that simply ended).
        for case, end in self.decisions.ended_as_planned(until.date()):
            moment = datetime.combine(end, time(0, 0))
            self.notices.extend(self.engine.due(moment))
            ended = DischargeReported(case=case, occurred_at=moment, date=end)
            self.notices.extend(self.engine.handle(ended, moment))
        self.notices.extend(self.engine.due(until))

    def reject(self, case: str, event: str, at: datetime, reason: str) -> None:
        self.rejected.append({"case": case, "event": event, "at": fmt_local(at), "reason": reason})


def simulate(
    scenario: Scenario,
    policy: str = "optimized",
    config: SolverConfig | None = None,
    rules_file: str | Path | None = None,
) -> Report:
    """Run the whole scenario with `policy` and report what happened by its end."""
    return run_simulation(scenario, policy, config, rules_file)[0]


def run_simulation(
    scenario: Scenario,
    policy: str = "optimized",
    config: SolverConfig | None = None,
    rules_file: str | Path | None = None,
) -> tuple[Report, SchedulerStats]:
    """`simulate`, also returning the planner's own statistics (solver status, gaps, fallbacks)."""
    if policy not in ("optimized", "fcfs"):
        raise ValueError(f"unknown policy {policy!r}: use optimized or fcfs")
    network = scenario.network
    net = NetworkIndex(network)
    sched = Scheduler(network, policy=policy, config=config or SolverConfig())  # type: ignore[arg-type]
    first, last = _run_days(scenario)
    # The run stops at the scenario's end: later events never happen in it.
    events = [ev for ev in scenario.events if ev.at.date() <= last]
    clock = VirtualClock(datetime.combine(first, time(0, 0)))
    run = _Run(scenario, sched, _notifier(scenario, rules_file), [], [], {}, {})
    _replay_events(run, net, clock, events)
    _finish_last_day(run, clock, last)
    return _final_report(run, policy, last), sched.stats


def _run_days(scenario: Scenario) -> tuple[date, date]:
    """First and last day of the run: the scenario's own, else those of its first and last event."""
    first = scenario.start or (scenario.events[0].at.date() if scenario.events else date.today())
    last = scenario.end or (scenario.events[-1].at.date() if scenario.events else first)
    return first, last


def _replay_events(run: _Run, net: NetworkIndex, clock: VirtualClock, events: list[Any]) -> None:
    """Apply the events day by day on the virtual clock, as the live services would see them."""
    sched = run.scheduler
    for day, todays in groupby(events, key=lambda ev: ev.at.date()):
        _replan_quiet_days(run, clock, day)
        for ev in todays:
            run.due(ev.at)
            clock.set(ev.at)
            _apply(run, net, ev, clock.now())
        # Debounced: one re-plan after the day's last event (when anything changed).
        if sched.replan_due(day):
            now = clock.now()
            run.notify(sched.replan(now), now)


def _replan_quiet_days(run: _Run, clock: VirtualClock, until: date) -> None:
    """Days without events: the live service still re-plans when waiting cases are due a retry."""
    sched = run.scheduler
    current = clock.now().date() + timedelta(1)
    while current < until:
        if sched.replan_due(current):
            moment = datetime.combine(current, time(0, 0))
            run.due(moment)
            clock.set(moment)
            run.notify(sched.replan(moment), moment)
        current += timedelta(1)


def _finish_last_day(run: _Run, clock: VirtualClock, last: date) -> None:
    """The quiet days after the last event, then the notifications due by the end of the last day."""
    _replan_quiet_days(run, clock, last + timedelta(1))
    end_of_day = datetime.combine(last, time(23, 59))
    if end_of_day > clock.now():
        run.due(end_of_day)


def _final_report(run: _Run, policy: str, last: date) -> Report:
    """The report of what happened by the end of the last day, with its KPIs and solver statistics."""
    sched = run.scheduler
    plan = sched.plan(last, until=last)
    stays, meetings = _stays_by_end(plan["stays"]), plan["meetings"]
    rejected = sorted(run.rejected + plan["rejected"], key=lambda r: (r["at"], r["case"], r["event"]))
    notifications = sorted(
        (NotificationOut(at=n.at, case=n.case, kind=n.kind, to=n.to, channel=n.channel) for n in run.notices),
        key=lambda n: (n.at, n.case, n.kind, n.to),
    )
    st = sched.stats
    report = Report.model_validate(
        {
            "report_version": run.scenario.scenario_version,  # a version 1 scenario reads as before
            "scenario": run.scenario.name,
            "policy": policy,
            "stays": stays,
            "meetings": meetings,
            "waiting": plan["waiting"],
            "rejected": rejected,
        }
    )
    report.notifications = notifications
    report.kpis = compute_kpis(
        run.scenario,
        stays,
        meetings,
        waiting=[w["case"] for w in plan["waiting"]],
        moves_per_announced_placement=run.decisions.moves_per_announced_placement,
        refused=set(run.refused_kind),
    )
    report.solver = SolverStats(
        runs=st.runs, total_seconds=round(st.total_seconds, 3), max_seconds=round(st.max_seconds, 3)
    )
    return report


def _stays_by_end(planned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan's stays that are real by the end: placements, and time-outs of cases placed by then."""
    # A placement that would start after the end is no stay; nor are time-outs of such cases.
    placed_by_end = {s["case"] for s in planned if s["type"] == "placement"}
    return [s for s in planned if s["type"] == "placement" or s["case"] in placed_by_end]


def _apply(run: _Run, net: NetworkIndex, ev: Any, now: datetime) -> None:
    sched = run.scheduler
    if isinstance(ev, CapacityEvent):
        if ev.group not in net.groups:
            run.reject("-", "capacity", ev.at, f"unknown group {ev.group!r}")
            return
        run.notify(sched.set_capacity(ev.group, ev.beds, ev.from_, ev.until, now), now)
        return
    if isinstance(ev, StaffChangeEvent):
        problems = staff_change_problems(ev, net)
        if problems:
            run.reject("-", "staff_change", ev.at, "; ".join(str(p) for p in problems))
            return
        run.notify(sched.staff_change(ev.person, ev.from_, ev.until, ev.status, now), now)
        return
    if isinstance(ev, ReferralEvent):
        if ev.case in run.referred or ev.case in run.refused_kind:
            run.reject(ev.case, "referral", ev.at, "duplicate: the case is already referred")
            return
        problems = referral_problems(ev, net)
        if problems:
            run.refused_kind[ev.case] = ev.kind
            run.reject(ev.case, "referral", ev.at, "; ".join(str(p) for p in problems))
            return
        run.referred[ev.case] = ev.kind
    elif ev.case not in run.referred:
        # Intake never publishes events of a case it does not know; it refuses them itself.
        if isinstance(ev, TimeoutRequestEvent):
            # The kind's own refusal holds for any request of it (intake knows the kind it refused).
            spec = KINDS.get(run.refused_kind.get(ev.case, ""))
            reason = (spec.timeout_refusal if spec else None) or "not_in_home_phase"
        else:
            reason = "unknown_case"
        run.reject(ev.case, ev.type, ev.at, reason)
        return
    else:
        problems = later_event_problems(ev)
        if problems:
            run.reject(ev.case, ev.type, ev.at, "; ".join(str(p) for p in problems))
            return
        if isinstance(ev, FollowUpEvent) and ev.case not in run.closed:
            run.reject(ev.case, ev.type, ev.at, "not_closed: a follow-up is reported after the close")
            return
        if isinstance(ev, CloseEvent):
            run.closed.add(ev.case)
    case_event = to_case_event(ev, net)
    run.notify([case_event], now)
    decisions: list[Decision] = sched.handle(case_event, now)
    run.notify(decisions, now)


# --- KPIs (as `tools.validator.validate_report` defines them) -------------------------------


_ParsedMeeting = tuple[dict[str, Any], datetime, datetime]  # a report meeting, its start and end


@dataclass
class _EventFacts:
    """What the scenario's events tell the KPIs: referrals, court orders, time-out requests, beds."""

    referrals: dict[str, ReferralEvent]  # case -> its first referral
    machtigingen: defaultdict[str, list[tuple[date, date]]]  # case -> (valid_from, valid_until)
    timeout_requests: list[tuple[str, date]]  # (case, day asked), in the run
    ends: dict[str, date]  # case -> the day of its first withdraw or close, in the run
    n_referrals: int  # referral events in the run, repeated referrals of a case included
    capacity: dict[tuple[str, int], int]  # (group, night ordinal) -> beds; the latest event wins
    # PATHWAY-V2, in the run: the outcomes of closes, the relapses of follow-ups, and per person the
    # days their staff changes hand their cases over (the later of `from` and the announcement).
    outcomes: list[Outcome] = field(default_factory=list)
    relapses: list[bool] = field(default_factory=list)
    handovers: defaultdict[str, list[date]] = field(default_factory=lambda: defaultdict(list))


def compute_kpis(
    scenario: Scenario,
    stays: list[dict[str, Any]],
    meetings: list[dict[str, Any]],
    *,
    waiting: Iterable[str] | None = None,
    moves_per_announced_placement: float | None = None,
    refused: set[str] | None = None,
) -> Kpis:
    """The report's KPIs of these stays and meetings, recomputed from the scenario as the validator does.

    The optional extras: `mean_days_without_care` when the `waiting` cases are given (see
    `days_without_care`), and `moves_per_announced_placement` as counted from the scheduler's
    decisions, which a report alone cannot tell (the validator copies it)."""
    net = NetworkIndex(scenario.network)
    first = scenario.start or date.min
    last = scenario.end or date.max
    facts = _event_facts(scenario, last)
    placements = [s for s in stays if s["type"] == "placement"]
    waits, home, travel = _placement_outcomes(net, facts, placements)
    placed = len(placements)
    on_time, needed = _startgesprek_counts(net, scenario, placements, meetings, facts, last)
    used, offered = _bed_nights(net, facts, stays, first, last)
    served, asked = _timeouts_served(facts, stays)
    # PATHWAY-V2's KPIs are reported for a version 2 scenario only (a version 1 report reads as before).
    pathway = {}
    if scenario.scenario_version >= 2:
        pathway = pathway_kpis(scenario, net, facts, stays, meetings, refused or set(), last)
    return Kpis(
        referrals=facts.n_referrals,
        placed=placed,
        mean_wait_days=_mean(waits),
        p90_wait_days=p90(waits),
        home_region_pct=_pct(home, placed, 100.0),
        mean_travel_minutes=_mean(travel),
        startgesprek_on_time_pct=_pct(on_time, needed, 100.0),
        bed_nights_used_pct=_pct(used, offered, 0.0),
        timeouts_requested=len(facts.timeout_requests),
        timeouts_within_1_day_pct=_pct(served, asked, 100.0),
        mean_days_without_care=None if waiting is None else days_without_care(scenario, stays, waiting),
        moves_per_announced_placement=moves_per_announced_placement,
        **pathway,
    )


def pathway_kpis(
    scenario: Scenario,
    net: NetworkIndex,
    facts: _EventFacts,
    stays: list[dict[str, Any]],
    meetings: list[dict[str, Any]],
    refused: set[str],
    last: date,
) -> dict[str, float]:
    """PATHWAY-V2's KPIs of the report (see `tools.validator`, which recomputes them):

    - `mst_continuity_pct`: of the placed cases whose referral names a `current_therapist`, the share
      placed with that therapist;
    - `kennismaking_on_time_pct`: of the accepted referrals that need a kennismakingsgesprek (not when
      the placement starts by the window's last day, the case ends before it, or the window ends
      after the run), the share with one inside the window;
    - `mean_residential_days`: over placed cases of a residential kind (closed or open groups), the
      nights of their placement and time-outs;
    - `at_home_pct`, `day_activity_pct`: over the closes with an outcome in the run;
    - `no_relapse_pct`: over the follow-ups in the run, the share without relapse.
    Each is 100.0 (mean: 0.0) when there is nothing to count."""
    placements = {s["case"]: s for s in stays if s["type"] == "placement"}
    kept = continued = 0
    for case, ref in facts.referrals.items():
        if ref.current_therapist and case in placements and case not in refused:
            continued += 1
            kept += placements[case].get("mst_therapist") == ref.current_therapist
    within = scenario.settings.kennismaking_within_working_days
    held = {m["case"]: m for m in meetings if m["meeting"] == "kennismaking"}
    on_time = needed = 0
    for case, ref in facts.referrals.items():
        if case in refused or ref.at.date() > last:
            continue
        window = net.calendar.startgesprek_days(ref.at.date(), within)[-within:]
        placed = placements.get(case)
        ended = facts.ends.get(case)
        if window[-1] > last or (ended is not None and ended <= window[-1]):
            continue
        if placed is not None and date.fromisoformat(placed["start"]) <= window[-1]:
            continue
        needed += 1
        m = held.get(case)
        on_time += m is not None and date.fromisoformat(m["start"][:10]) in window
    residential = [
        sum(
            (date.fromisoformat(s["end"]) - date.fromisoformat(s["start"])).days
            for s in stays
            if s["case"] == case
        )
        for case, s in placements.items()
        if case in facts.referrals and KINDS[facts.referrals[case].kind].group_kind in RESIDENTIAL_GROUP_KINDS
    ]
    outcomes, relapses = facts.outcomes, facts.relapses
    return {
        "mst_continuity_pct": _pct(kept, continued, 100.0),
        "kennismaking_on_time_pct": _pct(on_time, needed, 100.0),
        "mean_residential_days": _mean(residential),
        "at_home_pct": _pct(sum(o.at_home for o in outcomes), len(outcomes), 100.0),
        "day_activity_pct": _pct(sum(o.day_activity for o in outcomes), len(outcomes), 100.0),
        "no_relapse_pct": _pct(relapses.count(False), len(relapses), 100.0),
    }


# The group kinds of residential care (the seeds' 70 residential days count closed and open stays).
RESIDENTIAL_GROUP_KINDS = ("closed", "open")


def days_without_care(scenario: Scenario, stays: list[dict[str, Any]], waiting: Iterable[str]) -> float:
    """`mean_days_without_care`: the mean, over every eligible case, of the days it went without care.

    A placed case counts its wait as `mean_wait_days` does (its first placement). A case still
    waiting at the end counts the days from when it could have started (the latest of its referral
    day, its `earliest_start` and, for a kind with a court order, the earliest `valid_from` of its
    machtigingen) to the scenario's end; one withdrawn or closed before a start counts only up to
    that day (after it the family no longer waits for this care). A case that could not have
    started by then (no machtiging yet, a later earliest start) is not eligible; 0.0 for none."""
    until = _run_days(scenario)[1]
    waits = youth_waits(scenario, stays, waiting, until, stop_at_end=True)
    return _mean([wait for _, wait in waits.values()])


def youth_waits(
    scenario: Scenario,
    stays: list[dict[str, Any]],
    waiting: Iterable[str],
    until: date,
    *,
    stop_at_end: bool = False,
) -> dict[str, tuple[str, int]]:
    """Per referred youth: home region and days waited, to the start of the first placement (as the
    KPIs count it) or, for a youth still waiting at `until`, to `until`: a lower bound, the wait goes
    on. A youth not ready by `until` (no court order yet, a later earliest start) is left out.

    The report's wait KPIs count placed youths only, so fewer beds can look no worse there: the
    youths who wait longest are not placed at all. Capacity planning counts them too.

    With `stop_at_end`, a waiting youth withdrawn or closed by `until` counts only up to that day."""
    facts = _event_facts(scenario, until)
    out: dict[str, tuple[str, int]] = {}
    for s in sorted((s for s in stays if s["type"] == "placement"), key=lambda s: s["start"]):
        ref = facts.referrals.get(s["case"])
        if ref is not None and s["case"] not in out:
            wait = (date.fromisoformat(s["start"]) - _ready_date(facts, ref, s)).days
            out[s["case"]] = (ref.home_region, wait)
    for case in waiting:
        ref = facts.referrals.get(case)
        if ref is None or case in out or ref.at.date() > until:
            continue
        ready = max(ref.at.date(), ref.earliest_start)
        spec = KINDS.get(ref.kind)
        if spec is not None and spec.needs_machtiging:
            windows = facts.machtigingen[case]
            if not windows:
                continue
            ready = max(ready, min(valid_from for valid_from, _ in windows))
        stop = min(until, facts.ends.get(case, until)) if stop_at_end else until
        if ready <= stop:
            out[case] = (ref.home_region, (stop - ready).days)
    return out


def p90(values: list[int]) -> float:
    """The 90th percentile as the KPIs take it (nearest rank), 0.0 for no values."""
    ordered = sorted(values)
    return round(float(ordered[math.ceil(0.9 * len(ordered)) - 1]), 2) if ordered else 0.0


def _pct(part: int, whole: int, empty: float) -> float:
    """A percentage to 2 decimals; `empty` when there is nothing to count."""
    return round(100.0 * part / whole, 2) if whole else empty


def _mean(values: list[int]) -> float:
    """The mean to 2 decimals, 0.0 for no values."""
    return round(sum(values) / len(values), 2) if values else 0.0


def _event_facts(scenario: Scenario, last: date) -> _EventFacts:
    """Collect the events' facts; referrals and time-out requests after `last` are not in the run."""
    facts = _EventFacts({}, defaultdict(list), [], {}, 0, {})
    for ev in scenario.events:
        in_run = ev.at.date() <= last
        if isinstance(ev, ReferralEvent):
            facts.n_referrals += int(in_run)
            if ev.case not in facts.referrals:
                facts.referrals[ev.case] = ev
                if ev.machtiging:
                    # As the validator orders them: the referral's own first, then events in order.
                    window = (ev.machtiging.valid_from, ev.machtiging.valid_until)
                    facts.machtigingen[ev.case].insert(0, window)
        elif isinstance(ev, MachtigingEvent):
            facts.machtigingen[ev.case].append((ev.valid_from, ev.valid_until))
        elif isinstance(ev, TimeoutRequestEvent) and in_run:
            facts.timeout_requests.append((ev.case, ev.at.date()))
        elif isinstance(ev, WithdrawEvent | CloseEvent) and in_run:
            facts.ends.setdefault(ev.case, ev.at.date())
            if isinstance(ev, CloseEvent) and ev.outcome:
                facts.outcomes.append(ev.outcome)
        elif isinstance(ev, FollowUpEvent) and in_run:
            facts.relapses.append(ev.relapse)
        elif isinstance(ev, StaffChangeEvent):
            facts.handovers[ev.person].append(max(ev.from_, ev.at.date()))
        elif isinstance(ev, CapacityEvent):
            for n in range(ev.from_.toordinal(), ev.until.toordinal()):
                facts.capacity[(ev.group, n)] = ev.beds
    return facts


def _placement_outcomes(
    net: NetworkIndex, facts: _EventFacts, placements: list[dict[str, Any]]
) -> tuple[list[int], int, list[int]]:
    """Sorted wait days, placements in the home region and travel minutes of the referred placements."""
    waits: list[int] = []
    home = 0
    travel: list[int] = []
    for s in placements:
        ref = facts.referrals.get(s["case"])
        if ref is None:
            continue
        waits.append((date.fromisoformat(s["start"]) - _ready_date(facts, ref, s)).days)
        region = net.groups[s["group"]].region
        minutes = net.travel(ref.home_region, region)
        if region == ref.home_region:
            home += 1
        if minutes is not None:
            travel.append(minutes)
    waits.sort()
    return waits, home, travel


def _ready_date(facts: _EventFacts, ref: ReferralEvent, placement: dict[str, Any]) -> date:
    """The day the wait counts from: the referral, its earliest start and the machtiging placed under."""
    start, end = date.fromisoformat(placement["start"]), date.fromisoformat(placement["end"])
    ready = max(ref.at.date(), ref.earliest_start)
    spec = KINDS.get(ref.kind)
    if spec is not None and spec.needs_machtiging:
        # The first machtiging covering the whole stay that has not lapsed (3 months) by its start.
        for vf, vu in facts.machtigingen[placement["case"]]:
            if vf <= start and end <= vu + timedelta(1) and start <= lapse_date(vf):
                ready = max(ready, vf)
                break
    return ready


def _bed_nights(
    net: NetworkIndex, facts: _EventFacts, stays: list[dict[str, Any]], first: date, last: date
) -> tuple[int, int]:
    """Bed-nights used by all stays and bed-nights offered by all groups, within the run's days."""
    used = 0
    for s in stays:
        a = max(first.toordinal(), date.fromisoformat(s["start"]).toordinal())
        b = min(last.toordinal(), date.fromisoformat(s["end"]).toordinal() - 1)
        used += max(0, b - a + 1)
    offered = sum(
        facts.capacity.get((gid, n), info.group.beds)
        for gid, info in net.groups.items()
        for n in range(first.toordinal(), last.toordinal() + 1)
    )
    return used, offered


def _timeouts_served(facts: _EventFacts, stays: list[dict[str, Any]]) -> tuple[int, int]:
    """Time-out requests served on a group within a day, of those whose kind has time-outs on a group."""
    timeouts: dict[str, list[date]] = defaultdict(list)
    for s in stays:
        if s["type"] == "timeout":
            timeouts[s["case"]].append(date.fromisoformat(s["start"]))
    for starts in timeouts.values():
        starts.sort()
    served = asked = 0
    for case, day in facts.timeout_requests:
        ref = facts.referrals.get(case)
        spec = KINDS.get(ref.kind) if ref is not None else None
        if spec is None or not spec.timeout_on_group:
            continue
        asked += 1
        # Each time-out stay answers one request: the earliest one starting that day or the next.
        for k, start in enumerate(timeouts.get(case, [])):
            if 0 <= (start - day).days <= 1:
                timeouts[case].pop(k)
                served += 1
                break
    return served, asked


def _startgesprek_counts(
    net: NetworkIndex,
    scenario: Scenario,
    placements: list[dict[str, Any]],
    meetings: list[dict[str, Any]],
    facts: _EventFacts,
    last: date,
) -> tuple[int, int]:
    """Placements with one clash-free startgesprek in time, and placements that need one by the end."""
    referrals = facts.referrals
    s = scenario.settings
    opens, closes = s.working_hours
    parsed = [(m, datetime.fromisoformat(m["start"]), datetime.fromisoformat(m["end"])) for m in meetings]
    clash = _clashing_meetings(net, parsed)
    by_case: dict[str, list[int]] = defaultdict(list)
    for k, (m, _, _) in enumerate(parsed):
        if m["meeting"] == "startgesprek":
            by_case[m["case"]].append(k)
    on_time = needed = 0
    for p in placements:
        start = date.fromisoformat(p["start"])
        ref = referrals.get(p["case"])
        if ref is None or start > last:
            continue
        window = net.calendar.startgesprek_days(start, s.startgesprek_within_working_days)
        mine = by_case.get(p["case"], [])
        # A startgesprek not yet planned whose window runs past the end is not due yet.
        if not mine and window and window[-1] > last:
            continue
        needed += 1
        if len(mine) != 1 or mine[0] in clash:
            continue
        m, a, b = parsed[mine[0]]
        # The kind's own staff (no therapist without MST) and the referrer; a person who handed the
        # case over after the meeting attended it for their successor.
        wanted = [person for person in (p["mst_therapist"], p["trajectbegeleider"]) if person]
        present = list(m["attendees"])
        if ref.referrer in present:
            present.remove(ref.referrer)
        if (
            a.date() in window
            and b.date() == a.date()
            and opens <= a.time()
            and b.time() <= closes
            and (b - a) == timedelta(minutes=s.meeting_minutes)
            and len(present) == len(wanted) == len(set(present))
            and all(any(_stood_in(net, facts, x, w, a.date()) for x in present) for w in wanted)
        ):
            on_time += 1
    return on_time, needed


def _stood_in(net: NetworkIndex, facts: _EventFacts, attendee: str, final: str, day: date) -> bool:
    """Whether `attendee` acted on `day` for the case's final person `final`: the same person, or
    one of the same role whose staff change handed their cases over only after that day."""
    if attendee == final:
        return True
    a, b = net.people.get(attendee), net.people.get(final)
    if a is None or b is None or a.role != b.role:
        return False
    return any(handover > day for handover in facts.handovers.get(attendee, ()))


def _clashing_meetings(net: NetworkIndex, parsed: list[_ParsedMeeting]) -> set[int]:
    """Indices of meetings overlapping a busy block or another meeting of one of their attendees."""
    clash: set[int] = set()
    by_person: dict[str, list[int]] = defaultdict(list)
    for k, (m, _, _) in enumerate(parsed):
        for p in set(m["attendees"]):
            by_person[p].append(k)
    for person, ks in by_person.items():
        for x in ks:
            _, a, b = parsed[x]
            if any(a < bb and aa < b for aa, bb in net.busy.get(person, [])):
                clash.add(x)
            for y in ks:
                if x != y and a < parsed[y][2] and parsed[y][1] < b:
                    clash.add(x)
    return clash


# --- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="thuisbest simulate", description="Simulate a scenario and write a report (SCENARIO.md)."
    )
    parser.add_argument("scenario", help="scenario JSON file")
    parser.add_argument("--out", required=True, help="report JSON file to write")
    parser.add_argument("--policy", choices=("optimized", "fcfs"), default="optimized")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per re-plan (default 0.75)")
    parser.add_argument(
        "--rules", default=None, help="notification rules file (default: the shipped rules.yaml)"
    )
    args = parser.parse_args(argv)
    from services.notifier.rules import RulesError

    try:
        scenario = load_scenario(args.scenario)
        config = SolverConfig() if args.time_limit is None else SolverConfig(time_limit_s=args.time_limit)
        report = simulate(scenario, args.policy, config, args.rules)
    except (ScenarioError, RulesError) as exc:
        print(f"thuisbest simulate: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    k = report.kpis
    print(
        f"{scenario.name} ({args.policy}): {k.placed} placed of {k.referrals} referrals, "
        f"mean wait {k.mean_wait_days} days, home region {k.home_region_pct}%, "
        f"{report.solver.runs} re-plans in {report.solver.total_seconds} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
