"""What the board shows, computed from the published plan (pure): beds per group and night, the
waiting list, and the difference a capacity change would make.

A part-time stay (PATHWAY-V2) holds a weekly pattern of nights: it is on a bed, and counted, on the
nights whose weekday is in its pattern only. A day-treatment group's places are used on working days
only: its weekends and holidays have no places and nobody on them.

Nothing here reads the live planning core: the inputs are the plan as published (`PlanView`), the
capacity per night and private copies of the open cases as of the same publish (see
`Published`), so that a re-plan running meanwhile is neither waited for nor seen half done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from services.scheduler.core.state import URGENCY_RANK, Case, Placement, case_from_json
from services.scheduler.core.waitlist import lapsing_soon, last_machtiging_start, start_limit, wait_code
from services.scheduler.views import (
    BedDay,
    BedEntry,
    CapacityChangeView,
    CapacityEffect,
    GroupBeds,
    MachtigingStatus,
    PlacementBrief,
    PlannedStart,
    PlanView,
    WaitingEntry,
)
from shared.kinds import WEEKDAYS, kinds_on
from shared.network import GroupInfo, NetworkIndex
from shared.workdays import WorkCalendar

EntryKind = Literal["stay", "planned", "timeout"]
ENTRY_ORDER: dict[str, int] = {"stay": 0, "planned": 1, "timeout": 2}
Change = Literal["moved", "cancelled", "new", "restaffed"]


@dataclass(frozen=True)
class BedStay:
    """A stay on a group as published: a bed on the nights [start, end), or for a part-time placement
    on those of its pattern's weekdays only."""

    case: str
    regular: bool  # a placement; else a time-out
    start: date
    end: date
    nights: tuple[str, ...] | None = None  # a part-time placement's weekday names; None: every night

    def holds_weekday(self, day: date) -> bool:
        """Whether the stay's pattern holds the night that begins on `day` (a stay of every night does)."""
        return self.nights is None or WEEKDAYS[day.weekday()] in self.nights


@dataclass
class Published:
    """What one publish of the plan holds for the board, built lazily from that publish's snapshot
    (`Planner._publish`); never changed after, so readers need no lock."""

    view: PlanView
    snapshot: dict[str, Any]
    capacity: dict[str, dict[int, int]]  # group -> day ordinal -> beds (the announced changes)
    _stays: dict[str, list[BedStay]] | None = field(default=None, repr=False)
    _open: dict[str, Case] | None = field(default=None, repr=False)

    def stays(self) -> dict[str, list[BedStay]]:
        """The plan's stays per group."""
        if self._stays is None:
            stays: dict[str, list[BedStay]] = {}
            for s in self.view.stays:
                stay = BedStay(
                    s.case,
                    s.type == "placement",
                    date.fromisoformat(s.start),
                    date.fromisoformat(s.end),
                    None if s.nights is None else in_week_order(s.nights),
                )
                stays.setdefault(s.group, []).append(stay)
            self._stays = stays
        return self._stays

    def open_cases(self) -> dict[str, Case]:
        """Private copies of the open cases (their placement and wait as published)."""
        if self._open is None:
            self._open = {
                raw["id"]: case_from_json(raw)
                for raw in self.snapshot.get("cases", [])
                if raw.get("status", "open") == "open"
            }
        return self._open


# --- beds per group and night -------------------------------------------------------------------

# Weekends and Dutch public holidays, for a caller that does not pass the network's own calendar.
DUTCH_CALENDAR = WorkCalendar()


def in_week_order(nights: Iterable[str]) -> tuple[str, ...]:
    """A pattern's weekday names, Monday first (unknown names left out)."""
    wanted = set(nights)
    return tuple(name for name in WEEKDAYS if name in wanted)


def part_time_group(info: GroupInfo) -> bool:
    """Whether the group's beds are shared by weekly night patterns (the kinds placed on it say so)."""
    return any(spec.part_time for spec in kinds_on(info.group.kind))


def group_beds(
    info: GroupInfo,
    capacity: Mapping[int, int],
    stays: Iterable[BedStay],
    first: date,
    days: int,
    today: date,
    shown: Callable[[str], bool],
    changes: list[CapacityChangeView],
    calendar: WorkCalendar | None = None,
) -> GroupBeds:
    """One group's nights in [first, first + days): capacity, occupation and who is on the beds
    (`shown(case)`: whether the case id may be shown; else the entry's case is null).

    A part-time stay is on the nights of its pattern only; a day group is in use on the working days
    of `calendar` (the network's; weekends and Dutch public holidays when None) only."""
    g = info.group
    working = (calendar or DUTCH_CALENDAR).is_working_day if g.working_days_only else None
    last = first + timedelta(days)
    entries: list[tuple[BedStay, BedEntry]] = []
    for s in stays:
        if s.start < last and s.end > first:
            kind: EntryKind = "timeout" if not s.regular else "stay" if s.start <= today else "planned"
            nights = None if s.nights is None else list(in_week_order(s.nights))
            entries.append((s, BedEntry(kind=kind, case=s.case if shown(s.case) else None, nights=nights)))
    entries.sort(key=lambda e: (ENTRY_ORDER[e[1].kind], e[0].start, e[0].end, e[1].case or ""))
    in_use = [working is None or working(first + timedelta(i)) for i in range(days)]
    on: list[list[BedEntry]] = [[] for _ in range(days)]
    regular, timeouts = [0] * days, [0] * days
    for s, entry in entries:
        counts = timeouts if entry.kind == "timeout" else regular
        for i in range(max((s.start - first).days, 0), min((s.end - first).days, days)):
            if in_use[i] and s.holds_weekday(first + timedelta(i)):
                on[i].append(entry)
                counts[i] += 1
    nights_out = []
    for i in range(days):
        day = first + timedelta(i)
        beds = capacity.get(day.toordinal(), g.beds) if in_use[i] else 0
        kept = min(g.timeout_beds, beds)
        nights_out.append(
            BedDay(
                date=day,
                capacity=beds,
                timeout_capacity=kept,
                occupied=regular[i],
                timeouts=timeouts[i],
                free=max(0, min(beds - kept - regular[i], beds - regular[i] - timeouts[i])),
                timeout_free=max(0, beds - regular[i] - timeouts[i]),
                entries=on[i],
                in_use=in_use[i],
            )
        )
    return GroupBeds(
        group=g.id,
        kind=g.kind,
        location=info.location.id,
        region=info.region,
        beds=g.beds,
        timeout_beds=g.timeout_beds,
        days=nights_out,
        capacity_changes=changes,
        day_places=g.working_days_only,
        part_time=part_time_group(info),
    )


# --- the waiting list ---------------------------------------------------------------------------


def not_started(case: Case, today: date) -> bool:
    """Open, and no placement started on or before today (waiting, or planned to start later)."""
    return case.open and (case.placement is None or case.placement.start > today)


def waiting_entry(net: NetworkIndex, case: Case, today: date) -> WaitingEntry:
    """A case of the waiting list as of `today` (see `not_started`)."""
    p = case.placement
    since = max(case.referred_at.date(), case.earliest_start)
    last_start = last_machtiging_start(case) if case.needs_machtiging else None
    planned = None
    shown = p or case.expected  # promised, or expected and not promised yet
    if shown is not None:
        planned = PlannedStart(
            group=shown.group,
            location=net.groups[shown.group].location.id,
            start=shown.start,
            mst_therapist=shown.therapist,
            trajectbegeleider=shown.trajectbegeleider,
        )
    if p is not None:
        reason = f"promised start {p.start} on {p.group}"
        expected: date | None = p.start
    elif case.expected is not None:
        reason, expected = (
            f"expected start {case.expected.start} on {case.expected.group}",
            case.expected.start,
        )
    elif case.waiting is not None:
        reason, expected = case.waiting.reason, case.waiting.expected_start
    else:
        reason, expected = "not planned yet: waiting for the next re-plan", None
    return WaitingEntry(
        case=case.id,
        kind=case.kind,
        urgency=case.urgency,
        home_region=case.home_region,
        referrer=case.referrer,
        referred_at=case.referred_at,
        earliest_start=case.earliest_start,
        waiting_since=since,
        days_waiting=max((today - since).days, 0),
        state="waiting" if p is None else "planned",
        planned=planned,
        expected_start=expected,
        code=wait_code(case),
        reason=reason,
        start_limit=start_limit(case, today),
        machtiging=MachtigingStatus(
            needed=case.needs_machtiging,
            granted=bool(case.machtigingen),
            last_start_day=last_start,
            lapsing_soon=case.needs_machtiging
            and lapsing_soon(last_start, shown.start if shown is not None else None, today),
        ),
    )


def waiting_list(net: NetworkIndex, cases: Iterable[Case], today: date) -> list[WaitingEntry]:
    """The entries of `cases` that have not started, crisis before urgent before normal, then the
    longest waiting first (then the earliest referred)."""
    found = [(case, waiting_entry(net, case, today)) for case in cases if not_started(case, today)]
    found.sort(
        key=lambda item: (
            URGENCY_RANK.get(item[0].urgency, len(URGENCY_RANK)),
            -item[1].days_waiting,
            item[0].referred_at,
            item[0].id,
        )
    )
    return [entry for _, entry in found]


# --- what a capacity change would do ------------------------------------------------------------


def brief(p: Placement | None) -> PlacementBrief | None:
    if p is None:
        return None
    return PlacementBrief(
        group=p.group,
        start=p.start,
        end=p.end,
        mst_therapist=p.therapist,
        trajectbegeleider=p.trajectbegeleider,
        nights=None if p.nights is None else list(in_week_order(p.nights)),
    )


def change_of(before: Placement | None, after: Placement | None) -> Change | None:
    """How a case's placement changed between two plans; None when it did not."""
    if before is None:
        return None if after is None else "new"
    if after is None:
        return "cancelled"
    if (before.group, before.start, before.end) != (after.group, after.start, after.end):
        return "moved"
    if before.nights is not None and after.nights is not None and set(before.nights) != set(after.nights):
        return "moved"  # a part-time youth on other nights of the week
    if (before.therapist, before.trajectbegeleider) != (after.therapist, after.trajectbegeleider):
        return "restaffed"
    return None


def capacity_effects(
    before: Mapping[str, Placement | None], after: Mapping[str, Placement | None]
) -> list[CapacityEffect]:
    """Every case whose placement differs between the two plans, by case id."""
    out = []
    for case in sorted(set(before) | set(after)):
        b, a = before.get(case), after.get(case)
        change = change_of(b, a)
        if change is not None:
            out.append(CapacityEffect(case=case, change=change, before=brief(b), after=brief(a)))
    return out
