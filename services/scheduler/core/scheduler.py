"""The planning core the scheduler service and the simulator drive: events in, decisions out (pure).

`handle` applies one intake event and returns what follows at once (refusals, a time-out, a
discharge, cancellations); `replan` re-optimises every case that is not promised yet and returns
only the differences against what was published before.

Promises and expectations. A placement is *promised* (committed: announced to family, referrer and
staff as `placement_planned`, with its startgesprek) once its start is within
`SolverConfig.commit_days` or a coordinator confirms it; until then the case waits with an
*expected* start (`case_waitlisted`, announced again only when the expected start moves more than
`expected_tolerance_days`), which re-plans may change freely. A promised placement is fixed data for
every later re-plan, like a started one: it moves only when it no longer fits (a capacity cut, a
crisis time-out that had no other bed, a stay before it that runs longer), and the move says why.
A crisis referral does not take a promised bed: it goes before every case not promised yet.
The fcfs policy promises every placement when it decides it (it never revisits a decision).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np

from services.scheduler.core import explain
from services.scheduler.core.candidates import (
    CaseInput,
    build_input,
    describe_window,
    feasible_starts,
    first_true,
    groups_in_reach,
)
from services.scheduler.core.greedy import Assignment, best_assignment, commit, earliest_anywhere, greedy
from services.scheduler.core.meetings import Calendars, MeetingRequest, plan_meetings, taken_index
from services.scheduler.core.model import SolveResult, candidate_options, solve
from services.scheduler.core.profiles import Profiles
from services.scheduler.core.state import (
    URGENCY_RANK,
    Case,
    Handover,
    Meeting,
    Placement,
    Timeout,
    Waiting,
    case_from_json,
    case_to_json,
)
from shared.events import (
    CaseClosed,
    CaseEventT,
    CaseWaitlisted,
    Decision,
    DischargeReported,
    FollowUpReported,
    MachtigingGranted,
    MeetingHeld,
    PlacementCancelled,
    PlacementPlanned,
    ReferralRegistered,
    ReferralWithdrawn,
    RequestRefused,
    StartgesprekCancelled,
    StartgesprekPlanned,
    TimeoutAddressNamed,
    TimeoutAssigned,
    TimeoutRequested,
)
from shared.inputs import Machtiging
from shared.kinds import KIND_TABLE
from shared.network import Network, NetworkIndex
from shared.types import fmt_local

Policy = Literal["optimized", "fcfs"]
# Bed profiles reach this many nights past the horizon: the longest stay of any kind.
STAY_MARGIN = max(spec.max_stay for spec in KIND_TABLE) + 1
# A staff change hands running cases over when the person is absent longer than this many
# working days, or has left (PATHWAY-V2).
HANDOVER_AFTER_WORKING_DAYS = 5


@dataclass(frozen=True)
class SolverConfig:
    # Wall-clock limit of the placement model per re-plan (the service's is its setting, 0.5 s).
    time_limit_s: float = 0.75
    seed: int = 7
    workers: int = 2
    horizon_days: int = 180  # placements start at most this many days ahead
    deterministic_time: float | None = 1.5  # also bounds the search in deterministic units
    max_groups: int = 8  # groups per case: all of the home region plus the nearest others
    openings_per_group: int = 3  # start days per group taken from the greedy plan's openings
    meeting_time_limit_s: float = 0.3
    retry_days: int = 7  # re-plan at least this often while cases wait for a bed
    # A placement is promised (announced) when its start is at most this many days away: a working
    # week for the family, school and staff to prepare, and for the startgesprek (within 3 working
    # days of the start, announced a working day ahead). Further out, a full sector changes too
    # often (discharges, crises, cuts) for a date to be a promise. None: promise every decision.
    commit_days: int | None = 7
    expected_tolerance_days: int = 5  # an expected start is announced again when it moves further
    rolling_days: int = 56  # the model decides the cases starting within this many days (see _assign)


MEETING_ROUNDS = 8  # at most this many stage-1 solves per re-plan (see `replan`)


@dataclass
class SchedulerStats:
    runs: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0
    last_status: str = ""
    last_gap: float | None = None
    last_objective: float | None = None
    last_bound: float | None = None
    fallbacks: int = 0
    optimal: int = 0  # re-plans whose placement model was solved to proven optimality
    gaps: list[float] = field(default_factory=list)  # relative gap to the bound, per solved re-plan


def _cost(plan: dict[str, Assignment], inputs: dict[str, CaseInput]) -> int:
    """The model's objective value of a greedy plan (restaffing left out)."""
    return sum(
        ci.cost(plan[cid].group, plan[cid].start) if cid in plan else ci.unplaced_cost
        for cid, ci in inputs.items()
    )


class Scheduler:
    def __init__(
        self, network: Network, *, policy: Policy = "optimized", config: SolverConfig = SolverConfig()
    ) -> None:
        self.network = network
        self.net = NetworkIndex(network)
        self.policy: Policy = policy
        self.config = config
        self.cases: dict[str, Case] = {}
        self.capacity_events: list[tuple[str, int, date, date, datetime]] = []
        self.capacity: dict[str, dict[int, int]] = {}
        # PATHWAY-V2 staff changes: (person, from, until, status, at), and person -> absences.
        self.staff_changes: list[tuple[str, date, date | None, str, datetime]] = []
        # Promised placements that must move at the next re-plan (their person left, no successor).
        self.must_move: dict[str, str] = {}
        self.absences: dict[str, list[tuple[date, date | None]]] = {}
        # person -> start days on which they take no new case: their absences, and for a change that
        # hands cases over, also the days whose load would still run into it (the family would be
        # handed over at once: a leaving therapist gets no new families).
        self.no_new_case: dict[str, list[tuple[date, date | None]]] = {}
        self.rejected: list[dict[str, str]] = []
        self.dirty = False
        self.last_replan: date | None = None
        self.stats = SchedulerStats()
        self.calendars = Calendars(self.net)
        self.calendars.absent = self.absences
        self.load_days = 7 * network.settings.mst_weeks
        # fcfs never revisits a decision: every placement it decides is promised at once.
        self.commit_days = None if policy == "fcfs" else config.commit_days

    # -- events ----------------------------------------------------------------------------

    def handle(self, event: CaseEventT, now: datetime) -> list[Decision]:
        """Apply one intake event; return the decisions that follow at once."""
        match event:
            case ReferralRegistered():
                return self._referral(event, now)
            case MachtigingGranted():
                return self._machtiging(event, now)
            case DischargeReported():
                return self._discharge(event, now)
            case TimeoutRequested():
                return self._timeout(event, now)
            case ReferralWithdrawn() | CaseClosed():
                return self._end(event, now)
            case TimeoutAddressNamed():
                case = self.cases.get(event.case)
                if case is not None:
                    case.has_timeout_address = True
                return []
            case MeetingHeld() | FollowUpReported():
                return []
        raise TypeError(f"not a case event: {event!r}")

    def _refuse(self, event: CaseEventT, what: str, reason: str, now: datetime) -> list[Decision]:
        return self._refusal(event.case, what, event.occurred_at, reason, now)

    def _refusal(self, case_id: str, what: str, at: datetime, reason: str, now: datetime) -> list[Decision]:
        """A refused event (or a staff change not carried out for a case), on the record and told."""
        case = self.cases.get(case_id)
        self.rejected.append({"case": case_id, "event": what, "at": fmt_local(at), "reason": reason})
        return [
            RequestRefused(
                case=case_id,
                occurred_at=now,
                event=what,
                at=at,
                reason=reason,
                mst_therapist=case.placement.therapist if case and case.placement else None,
                home_region=case.home_region if case else None,
            )
        ]

    def _referral(self, ev: ReferralRegistered, now: datetime) -> list[Decision]:
        if ev.case in self.cases:
            return self._refuse(ev, "referral", "duplicate: the case is already referred", now)
        case = Case(
            id=ev.case,
            kind=ev.kind,
            home_region=ev.home_region,
            referrer=ev.referrer,
            urgency=ev.urgency,
            earliest_start=ev.earliest_start,
            stay_days=ev.stay_days,
            eligible_from=ev.eligible_from,
            eligible_until=ev.eligible_until,
            conflicts_with=list(ev.conflicts_with),
            machtigingen=[(ev.machtiging.valid_from, ev.machtiging.valid_until)] if ev.machtiging else [],
            referred_at=ev.occurred_at,
            has_timeout_address=ev.has_timeout_address,
            current_therapist=ev.current_therapist,
            nights_per_week=ev.nights_per_week,
            preferred_nights=list(ev.preferred_nights),
        )
        if not case.needs_machtiging or case.machtigingen:
            case.placeable_since = ev.occurred_at
        # Conflicts hold both ways, whichever referral named them.
        for other in self.cases.values():
            if case.id in other.conflicts_with and other.id not in case.conflicts_with:
                case.conflicts_with.append(other.id)
            if other.id in case.conflicts_with and case.id not in other.conflicts_with:
                other.conflicts_with.append(case.id)
        self.cases[ev.case] = case
        self.dirty = True
        # The kennismakingsgesprek first, so that the first decision knows its trajectbegeleider; when
        # that decision promises a start on or before it, it is dropped before anyone is told.
        met = self._plan_kennismaking(case, now)
        out = self._decide_now(case, now) if case.placeable_since is not None else []
        if met and case.kennismaking is None:
            case.kennismaking_sequence = -1
            return [d for d in out if getattr(d, "meeting", None) != "kennismaking"]
        return met + out

    # -- kennismakingsgesprek (PATHWAY-V2) -----------------------------------------------------

    def _kennismaking_days(self, case: Case) -> list[date]:
        """The working days after the referral day the kennismakingsgesprek may fall on."""
        within = self.network.settings.kennismaking_within_working_days
        day = case.referred_at.date()
        return self.net.calendar.startgesprek_days(day, within)[-within:]

    def _plan_kennismaking(self, case: Case, now: datetime) -> list[Decision]:
        """A kennismakingsgesprek at the family's home, within its window, with an MST supervisor of
        the home region (kinds with MST), the trajectbegeleider with the most room among those
        serving the home region, and the referrer; skipped when the placement starts first
        (PATHWAY-V2: a version 2 network)."""
        if self.network.scenario_version < 2:  # a version 1 network plans as before
            return []
        days = [d for d in self._kennismaking_days(case) if not self._starts_by(case, d)]
        if not days or not case.open:
            return []
        supervisors: list[str | None] = list(self.net.supervisors(case.home_region))
        if not case.spec.needs_mst_therapist:
            supervisors = [None]
        load = self._open_caseload()
        tbs = sorted(
            (p.id for p in self.net.serving("trajectbegeleider", case.home_region)),
            key=lambda q: load.get(q, 0) - int(self.net.people[q].max_cases or 0),
        )
        choices = [
            tuple(p for p in (sup, tb, case.referrer) if p is not None) for tb in tbs for sup in supervisors
        ]
        taken = taken_index(self._pinned_meetings(now, {}))
        found = self.calendars.first_free(days, choices, self.calendars.earliest(now), taken)
        if found is None:
            case.explanation += " No kennismakingsgesprek slot within its window."
            return []
        (start, end), attendees = found
        case.kennismaking_sequence += 1
        case.kennismaking = Meeting(start, end, "home", list(attendees), case.kennismaking_sequence)
        return [self._meeting_planned(case, "kennismaking", case.kennismaking, now)]

    def _starts_by(self, case: Case, day: date) -> bool:
        """Whether the case's promised placement starts on or before `day` (the startgesprek then
        replaces the kennismakingsgesprek)."""
        return case.placement is not None and case.placement.start <= day

    def _open_caseload(self) -> dict[str, int]:
        """Per person, the open cases whose placement (promised or expected) they carry."""
        load: dict[str, int] = {}
        for c in self.cases.values():
            p = c.placement or c.expected
            if c.open and p is not None:
                for person in p.staff:
                    load[person] = load.get(person, 0) + 1
        return load

    def _skip_kennismaking(self, case: Case, now: datetime) -> list[Decision]:
        """Cancel a kennismakingsgesprek not held yet when the placement starts first."""
        k = case.kennismaking
        if k is None or k.start <= now or not self._starts_by(case, k.start.date()):
            return []
        return self._cancel_kennismaking(case, now)

    def _cancel_kennismaking(self, case: Case, now: datetime) -> list[Decision]:
        if case.kennismaking is None or case.kennismaking.start <= now:
            return []
        case.kennismaking_sequence += 1
        case.kennismaking = None
        return [
            StartgesprekCancelled(
                case=case.id, occurred_at=now, meeting="kennismaking", sequence=case.kennismaking_sequence
            )
        ]

    def _meeting_planned(
        self, case: Case, which: Literal["startgesprek", "kennismaking"], m: Meeting, now: datetime
    ) -> StartgesprekPlanned:
        return StartgesprekPlanned(
            case=case.id,
            occurred_at=now,
            meeting=which,
            start=m.start,
            end=m.end,
            place=m.place,
            attendees=list(m.attendees),
            sequence=m.sequence,
        )

    def _machtiging(self, ev: MachtigingGranted, now: datetime) -> list[Decision]:
        case = self.cases.get(ev.case)
        if case is None:
            return []
        new = Machtiging(valid_from=ev.valid_from, valid_until=ev.valid_until)
        case.machtigingen = [m for m in case.machtigingen if m[0] != new.valid_from]
        case.machtigingen.append((new.valid_from, new.valid_until))
        if case.open and case.placement is None:
            case.placeable_since = ev.occurred_at
            self.dirty = True
            return self._decide_now(case, now)
        return []

    def _discharge(self, ev: DischargeReported, now: datetime) -> list[Decision]:
        case = self.cases.get(ev.case)
        day = ev.occurred_at.date()
        if case is None:
            return self._refuse(ev, "discharge", "not_in_stay", now)
        p = case.placement
        if p is not None and p.start <= day < p.end and ev.date > p.start:
            problem = self._extension_problem(case, p.group, p.start, p.end, ev.date, True, day)
            if problem:
                return self._refuse(ev, "discharge", problem, now)
            p.end = ev.date
            p.discharged = True
            self.dirty = True
            text = f"Discharged: the stay on {p.group} ends on {ev.date} instead of as planned."
            case.explanation = text
            return [self._planned(case, "discharged", text, now)]
        for t in case.timeouts:
            if t.start <= day < t.end and ev.date > t.start:
                problem = self._extension_problem(case, t.group, t.start, t.end, ev.date, False, day)
                if problem:
                    return self._refuse(ev, "discharge", problem, now)
                t.end = ev.date
                self.dirty = True
                return []
        return self._refuse(ev, "discharge", "not_in_stay", now)

    def _extension_problem(
        self, case: Case, group: str, start: date, end: date, new_end: date, placement: bool, today: date
    ) -> str | None:
        """Why a stay may not run on to a later discharge date (rules 1, 3 and 6), or None."""
        if new_end <= end:
            return None
        if case.needs_machtiging and case.machtiging_for(start, new_end, placement=placement) is None:
            return "no_machtiging: the machtiging does not cover the longer stay"
        nights = (new_end - end).days
        # Only youths already on a group hold their beds: a placement planned to start in those
        # nights moves at the next re-plan (rule 10), as for a time-out.
        prof = self._fixed_profile(end, days=nights, load_days=1, started_by=today)
        free = prof.regular_free(group) if placement else prof.total_free(group)
        pattern = case.placement.nights if placement and case.placement is not None else None
        if pattern is not None:  # a part-time stay needs a bed on its own nights only
            free = np.where(prof.night_mask(0, nights, pattern), free, 1)
        conflicts = set(case.conflicts_with)
        if free.min() < 1 or not prof.conflict_free(group, nights, conflicts, 1)[0]:
            return "no_bed: the bed is taken after the planned end"
        return None

    def _end(self, ev: ReferralWithdrawn | CaseClosed, now: datetime) -> list[Decision]:
        what = "withdraw" if isinstance(ev, ReferralWithdrawn) else "close"
        case = self.cases.get(ev.case)
        if case is None:
            return self._refuse(ev, what, "unknown_case", now)
        day = ev.occurred_at.date()
        started = case.placement is not None and case.placement.start <= day
        if what == "withdraw" and started:
            return self._refuse(ev, what, "already_started", now)
        if not case.open:
            return self._refuse(ev, what, f"already_{case.status}", now)
        case.status = "withdrawn" if what == "withdraw" else "closed"
        case.ended_on = day
        if isinstance(ev, CaseClosed):
            case.close_reason = ev.reason
        case.expected = None
        self.dirty = True
        if started:
            case.explanation = f"Trajectory closed on {day}: therapist and trajectbegeleider are free again."
            return []
        case.waiting = Waiting(case.status, None, case.status)
        out = self._cancel(case, case.status, f"The referral was {case.status} on {day}.", now)
        case.explanation = f"The referral was {case.status} on {day}."
        return out

    def _cancel(self, case: Case, reason: str, text: str, now: datetime) -> list[Decision]:
        out: list[Decision] = []
        if case.placement is not None:
            out.append(PlacementCancelled(case=case.id, occurred_at=now, reason=reason, explanation=text))
            case.placement = None
        if case.meeting is not None:
            out.append(
                StartgesprekCancelled(case=case.id, occurred_at=now, sequence=case.meeting_sequence + 1)
            )
            case.meeting_sequence += 1
            case.meeting = None
        if not case.open:
            out += self._cancel_kennismaking(case, now)
        return out

    # -- time-outs (rule 9) ----------------------------------------------------------------

    def _timeout(self, ev: TimeoutRequested, now: datetime) -> list[Decision]:
        case = self.cases.get(ev.case)
        day = ev.occurred_at.date()
        refusal = case.spec.timeout_refusal if case is not None else None
        if refusal is not None:  # the kind has no time-out on a group
            return self._refuse(ev, "timeout_request", refusal, now)
        p = case.placement if case else None
        if case is None or p is None or not case.open or p.start > day or p.end > day:
            return self._refuse(ev, "timeout_request", "not_in_home_phase", now)
        if any(t.end > day for t in case.timeouts):
            return self._refuse(ev, "timeout_request", "not_in_home_phase", now)
        starts = [
            s
            for s in (day, day + timedelta(1))
            if not case.needs_machtiging
            or case.machtiging_for(s, s + timedelta(ev.days), placement=False) is not None
        ]
        if not starts:
            return self._refuse(ev, "timeout_request", "no_machtiging", now)
        reach = groups_in_reach(self.net, case, case.spec.timeout_group_kind)
        order = sorted(reach, key=lambda g: (self.net.groups[g].group.timeout_beds == 0, reach[g], g))
        conflicts = set(case.conflicts_with)
        # First a bed that breaks no promise; only then one promised to a placement that has not
        # started (a crisis with no other bed): that placement moves at the next re-plan.
        profiles = (self._fixed_profile(day, 16, 1, started_by=by) for by in (date.max, None))
        for prof, s, g in ((prof, s, g) for prof in profiles for s in starts for g in order):
            i = prof.index(s)
            if prof.total_free(g)[i : i + ev.days].min() < 1:
                continue
            if prof.conflict_free(g, ev.days, conflicts, i + 1)[i]:
                end = s + timedelta(ev.days)
                case.timeouts.append(Timeout(g, s, end, p.therapist, p.trajectbegeleider, ev.occurred_at))
                self.dirty = True  # a promised placement that now lacks a bed moves on the next re-plan
                reserved = self.net.groups[g].group.timeout_beds > 0
                case.explanation = explain.timeout_text(self.net, case, g, s, reserved)
                return [
                    TimeoutAssigned(
                        case=case.id,
                        occurred_at=now,
                        group=g,
                        location=self.net.groups[g].location.id,
                        start=s,
                        end=end,
                        mst_therapist=p.therapist,
                        trajectbegeleider=p.trajectbegeleider,
                    )
                ]
        return self._refuse(ev, "timeout_request", "no_bed", now)

    # -- promises --------------------------------------------------------------------------

    def promise(self, case_id: str) -> Placement:
        """A coordinator confirms a case's expected placement: the next re-plan promises it (it is
        planned again first, so a bed taken since is never promised). Returns the expected placement;
        LookupError for an unknown case, ValueError when there is nothing to promise."""
        case = self.cases.get(case_id)
        if case is None:
            raise LookupError(case_id)
        if not case.open or case.expected is None:
            state = "already promised" if case.placement is not None else "no expected placement"
            raise ValueError(state if case.open else f"the case is {case.status}")
        case.confirmed = True
        self.dirty = True
        return case.expected

    # -- capacity --------------------------------------------------------------------------

    def set_capacity(self, group: str, beds: int, from_: date, until: date, now: datetime) -> list[Decision]:
        """A group has `beds` beds on nights in [from_, until); stays already running are never evicted."""
        if group not in self.net.groups:
            raise ValueError(f"unknown group {group!r}")
        self.capacity_events.append((group, beds, from_, until, now))
        nights = self.capacity.setdefault(group, {})
        for n in range(from_.toordinal(), until.toordinal()):
            nights[n] = beds
        self.dirty = True
        return []

    # -- staff changes (PATHWAY-V2) ----------------------------------------------------------

    def staff_change(
        self, person: str, from_: date, until: date | None, status: str, now: datetime
    ) -> list[Decision]:
        """A person takes no new case and attends no meeting in [from_, until) (None: for good). A
        therapist or trajectbegeleider who has left, or is absent more than
        HANDOVER_AFTER_WORKING_DAYS working days, hands each running case over to a successor; the
        meetings they would attend in that time are planned again without them."""
        who = self.net.people.get(person)
        if who is None:
            raise ValueError(f"unknown person {person!r}")
        self.staff_changes.append((person, from_, until, status, now))
        self._note_absence(person, from_, until, status)
        self.dirty = True
        out: list[Decision] = []
        if who.role in ("mst_therapist", "trajectbegeleider") and self._hands_over(from_, until, status):
            for case in sorted(self.cases.values(), key=lambda c: c.id):
                if self._carries(case, person, from_, until):
                    out += self._hand_over(case, person, from_, until, status, now)
        for case in sorted(self.cases.values(), key=lambda c: c.id):
            for which in ("startgesprek", "kennismaking"):
                m = case.meeting if which == "startgesprek" else case.kennismaking
                if m is not None and m.end > now and person in m.attendees and self._during(m, from_, until):
                    out += self._meeting_again(case, which, now, (from_, until, status))
        return out

    def _note_absence(self, person: str, from_: date, until: date | None, status: str) -> None:
        self.absences.setdefault(person, []).append((from_, until))
        self.calendars.absent = self.absences
        first = from_
        if self._hands_over(from_, until, status):
            first = from_ - timedelta(self.load_days - 1)
        self.no_new_case.setdefault(person, []).append((first, until))

    def _hands_over(self, from_: date, until: date | None, status: str) -> bool:
        if status == "left" or until is None:
            return True
        cal = self.net.calendar
        working = sum(cal.is_working_day(from_ + timedelta(i)) for i in range((until - from_).days))
        return working > HANDOVER_AFTER_WORKING_DAYS

    def _carries(self, case: Case, person: str, from_: date, until: date | None) -> bool:
        """Whether the person carries the case's promised or running placement in [from_, until)."""
        p = case.placement
        if p is None or person not in p.staff:
            return False
        load_end = p.start + timedelta(self.load_days)
        if not case.open:
            return False
        return load_end > from_ and (until is None or p.start < until)

    @staticmethod
    def _during(m: Meeting, from_: date, until: date | None) -> bool:
        return m.end.date() >= from_ and (until is None or m.start.date() < until)

    def _hand_over(
        self, case: Case, person: str, from_: date, until: date | None, status: str, now: datetime
    ) -> list[Decision]:
        """The successor for one case: same role, serving the region the role serves (the home region
        for a therapist, the group's for a trajectbegeleider), not absent, with room for the rest of
        the load; the same team (supervisor) first, then the most room. The family keeps everyone
        else; everyone involved is told (a placement_planned with change "handover")."""
        p = case.placement
        assert p is not None
        role = "mst_therapist" if p.therapist == person else "trajectbegeleider"
        region = case.home_region if role == "mst_therapist" else self.net.groups[p.group].region
        today = now.date()
        first = max(today, p.start, from_)
        load_end = p.start + timedelta(self.load_days)
        prof = self._fixed_profile(today, self.config.horizon_days + STAY_MARGIN, self.load_days, date.max)
        team = self.net.people[person].supervisor
        best: tuple[tuple[int, int, int], str] | None = None
        for rank, q in enumerate(c.id for c in self.net.serving(role, region)):
            if q == person or q in p.staff or self._absent_between(q, first, load_end):
                continue
            a, b = prof.index(first), prof.index(load_end)
            room = int((prof.max_cases[q] - prof.caseload[q][a:b]).min()) if b > a else 1
            if room < 1:
                continue
            key = (0 if team is not None and self.net.people[q].supervisor == team else 1, -room, rank)
            if best is None or key < best[0]:
                best = (key, q)
        gone = "has left" if status == "left" or until is None else f"is absent until {until}"
        if best is None:
            return self._no_successor(case, person, role, region, gone, now)
        successor = best[1]
        if role == "mst_therapist":
            p.therapist = successor
        else:
            p.trajectbegeleider = successor
        case.handovers.append(Handover(now, role, person, successor, f"{person} {gone}"))
        text = explain.handover_text(self.net, role, person, successor, gone, first)
        case.explanation = text
        out: list[Decision] = [self._planned(case, "handover", text, now, handed_over_from=[person])]
        m = case.meeting
        if m is not None and m.end > now and person in m.attendees:
            out += self._meeting_again(case, "startgesprek", now, None)
        return out

    def _no_successor(
        self, case: Case, person: str, role: str, region: str, gone: str, now: datetime
    ) -> list[Decision]:
        """Nobody of the role serving the region has room for the rest of the case's load. A promised
        placement that has not started moves at the next re-plan (to a person with room, maybe
        later); a running one keeps the person for now, and the refusal tells the coordinators and
        the supervisor to decide by hand (caseloads stay within max_cases)."""
        p = case.placement
        assert p is not None
        word = explain.ROLE_WORDS.get(role, role)
        why = f"no {word} of {region} has room to take over from {person}, who {gone}"
        if p.start > now.date():
            self.must_move[case.id] = why
            self.dirty = True
            case.explanation = f"The promised placement must move: {why}."
            return []
        case.explanation = f"No successor: {why}; the case keeps {person} until a coordinator decides."
        return self._refusal(case.id, "staff_change", now, f"no_successor: {why}", now)

    def _absent_between(self, person: str, a: date, b: date) -> bool:
        return any(x < b and (y is None or a < y) for x, y in self.absences.get(person, ()))

    def _meeting_again(
        self,
        case: Case,
        which: str,
        now: datetime,
        change: tuple[date, date | None, str] | None,
    ) -> list[Decision]:
        """Plan a meeting again after a staff change (its attendees from the plan as it stands); a
        startgesprek that finds no slot in its window hands the absent person's case over (`change`:
        the absence, None when this is already a handover)."""
        if which == "kennismaking":
            case.kennismaking = None
            planned = self._plan_kennismaking(case, now)
            if planned:
                return planned
            case.kennismaking_sequence += 1
            return [
                StartgesprekCancelled(
                    case=case.id, occurred_at=now, meeting=which, sequence=case.kennismaking_sequence
                )
            ]
        p, m = case.placement, case.meeting
        assert p is not None and m is not None
        attendees = (*p.staff, case.referrer)
        taken = taken_index(self._pinned_meetings(now, {case.id: ""}))
        request = MeetingRequest(case.id, p.start, attendees, self.net.groups[p.group].location.id)
        slots, _ = plan_meetings(self.calendars, [request], now, taken, optimise=False)
        if case.id in slots:
            slot = slots[case.id]
            if (m.start, m.end) == slot and m.attendees == list(attendees):
                return []
            case.meeting_sequence += 1
            case.meeting = Meeting(slot[0], slot[1], m.place, list(attendees), case.meeting_sequence)
            return [self._meeting_planned(case, "startgesprek", case.meeting, now)]
        if change is not None:
            for q in p.staff:
                if self._absent_between(q, change[0], change[1] or date.max):
                    handed = self._hand_over(case, q, *change, now)
                    if handed:
                        return handed
        return []

    def _decide_now(self, case: Case, now: datetime) -> list[Decision]:
        """A first decision for a case that just became placeable, in milliseconds: the case is
        fitted around every other case's plan as it stands (started, promised and expected), and
        promised when it starts within `commit_days`, else told its expected start or why it waits.
        The next re-plan (debounced) then optimises it together with every case not promised yet."""
        today = now.date()
        horizon = self.config.horizon_days
        prof = self._fixed_profile(today, horizon + STAY_MARGIN, self.load_days, started_by=date.max)
        for other in self.cases.values():
            if other.open and other.expected is not None and other.id != case.id:
                self._hold(prof, other.id, other.expected, sign=1)
        pinned = self._pinned_meetings(now, {})
        [ci] = self._inputs([case], prof, now, pinned, {})
        found = best_assignment(self.net, prof, ci, self.policy == "fcfs") if ci.allowed.any() else None
        if found is None:
            return self._publish_waiting(case, ci, prof, today + timedelta(horizon), now)
        if not self._promises(case, found, {}):
            return self._publish_expected(case, found, now)
        meetings, failed = self._meetings([ci], {case.id: found}, now, pinned, {})
        if failed:
            return []  # no startgesprek slot with this start: the re-plan looks further
        case.waiting, case.expected, case.confirmed = None, None, False
        out = self._publish_placement(case, ci, found, prof, now, None)
        return out + self._publish_meeting(case, found, meetings[case.id], now)

    # -- re-planning -----------------------------------------------------------------------

    def needs_replan(self) -> bool:
        return self.dirty

    def replan_due(self, today: date) -> bool:
        """Dirty, a promise is due (an expected start came within `commit_days`, or a coordinator
        confirmed one), or cases wait for a bed and the last re-plan is `retry_days` old."""
        if self.dirty or self._promise_due(today):
            return True
        if self.last_replan is None or (today - self.last_replan).days < self.config.retry_days:
            return False
        return any(
            c.open and c.placement is None and c.waiting and c.waiting.code.startswith("no_bed")
            for c in self.cases.values()
        )

    def _pinned_meetings(
        self, now: datetime, released: dict[str, str]
    ) -> list[tuple[tuple[str, ...], tuple[datetime, datetime]]]:
        """The startgesprekken of promised placements that stay and the kennismakingsgesprekken, not
        over yet: new meetings keep clear of them (those already over are no one's concern)."""
        out = [
            (tuple(c.meeting.attendees), (c.meeting.start, c.meeting.end))
            for c in self.cases.values()
            if c.meeting is not None
            and c.meeting.end > now
            and c.placement is not None
            and c.id not in released
        ]
        out += [
            (tuple(c.kennismaking.attendees), (c.kennismaking.start, c.kennismaking.end))
            for c in self.cases.values()
            if c.kennismaking is not None and c.kennismaking.end > now
        ]
        return out

    def _promise_due(self, today: date) -> bool:
        if self.last_replan == today or self.commit_days is None:
            return False
        return any(
            c.open and c.expected is not None and c.expected.start <= today + timedelta(self._commit_days(c))
            for c in self.cases.values()
        )

    def _commit_days(self, case: Case) -> int:
        """How many days before its start a placement of this case is promised: the service's
        setting, or the kind's own shorter lead (`KindSpec.promise_days`)."""
        assert self.commit_days is not None
        own = case.spec.promise_days
        return self.commit_days if own is None else min(own, self.commit_days)

    def _fixed_profile(
        self, today: date, days: int, load_days: int, started_by: date | None = None
    ) -> Profiles:
        """Placements started by `started_by` (default `today`; `date.max`: every promised one),
        their caseloads and all time-outs, over `days` nights from `today`."""
        prof = Profiles(self.net, self.capacity, today, days, load_days, self.no_new_case)
        started_by = started_by or today
        for case in self.cases.values():
            p = case.placement
            if p is not None and p.start <= started_by:
                end = p.start + timedelta(self.load_days)
                if case.status == "closed" and case.ended_on is not None:
                    end = min(end, case.ended_on)
                if p.end > today or end > today:  # over before today: nothing left to hold
                    a = prof.index(p.start)
                    prof.add_stay(case.id, p.group, a, prof.index(p.end), regular=True, nights=p.nights)
                    for person in p.staff:
                        prof.add_load(person, a, prof.index(end))
            for t in case.timeouts:
                if t.end > today:
                    prof.add_stay(case.id, t.group, prof.index(t.start), prof.index(t.end), regular=False)
        return prof

    def replan(self, now: datetime) -> list[Decision]:
        began = time.perf_counter()
        today = now.date()
        self.dirty = False
        self.last_replan = today
        horizon = self.config.horizon_days
        # Started and promised placements are fixed; a promise that no longer fits is released.
        fixed = self._fixed_profile(today, horizon + STAY_MARGIN, self.load_days, started_by=date.max)
        released = self._release(fixed, today)
        for cid, why in sorted(self.must_move.items()):
            moving = self.cases.get(cid)
            if moving is not None and moving.open and moving.placement is not None and cid not in released:
                self._hold(fixed, cid, moving.placement, sign=-1)
                released[cid] = why
        self.must_move.clear()
        pending = [c for c in self.cases.values() if c.open and (c.placement is None or c.id in released)]
        pinned_meetings = self._pinned_meetings(now, released)
        result: SolveResult | None = None
        deadline = began + self.config.time_limit_s  # for stage 1 over all rounds
        inputs = self._inputs(pending, fixed, now, pinned_meetings, released)
        by_id = {ci.id: ci for ci in inputs}
        # A start day whose startgesprek finds no slot is blocked for that case and stage 1 runs
        # again, while rounds and time last; cases still without a slot wait for the next re-plan.
        for round_ in range(1, MEETING_ROUNDS + 1):
            assignments, result, prof = self._assign(inputs, fixed, deadline)
            meetings, failed = self._meetings(inputs, assignments, now, pinned_meetings, released)
            if not failed:
                break
            if round_ == MEETING_ROUNDS or time.perf_counter() > deadline:
                for cid in failed:
                    assignments.pop(cid, None)
                break
            for cid in failed:
                by_id[cid].allowed[assignments[cid].start] = False
        decisions = self._publish(pending, inputs, assignments, meetings, fixed, prof, now, released)
        seconds = time.perf_counter() - began
        st = self.stats
        st.runs += 1
        st.total_seconds += seconds
        st.max_seconds = max(st.max_seconds, seconds)
        if result is not None:
            st.last_status = result.status
            st.last_objective, st.last_bound, st.last_gap = result.objective, result.bound, result.gap
            if result.gap is not None:
                st.gaps.append(result.gap)
            if result.used_fallback:
                st.fallbacks += 1
            if result.status == "OPTIMAL":
                st.optimal += 1
        return decisions

    def _inputs(
        self,
        pending: list[Case],
        fixed: Profiles,
        now: datetime,
        pinned_meetings: list[tuple[tuple[str, ...], tuple[datetime, datetime]]],
        released: dict[str, str],
    ) -> list[CaseInput]:
        taken = taken_index(pinned_meetings)
        horizon = self.config.horizon_days
        referrer_ok: dict[str, np.ndarray] = {}
        earliest = self.calendars.earliest(now)

        def free_day(person: str, day: date) -> bool:
            slots = self.calendars.day_slots(day, earliest)
            if (person, day) not in taken and (person, day) not in self.calendars.busy:
                return bool(slots)
            return any(self.calendars.free(person, slot, taken) for slot in slots)

        def referrer_mask(person: str) -> np.ndarray:
            """ok[s]: the referrer can attend some startgesprek slot in the window of a start on day s."""
            if person not in referrer_ok:
                days = [fixed.day(k) for k in range(horizon + 1)]
                free = {}
                mask = np.zeros(horizon + 1, dtype=bool)
                for k, start in enumerate(days):
                    for w in self.calendars.window(start):
                        if w not in free:
                            free[w] = free_day(person, w)
                        if free[w]:
                            mask[k] = True
                            break
                referrer_ok[person] = mask
            return referrer_ok[person]

        inputs = []
        for case in pending:
            told = case.placement if case.id in released else case.expected
            ci = build_input(self.net, fixed, case, self.config.horizon_days, self.config.max_groups, told)
            # A start day is only useful when the referrer can attend a startgesprek in its window.
            ci.allowed &= referrer_mask(case.referrer)
            inputs.append(ci)
        return inputs

    def _assign(
        self, inputs: list[CaseInput], fixed: Profiles, deadline: float
    ) -> tuple[dict[str, Assignment], SolveResult | None, Profiles]:
        plannable = [ci for ci in inputs if ci.allowed.any()]
        keep = [
            (
                ci,
                Assignment(
                    ci.published.group,
                    ci.published_index,
                    ci.published.therapist,
                    ci.published.trajectbegeleider,
                ),
            )
            for ci in plannable
            if ci.published is not None and ci.published_index is not None
        ]
        unplaced = [ci for ci in plannable if ci.published is None]
        prof = fixed.copy()
        if self.policy == "fcfs":
            keep.sort(key=lambda item: (item[1].start, item[0].id))
            unplaced.sort(key=lambda ci: (ci.case.placeable_since or ci.case.referred_at, ci.id))
            out, _ = greedy(self.net, prof, keep, unplaced, fcfs=True)
            return out, None, prof
        priority = sorted(
            plannable,
            key=lambda ci: (URGENCY_RANK[ci.case.urgency], ci.case.ready_day(), ci.case.referred_at, ci.id),
        )
        keep.sort(key=lambda item: (URGENCY_RANK[item[0].case.urgency], item[1].start, item[0].id))
        # Two greedy plans: one keeping what was published, one from scratch in order of priority.
        # Both give the model start days to choose from; the cheaper one is its hint.
        hint, _ = greedy(self.net, prof, keep, [ci for ci in priority if ci.published is None], fcfs=False)
        fresh_prof = fixed.copy()
        fresh, _ = greedy(self.net, fresh_prof, [], priority, fcfs=False)
        by_id = {ci.id: ci for ci in plannable}
        if _cost(fresh, by_id) < _cost(hint, by_id):
            hint, prof, fresh = fresh, fresh_prof, hint
        # Rolling horizon: a case the better greedy plan starts more than `rolling_days` ahead keeps
        # that start in this re-plan, as fixed data of the model. It is only expected (never
        # promised that far out), and re-plans optimise it as its start comes near; the model stays
        # small when waiting lists are long.
        far = {cid: a for cid, a in hint.items() if a.start > self.config.rolling_days}
        model_fixed = fixed
        if far:
            model_fixed = fixed.copy()
            for cid, a in far.items():
                commit(model_fixed, by_id[cid], a)
        near = [ci for ci in plannable if ci.id not in far]
        options = {
            ci.id: candidate_options(
                self.net,
                model_fixed,
                prof,
                ci,
                hint.get(ci.id),
                self.config.openings_per_group,
                fresh.get(ci.id),
            )
            for ci in near
        }
        result = solve(
            self.net,
            model_fixed,
            near,
            options,
            hint,
            time_limit_s=max(0.05, deadline - time.perf_counter()),
            deterministic_time=self.config.deterministic_time,
            seed=self.config.seed,
            workers=self.config.workers,
        )
        if result.status not in ("OPTIMAL", "FEASIBLE"):
            # Nothing found in time (UNKNOWN), or INFEASIBLE / MODEL_INVALID: keep the greedy plan.
            result.used_fallback = True
            return hint, result, prof
        chosen = {**result.assignments, **far}
        final = fixed.copy()
        for cid, a in chosen.items():
            commit(final, by_id[cid], a)
        return chosen, result, final

    def _meetings(
        self,
        inputs: list[CaseInput],
        assignments: dict[str, Assignment],
        now: datetime,
        pinned_meetings: list[tuple[tuple[str, ...], tuple[datetime, datetime]]],
        released: dict[str, str],
    ) -> tuple[dict[str, tuple[datetime, datetime]], list[str]]:
        """Keep the startgesprek of every unchanged placement; plan one for each placement promised
        now or moved (an expected placement has none yet)."""
        fixed = list(pinned_meetings)
        requests = []
        kept: dict[str, tuple[datetime, datetime]] = {}
        for ci in inputs:
            a = assignments.get(ci.id)
            if a is None or not self._promises(ci.case, a, released):
                continue
            case = ci.case
            p, m = case.placement, case.meeting
            start = self._day(now, a.start)
            if p is not None and m is not None and p.key() == self._placement(case, a, now).key():
                kept[ci.id] = (m.start, m.end)
                fixed.append((tuple(m.attendees), (m.start, m.end)))
                continue
            requests.append(
                MeetingRequest(ci.id, start, self._attendees(case, a), self.net.groups[a.group].location.id)
            )
        planned, failed = plan_meetings(
            self.calendars,
            requests,
            now,
            taken_index(fixed),
            optimise=self.policy == "optimized",
            time_limit_s=self.config.meeting_time_limit_s,
            seed=self.config.seed,
            workers=self.config.workers,
        )
        return {**kept, **planned}, failed

    @staticmethod
    def _attendees(case: Case, a: Assignment) -> tuple[str, ...]:
        """The startgesprek's attendees: therapist (kinds with MST), trajectbegeleider, referrer."""
        return (*a.staff, case.referrer)

    @staticmethod
    def _day(now: datetime, index: int) -> date:
        return now.date() + timedelta(index)

    def _placement(self, case: Case, a: Assignment, now: datetime) -> Placement:
        """The placement an assignment of this re-plan stands for."""
        start = self._day(now, a.start)
        return Placement(
            a.group,
            start,
            start + timedelta(case.stay_days),
            a.therapist,
            a.trajectbegeleider,
            nights=a.nights,
        )

    def _promises(self, case: Case, a: Assignment, released: dict[str, str]) -> bool:
        """Whether this re-plan promises the case's placement: it starts within `commit_days`, a
        coordinator confirmed it, or it was promised before and must move."""
        return (
            self.commit_days is None
            or a.start <= self._commit_days(case)
            or case.confirmed
            or case.id in released
        )

    def _release(self, fixed: Profiles, today: date) -> dict[str, str]:
        """Take the promised, not started placements that no longer fit out of `fixed` (latest start
        first, night by night, until the group fits); case -> why it must move. Started stays and
        time-outs are never moved."""
        out: dict[str, str] = {}
        for gid in self.net.groups:
            # regular_free is never above total_free: below 0 on a night, either bed rule breaks there
            for night in np.flatnonzero(fixed.regular_free(gid) < 0):
                n = int(night)
                while fixed.regular_free(gid)[n] < 0:
                    covering = [
                        c
                        for c in self.cases.values()
                        if c.placement is not None
                        and c.placement.group == gid
                        and c.placement.start > today
                        and c.id not in out
                        and fixed.index(c.placement.start) <= n < fixed.index(c.placement.end)
                        and (c.placement.nights is None or fixed.night_mask(n, n + 1, c.placement.nights)[0])
                    ]
                    if not covering:
                        break
                    case = max(covering, key=lambda c: (c.placement.start if c.placement else today, c.id))
                    assert case.placement is not None
                    self._hold(fixed, case.id, case.placement, sign=-1)
                    out[case.id] = self._why_released(gid, fixed.day(n))
        return out

    def _hold(self, prof: Profiles, case: str, p: Placement, sign: int) -> None:
        """Add (sign +1) or remove (-1) a placement's bed and caseloads in `prof`."""
        a = prof.index(p.start)
        prof.add_stay(case, p.group, a, prof.index(p.end), regular=True, sign=sign, nights=p.nights)
        for person in p.staff:
            prof.add_load(person, a, a + self.load_days, sign=sign)

    def _why_released(self, group: str, night: date) -> str:
        """Why a promised placement on `group` lost its bed on `night`, in plain words."""
        beds = self.capacity.get(group, {}).get(night.toordinal())
        if beds is not None and beds < self.net.groups[group].group.beds:
            return f"the capacity of {group} was cut to {beds} beds on {night}"
        for case in self.cases.values():
            if any(t.group == group and t.start <= night < t.end for t in case.timeouts):
                return f"a crisis time-out needed the last bed of {group} on {night}"
        return f"a stay on {group} runs longer than planned, past {night}"

    def _publish(
        self,
        pending: list[Case],
        inputs: list[CaseInput],
        assignments: dict[str, Assignment],
        meetings: dict[str, tuple[datetime, datetime]],
        fixed: Profiles,
        final: Profiles,
        now: datetime,
        released: dict[str, str],
    ) -> list[Decision]:
        """Apply the re-plan to the pending cases and return only what changed, case by case."""
        out: list[Decision] = []
        by_id = {ci.id: ci for ci in inputs}
        horizon_end = now.date() + timedelta(self.config.horizon_days)
        for case in sorted(pending, key=lambda c: c.id):
            ci = by_id[case.id]
            a = assignments.get(case.id)
            if a is None:
                case.expected = None
                out += self._publish_waiting(case, ci, final, horizon_end, now)
            elif self._promises(case, a, released):
                case.waiting, case.expected, case.confirmed = None, None, False
                out += self._publish_placement(case, ci, a, fixed, now, released.get(case.id))
                out += self._publish_meeting(case, a, meetings[case.id], now)
            else:
                out += self._publish_expected(case, a, now)
        return out

    def _publish_expected(self, case: Case, a: Assignment, now: datetime) -> list[Decision]:
        """A placement expected, not promised yet: the case waits with an expected start, announced
        when it is new or moves more than `expected_tolerance_days` from the one announced."""
        case.expected = self._placement(case, a, now)
        start = case.expected.start
        reason = "expected"
        text = (
            f"Waiting: a place is expected on {explain.where(self.net, case, a.group)} from {start}; "
            f"it is promised {self._commit_days(case)} days before the start (or when a coordinator "
            "confirms it) and may still change until then."
        )
        old = case.waiting
        tolerance = self.config.expected_tolerance_days
        told = old.announced if old is not None and old.code == reason else None
        case.explanation = text
        if told is not None and abs((start - told).days) <= tolerance:
            case.waiting = Waiting(reason, start, reason, announced=told)
            return []
        case.waiting = Waiting(reason, start, reason, announced=start)
        return [
            CaseWaitlisted(
                case=case.id, occurred_at=now, reason=reason, expected_start=start, explanation=text
            )
        ]

    def _publish_waiting(
        self, case: Case, ci: CaseInput, final: Profiles, horizon_end: date, now: datetime
    ) -> list[Decision]:
        """No placement: cancel a published one, and announce the wait when it is new or changed."""
        out: list[Decision] = []
        text = self._wait_reason(case, ci, final, horizon_end, now)
        w = case.waiting
        if case.placement is not None and w is not None:
            out += self._cancel(case, w.code, f"Back on the waiting list: {w.reason}.", now)
        if text is not None and w is not None:
            out.append(
                CaseWaitlisted(
                    case=case.id,
                    occurred_at=now,
                    reason=w.reason,
                    expected_start=w.expected_start,
                    explanation=text,
                )
            )
        return out

    def _publish_placement(
        self, case: Case, ci: CaseInput, a: Assignment, fixed: Profiles, now: datetime, why: str | None
    ) -> list[Decision]:
        """A placement promised now, or a promised one moved because `why`; nothing when unchanged."""
        new = self._placement(case, a, now)
        old = case.placement
        if old is not None and old.key() == new.key():
            return []
        home_first = self._home_first(ci, fixed)
        text = explain.placement_text(
            self.net,
            case,
            a.group,
            new.start,
            a.therapist,
            a.trajectbegeleider,
            home_first,
            moved=(why or "the plan changed") if old is not None else None,
            fcfs=self.policy == "fcfs",
            nights=new.nights,
        )
        case.placement = new
        case.explanation = text
        return [
            self._planned(case, "new" if old is None else "moved", text, now),
            *self._skip_kennismaking(case, now),
        ]

    def _publish_meeting(
        self, case: Case, a: Assignment, slot: tuple[datetime, datetime], now: datetime
    ) -> list[Decision]:
        """The startgesprek, published anew (next sequence) when its time or attendees changed."""
        attendees = list(self._attendees(case, a))
        m = case.meeting
        if m is not None and (m.start, m.end) == slot and m.attendees == attendees:
            return []
        case.meeting_sequence += 1
        case.meeting = Meeting(
            slot[0],
            slot[1],
            self.net.groups[a.group].location.id,
            attendees,
            case.meeting_sequence,
        )
        return [self._meeting_planned(case, "startgesprek", case.meeting, now)]

    def _home_first(self, ci: CaseInput, fixed: Profiles) -> date | None:
        best: int | None = None
        for g in ci.groups:
            if ci.travel[g] == 0:
                s = first_true(feasible_starts(self.net, fixed, ci, g))
                if s is not None and (best is None or s < best):
                    best = s
        return fixed.day(best) if best is not None else None

    def _wait_reason(
        self, case: Case, ci: CaseInput, final: Profiles, horizon_end: date, now: datetime
    ) -> str | None:
        """Set the case's waiting reason; return an explanation when it must be published anew."""
        kind = case.spec.group_kind
        found: tuple[int, str] | None = None
        if not ci.allowed.any():
            code, reason = describe_window(case, now.date(), horizon_end)
            expected = None
            if code == "horizon":
                windows = case.start_windows(now.date(), date.max)
                expected = windows[0][0] if windows else None
                reason = f"not allowed to start before {expected}" if expected else reason
        else:
            found = earliest_anywhere(self.net, final, ci)
            code = "no_bed"
            expected = None
            last_allowed = now.date() + timedelta(int(np.flatnonzero(ci.allowed)[-1]))
            if last_allowed < horizon_end:
                code = "no_bed_in_time"
                if case.eligible_until <= last_allowed:
                    limit = f"too old for {case.kind} after {case.eligible_until} (or referred a year before)"
                else:
                    limit = "the machtiging no longer allows a start after that (lapse or end)"
                reason = f"no {kind} bed in reach before {last_allowed}: {limit}"
            else:
                reason = f"no {kind} bed in reach before {horizon_end}"
            if found is not None:
                reason = f"no {kind} bed with a free therapist and a startgesprek slot yet"
        old = case.waiting
        case.waiting = Waiting(reason, expected, code, staff_or_slot=found is not None)
        text = f"Waiting: {reason}."
        case.explanation = text
        if old is not None and old.code == code and old.expected_start == expected and case.placement is None:
            return None
        return text

    def _planned(
        self,
        case: Case,
        change: Literal["new", "moved", "discharged", "handover"],
        text: str,
        now: datetime,
        handed_over_from: list[str] | None = None,
    ) -> PlacementPlanned:
        p = case.placement
        assert p is not None
        info = self.net.groups[p.group]
        return PlacementPlanned(
            case=case.id,
            occurred_at=now,
            change=change,
            kind=case.kind,
            home_region=case.home_region,
            referrer=case.referrer,
            group=p.group,
            location=info.location.id,
            region=info.region,
            start=p.start,
            end=p.end,
            mst_therapist=p.therapist,
            trajectbegeleider=p.trajectbegeleider,
            explanation=text,
            nights=list(p.nights or ()),
            handed_over_from=handed_over_from or [],
        )

    # -- reading ---------------------------------------------------------------------------

    def plan(self, today: date | None = None, *, until: date | None = None) -> dict[str, Any]:
        """The plan in the report's shapes. With `until`, placements starting later count as waiting."""
        stays: list[dict[str, Any]] = []
        meetings: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        for case in sorted(self.cases.values(), key=lambda c: c.id):
            p = case.placement
            if p is not None and (until is None or p.start <= until):
                info = self.net.groups[p.group]
                stays.append(
                    {
                        "case": case.id,
                        "type": "placement",
                        "group": p.group,
                        "location": info.location.id,
                        "start": p.start.isoformat(),
                        "end": p.end.isoformat(),
                        "mst_therapist": p.therapist,
                        "trajectbegeleider": p.trajectbegeleider,
                        "kind": case.kind,
                        **({"nights": list(p.nights)} if p.nights is not None else {}),
                    }
                )
                if case.meeting is not None:
                    m = case.meeting
                    meetings.append(
                        {
                            "case": case.id,
                            "meeting": "startgesprek",
                            "start": fmt_local(m.start),
                            "end": fmt_local(m.end),
                            "place": m.place,
                            "attendees": list(m.attendees),
                        }
                    )
            elif p is not None:
                waiting.append({"case": case.id, "reason": f"expected start {p.start} on {p.group}"})
            elif case.open and case.expected is not None:
                e = case.expected
                waiting.append(
                    {"case": case.id, "reason": f"expected start {e.start} on {e.group} (not promised yet)"}
                )
            else:
                reason = case.waiting.reason if case.waiting else case.status
                if not case.open:
                    reason = case.status
                waiting.append({"case": case.id, "reason": reason})
            for t in case.timeouts:
                stays.append(
                    {
                        "case": case.id,
                        "type": "timeout",
                        "group": t.group,
                        "location": self.net.groups[t.group].location.id,
                        "start": t.start.isoformat(),
                        "end": t.end.isoformat(),
                        "mst_therapist": t.therapist,
                        "trajectbegeleider": t.trajectbegeleider,
                        "kind": case.kind,
                    }
                )
            k = case.kennismaking
            if k is not None and (until is None or k.start.date() <= until):
                meetings.append(
                    {
                        "case": case.id,
                        "meeting": "kennismaking",
                        "start": fmt_local(k.start),
                        "end": fmt_local(k.end),
                        "place": k.place,
                        "attendees": list(k.attendees),
                    }
                )
        handovers = [
            {
                "case": case.id,
                "at": fmt_local(h.at),
                "role": h.role,
                "previous": h.previous,
                "successor": h.successor,
                "reason": h.reason,
            }
            for case in sorted(self.cases.values(), key=lambda c: c.id)
            for h in case.handovers
        ]
        return {
            "stays": stays,
            "meetings": meetings,
            "waiting": waiting,
            "rejected": list(self.rejected),
            "handovers": handovers,
        }

    def explain(self, case: str) -> str | None:
        c = self.cases.get(case)
        return None if c is None else (c.explanation or "Not planned yet: waiting for the next re-plan.")

    # -- persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        st = self.stats
        return {
            "version": 1,
            "policy": self.policy,
            "cases": [case_to_json(c) for c in self.cases.values()],
            "capacity_events": [
                [g, beds, a.isoformat(), b.isoformat(), fmt_local(at)]
                for g, beds, a, b, at in self.capacity_events
            ],
            "rejected": list(self.rejected),
            "staff_changes": [
                [person, a.isoformat(), b.isoformat() if b else None, status, fmt_local(at)]
                for person, a, b, status, at in self.staff_changes
            ],
            "must_move": dict(self.must_move),
            "dirty": self.dirty,
            "last_replan": self.last_replan.isoformat() if self.last_replan else None,
            "stats": {
                "runs": st.runs,
                "total_seconds": st.total_seconds,
                "max_seconds": st.max_seconds,
                "last_status": st.last_status,
                "last_gap": st.last_gap,
                "fallbacks": st.fallbacks,
                "optimal": st.optimal,
            },
        }

    @classmethod
    def restore(
        cls,
        network: Network,
        data: dict[str, Any],
        *,
        policy: Policy | None = None,
        config: SolverConfig = SolverConfig(),
    ) -> Scheduler:
        from shared.types import parse_local

        s = cls(network, policy=policy or data.get("policy", "optimized"), config=config)
        for raw in data.get("cases", []):
            case = case_from_json(raw)
            s.cases[case.id] = case
        for g, beds, a, b, at in data.get("capacity_events", []):
            s.set_capacity(g, int(beds), date.fromisoformat(a), date.fromisoformat(b), parse_local(at))
        for person, a, b, status, at in data.get("staff_changes", []):
            s.staff_changes.append(
                (person, date.fromisoformat(a), date.fromisoformat(b) if b else None, status, parse_local(at))
            )
            s._note_absence(person, date.fromisoformat(a), date.fromisoformat(b) if b else None, status)
        s.must_move = dict(data.get("must_move", {}))
        s.rejected = list(data.get("rejected", []))
        s.dirty = bool(data.get("dirty", False))
        s.last_replan = date.fromisoformat(data["last_replan"]) if data.get("last_replan") else None
        st = data.get("stats", {})
        s.stats.runs = int(st.get("runs", 0))
        s.stats.total_seconds = float(st.get("total_seconds", 0.0))
        s.stats.max_seconds = float(st.get("max_seconds", 0.0))
        s.stats.last_status = str(st.get("last_status", ""))
        s.stats.last_gap = st.get("last_gap")
        s.stats.fallbacks = int(st.get("fallbacks", 0))
        s.stats.optimal = int(st.get("optimal", 0))
        return s
