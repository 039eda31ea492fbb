"""Stage 2 of a re-plan: startgesprekken over the fixed placements (rule 8).

Each new or changed placement gets one meeting on a 30-minute grid: on a working day from the
start up to the N-th working day after it, inside working hours, at least one working day after
the announcement (`Calendars.earliest`: PATHWAY-V2's notice rule, so no meeting is ever set or
moved at short notice, and none changes on its own day), with the therapist, the
trajectbegeleider and the referrer, none of them busy or already in another meeting. When
requests share an attendee a small CP-SAT model picks the slots jointly (earliest first);
otherwise, and as the fallback, each request takes its earliest free slot.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ortools.sat.python import cp_model

from shared.network import NetworkIndex

GRID_MINUTES = 30
Block = tuple[datetime, datetime]


@dataclass(frozen=True)
class MeetingRequest:
    case: str
    start_day: date
    attendees: tuple[str, ...]
    place: str


class Calendars:
    """Who is unavailable when: busy blocks of the network plus meetings already planned."""

    def __init__(self, net: NetworkIndex) -> None:
        self.net = net
        s = net.settings
        self.within = s.startgesprek_within_working_days
        self.minutes = s.meeting_minutes
        self.opens, self.closes = s.working_hours
        self._windows: dict[date, list[date]] = {}
        self._day_slots: dict[date, list[Block]] = {}  # every slot of a day on the grid
        self.busy: dict[tuple[str, date], list[Block]] = {}
        # Staff changes: person -> [from, until) days they attend no meeting (None: for good).
        self.absent: dict[str, list[tuple[date, date | None]]] = {}
        for person, blocks in net.busy.items():
            for a, b in blocks:
                day = a.date()
                while day <= b.date():
                    self.busy.setdefault((person, day), []).append((a, b))
                    day += timedelta(1)

    def earliest(self, now: datetime) -> datetime:
        """The first moment a meeting announced `now` may start: one working day later."""
        return self.net.calendar.one_working_day_after(now, self.opens, self.closes)

    def day_slots(self, day: date, earliest: datetime) -> list[Block]:
        """The grid's slots of `day` inside working hours that start at `earliest` or later."""
        if day < earliest.date():
            return []
        every = self._day_slots.get(day)
        if every is None:
            every = self._day_slots[day] = self._grid(day)
        if day > earliest.date():
            return every
        return [slot for slot in every if slot[0] >= earliest]

    def _grid(self, day: date) -> list[Block]:
        first = datetime.combine(day, self.opens)
        last = datetime.combine(day, self.closes) - timedelta(minutes=self.minutes)
        out = []
        t = first
        while t <= last:
            out.append((t, t + timedelta(minutes=self.minutes)))
            t += timedelta(minutes=GRID_MINUTES)
        return out

    def window(self, start_day: date) -> list[date]:
        days = self._windows.get(start_day)
        if days is None:
            days = self._windows[start_day] = self.net.calendar.startgesprek_days(start_day, self.within)
        return days

    def is_absent(self, person: str, day: date) -> bool:
        return any(a <= day and (b is None or day < b) for a, b in self.absent.get(person, ()))

    def free(self, person: str, slot: Block, taken: dict[tuple[str, date], list[Block]]) -> bool:
        a, b = slot
        day = a.date()
        if person in self.absent and self.is_absent(person, day):
            return False
        for x, y in self.busy.get((person, day), ()):
            if a < y and x < b:
                return False
        for x, y in taken.get((person, day), ()):
            if a < y and x < b:
                return False
        return True

    def slots(
        self, req: MeetingRequest, earliest: datetime, taken: dict[tuple[str, date], list[Block]]
    ) -> list[Block]:
        return [
            slot
            for day in self.window(req.start_day)
            for slot in self.day_slots(day, earliest)
            if all(self.free(p, slot, taken) for p in req.attendees)
        ]

    def first_free(
        self,
        days: list[date],
        choices: list[tuple[str, ...]],
        earliest: datetime,
        taken: dict[tuple[str, date], list[Block]],
    ) -> tuple[Block, tuple[str, ...]] | None:
        """The earliest slot on `days` where one of the attendee `choices` (in order of preference)
        is free: the kennismakingsgesprek, planned at referral on its own."""
        for day in days:
            for slot in self.day_slots(day, earliest):
                for attendees in choices:
                    if all(self.free(p, slot, taken) for p in attendees):
                        return slot, attendees
        return None


def taken_index(meetings: list[tuple[tuple[str, ...], Block]]) -> dict[tuple[str, date], list[Block]]:
    out: dict[tuple[str, date], list[Block]] = defaultdict(list)
    for attendees, block in meetings:
        for p in attendees:
            out[(p, block[0].date())].append(block)
    return out


def plan_meetings(
    cal: Calendars,
    requests: list[MeetingRequest],
    now: datetime,
    taken: dict[tuple[str, date], list[Block]],
    *,
    optimise: bool,
    time_limit_s: float = 0.5,
    seed: int = 7,
    workers: int = 2,
) -> tuple[dict[str, Block], list[str]]:
    """Slots for the requests (case -> block) announced `now`, and the cases that found none."""
    requests = sorted(requests, key=lambda r: (r.start_day, r.case))
    earliest = cal.earliest(now)
    options = {r.case: cal.slots(r, earliest, taken) for r in requests}
    counts: dict[str, int] = defaultdict(int)
    for r in requests:
        for p in r.attendees:
            counts[p] += 1
    shared = any(n > 1 for n in counts.values())
    if optimise and shared and len(requests) > 1:
        found = _solve(requests, options, time_limit_s, seed, workers)
        if found is not None:
            return found, [r.case for r in requests if r.case not in found]
    return _first_fit(cal, requests, options, taken)


def _first_fit(
    cal: Calendars,
    requests: list[MeetingRequest],
    options: dict[str, list[Block]],
    taken: dict[tuple[str, date], list[Block]],
) -> tuple[dict[str, Block], list[str]]:
    mine: dict[tuple[str, date], list[Block]] = defaultdict(list)
    out: dict[str, Block] = {}
    failed = []
    for r in requests:
        for slot in options[r.case]:
            if all(cal.free(p, slot, mine) for p in r.attendees):
                out[r.case] = slot
                for p in r.attendees:
                    mine[(p, slot[0].date())].append(slot)
                break
        else:
            failed.append(r.case)
    return out, failed


def _solve(
    requests: list[MeetingRequest],
    options: dict[str, list[Block]],
    time_limit_s: float,
    seed: int,
    workers: int,
) -> dict[str, Block] | None:
    m = cp_model.CpModel()
    base = min(datetime.combine(r.start_day, datetime.min.time()) for r in requests)
    per_person: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
    chosen: dict[str, list[tuple[Block, cp_model.IntVar]]] = {}
    costs = []
    for r in requests:
        lits = []
        chosen[r.case] = []
        day0 = datetime.combine(r.start_day, datetime.min.time())
        for slot in options[r.case]:
            v = m.new_bool_var("")
            a = int((slot[0] - base).total_seconds() // 60)
            b = int((slot[1] - base).total_seconds() // 60)
            iv = m.new_optional_fixed_size_interval_var(a, b - a, v, "")
            for p in r.attendees:
                per_person[p].append(iv)
            lits.append(v)
            chosen[r.case].append((slot, v))
            # Early startgesprek: the cost grows with the time since the start day began.
            costs.append(int((slot[0] - day0).total_seconds() // 60 // GRID_MINUTES) * v)
        if lits:
            # Exactly one slot for every request that has any.
            m.add_exactly_one(lits)
    # No attendee in two meetings at once (busy blocks and fixed meetings are already excluded).
    for ivs in per_person.values():
        if len(ivs) > 1:
            m.add_no_overlap(ivs)
    m.minimize(sum(costs))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = workers
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None  # INFEASIBLE, MODEL_INVALID or UNKNOWN: the caller falls back to first fit
    return {case: slot for case, items in chosen.items() for slot, v in items if solver.boolean_value(v)}
