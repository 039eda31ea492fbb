"""Second-opinion check of a simulation report against its scenario (hard rules and KPIs, plain JSON)."""

from __future__ import annotations

import argparse
import calendar
import json
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from shared.kinds import KINDS, WEEKDAYS, KindSpec
from shared.network import DAY_GROUP
from shared.workdays import WorkCalendar

JSON = dict[str, Any]

# What differs by kind (residence, age range, default stay, court order, staff, time-out rule) is
# the spec's table, read from shared/kinds.py; every check on a report is the validator's own.
# Refusal reasons of a time-out request besides the kinds' own (a kind that never serves one).
TIMEOUT_REASONS = frozenset({"not_in_home_phase", "no_machtiging", "no_bed"})
ENDED = {"close": "closed", "withdraw": "withdrawn"}
# The notifications that announce (or re-announce) a meeting, by kind: what a meeting's notice counts from.
INVITES = {"startgesprek_invite": "startgesprek", "kennismaking_invite": "kennismaking"}
KENNISMAKING = "kennismaking"
# Roles of the people at a kennismakingsgesprek besides the referrer (PATHWAY-V2 "Meetings").
SUPERVISOR, TRAJECTBEGELEIDER = "mst_supervisor", "trajectbegeleider"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class Violation:
    rule: str
    case: str | None
    message: str


@dataclass
class ValidationResult:
    violations: list[Violation]
    kpis: dict[str, float | int]

    @property
    def ok(self) -> bool:
        return not self.violations


# ---------------------------------------------------------------------------- small helpers


def parse_date(value: object) -> date | None:
    """A strict `YYYY-MM-DD` date, or None."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_minute(value: object) -> datetime | None:
    """A strict `YYYY-MM-DDTHH:MM` local time, or None."""
    if not isinstance(value, str) or not _MINUTE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M")
    except ValueError:
        return None


def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic, the day clamped to the month's end (30 Nov + 3 = 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_on(birth_date: date, day: date) -> int:
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def _event_date(at: str) -> date:
    return date.fromisoformat(at[:10])


def _reason_code(reason: object) -> str:
    """The leading code of a refusal reason: "no_bed: all groups full" -> "no_bed"."""
    text = str(reason or "").strip()
    return re.split(r"[\s:;,(]", text, maxsplit=1)[0]


def _runs(days: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs (first, last) of sorted day ordinals."""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _any_after(stays: list[_Stay], announced: int | None) -> bool:
    """Whether a stay started after a capacity cut was announced (None: no cut that night).

    A cut never evicts a youth already staying when it is announced, so a night over the
    cut is only wrong when a stay that started later helps fill it.
    """
    return announced is None or any(s.start.toordinal() > announced for s in stays)


def _span(first: int, last: int, unit: str = "night") -> str:
    a, b = date.fromordinal(first), date.fromordinal(last)
    return f"{unit} {a}" if first == last else f"{unit}s {a}..{b}"


def _pct(part: int, whole: int, empty: float) -> float:
    """A percentage to 2 decimals; `empty` when there is nothing to count."""
    return round(100.0 * part / whole, 2) if whole else empty


# ---------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class _Group:
    id: str
    kind: str
    beds: int  # a day group's places
    timeout_beds: int
    location: str
    region: str

    @property
    def working_days_only(self) -> bool:
        """A day group: its places are used on working days only (nobody on weekends and holidays)."""
        return self.kind == DAY_GROUP

    @property
    def part_time(self) -> bool:
        """A group whose kinds hold weekly patterns of nights (PATHWAY-V2 part-time residence)."""
        return any(spec.part_time and spec.group_kind == self.kind for spec in KINDS.values())


@dataclass
class _Case:
    id: str
    kind: str
    birth_date: date | None
    home_region: str
    referrer: str
    referral_date: date
    earliest_start: date
    conflicts_with: tuple[str, ...]
    machtigingen: list[tuple[date, date]] = field(default_factory=list)
    referral_count: int = 1
    in_run: bool = True  # referred on or before the scenario's end date
    ends: list[tuple[int, str, date]] = field(default_factory=list)  # (order, close|withdraw, at)
    discharges: list[tuple[date, date]] = field(default_factory=list)  # (at date, date)
    discharge_times: list[str] = field(default_factory=list)  # `at` of each discharge, same order
    stay_days: int | None = None
    referral_at: str = ""  # the first referral's `at`, as written
    program_weeks: int | None = None
    nights_per_week: int | None = None
    current_therapist: str | None = None

    @property
    def close_date(self) -> date | None:
        return next((at for _, kind, at in self.ends if kind == "close"), None)

    @property
    def spec(self) -> KindSpec | None:
        """The kind's row of the kinds table; None for a kind it does not know."""
        return KINDS.get(self.kind)

    @property
    def needs_machtiging(self) -> bool:
        return self.spec is not None and self.spec.needs_machtiging

    @property
    def planned_days(self) -> int:
        """The stay the referral asks for through its kind's own field (`stay_days` or `program_weeks`)."""
        spec = self.spec
        if spec is None:
            return self.stay_days or 0
        return spec.stay_or_default(spec.requested_stay(self.stay_days, self.program_weeks))


@dataclass(frozen=True)
class _StaffChange:
    person: str
    first: date  # `from`
    until: date | None  # None: for good
    status: str  # absent | left
    at: datetime  # when it was announced

    @property
    def handover_day(self) -> date:
        """The latest day the person's running cases can have been handed over: its start, or its
        announcement when that came later."""
        return max(self.first, self.at.date())

    def covers(self, day: date) -> bool:
        return self.first <= day and (self.until is None or day < self.until)

    @property
    def label(self) -> str:
        return f"{self.person} is {self.status} from {self.first}" + (
            f" until {self.until}" if self.until else " for good"
        )


@dataclass(frozen=True)
class _Request:
    order: int
    case: str
    at: str
    day: date
    days: int
    in_run: bool  # made on or before the scenario's end date


@dataclass(frozen=True)
class _Stay:
    index: int
    case: str
    type: str  # placement | timeout
    group: _Group | None
    start: date
    end: date
    therapist: str | None
    trajectbegeleider: str | None
    kind: str | None = None  # version 2: the case's kind, as the report states it
    nights: object = None  # version 2: a part-time stay's weekly nights, as the report states them
    pattern: frozenset[int] | None = None  # the weekdays (0 = mon) of `nights`; None: every night

    @property
    def label(self) -> str:
        where = self.group.id if self.group else "an unknown group"
        return f"{self.type} of {self.case} on {where} from {self.start} to {self.end}"


@dataclass(frozen=True)
class _Meeting:
    index: int
    case: str
    meeting: str
    start: datetime
    end: datetime
    attendees: tuple[str, ...]
    place: str = ""

    @property
    def label(self) -> str:
        return f"{self.meeting} of {self.case} at {self.start:%Y-%m-%dT%H:%M}"


# ---------------------------------------------------------------------------- the validator


class _Validator:
    def __init__(self, scenario: JSON, report: JSON) -> None:
        self.violations: list[Violation] = []
        settings: JSON = scenario.get("settings") or {}
        self.first_day = date.fromisoformat(scenario["start"])
        self.last_day = date.fromisoformat(scenario["end"])
        self.within = int(settings.get("startgesprek_within_working_days", 3))
        self.meeting_minutes = int(settings.get("meeting_minutes", 90))
        hours = settings.get("working_hours") or ["09:00", "17:00"]
        self.day_opens, self.day_closes = time.fromisoformat(hours[0]), time.fromisoformat(hours[1])
        self.mst_days = 7 * int(settings.get("mst_weeks", 20))
        self.kennismaking_within = int(settings.get("kennismaking_within_working_days", 5))
        # PATHWAY-V2: a version 2 scenario owes every accepted referral a kennismakingsgesprek.
        self.v2 = int(scenario.get("scenario_version", 1)) >= 2
        self.calendar = WorkCalendar(date.fromisoformat(d) for d in settings.get("holidays", []))
        self._load_network(scenario)
        self._load_events(scenario.get("events") or [])
        self._load_report(report)

    def add(self, rule: str, case: str | None, message: str) -> None:
        self.violations.append(Violation(rule, case, message))

    # -- loading ---------------------------------------------------------------------------

    def _load_network(self, scenario: JSON) -> None:
        self.groups: dict[str, _Group] = {}
        for location in scenario.get("locations", []):
            for g in location.get("groups", []):
                # A day group has `places` (PATHWAY-V2): they are its beds for every count.
                self.groups[g["id"]] = _Group(
                    g["id"],
                    g["kind"],
                    int(g["places"] if g.get("places") is not None else g.get("beds", 0)),
                    int(g.get("timeout_beds", 0)),
                    location["id"],
                    location["region"],
                )
        self.people: dict[str, JSON] = {p["id"]: p for p in scenario.get("people", [])}
        self.travel: dict[tuple[str, str], int] = {}
        for a, b, minutes in scenario.get("travel_minutes", []):
            self.travel[(a, b)] = self.travel[(b, a)] = int(minutes)
        self.busy: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for block in scenario.get("busy", []):
            start, end = parse_minute(block["from"]), parse_minute(block["until"])
            if start and end:
                self.busy[block["person"]].append((start, end))

    def _load_events(self, raw_events: list[JSON]) -> None:
        # Sorted by `at`; equal times keep file order (a stable sort).
        events = sorted(raw_events, key=lambda e: str(e["at"]))
        self.cases: dict[str, _Case] = {}
        self.referral_events = 0
        self.requests: list[_Request] = []
        # (group, night ordinal) -> (beds, ordinal of the announcing event's date); later wins.
        self.capacity: dict[tuple[str, int], tuple[int, int]] = {}
        later_machtigingen: dict[str, list[tuple[date, date]]] = defaultdict(list)
        ends: dict[str, list[tuple[int, str, date]]] = defaultdict(list)
        discharges: dict[str, list[tuple[date, date]]] = defaultdict(list)
        discharge_times: dict[str, list[str]] = defaultdict(list)
        self.event_at: dict[int, str] = {}  # event order -> its `at`
        self.staff_changes: list[_StaffChange] = []
        self._loads: dict[str, list[tuple[int, int, str]]] | None = None  # see `loads`
        self.outcomes: list[tuple[bool, bool]] = []  # (at_home, day_activity) of closes in the run
        self.relapses: list[bool] = []  # `relapse` of follow-ups in the run
        for order, event in enumerate(events):
            kind, at = event["type"], str(event["at"])
            case = str(event.get("case", ""))
            # The run stops at the scenario's end: later events never happen in it.
            in_run = _event_date(at) <= self.last_day
            self.event_at[order] = at
            if kind == "referral":
                self.referral_events += int(in_run)
                if case in self.cases:
                    self.cases[case].referral_count += 1
                    continue
                self.cases[case] = self._case_of(event)
                self.cases[case].in_run = in_run
            elif kind == "machtiging":
                later_machtigingen[case].append(
                    (date.fromisoformat(event["valid_from"]), date.fromisoformat(event["valid_until"]))
                )
            elif kind == "timeout_request":
                day = _event_date(at)
                self.requests.append(_Request(order, case, at, day, int(event["days"]), in_run))
            elif kind in ("close", "withdraw"):
                ends[case].append((order, kind, _event_date(at)))
                outcome = event.get("outcome")
                if kind == "close" and isinstance(outcome, dict) and in_run:
                    self.outcomes.append((bool(outcome.get("at_home")), bool(outcome.get("day_activity"))))
            elif kind == "follow_up" and in_run:
                self.relapses.append(bool(event.get("relapse")))
            elif kind == "staff_change":
                until = event.get("until")
                self.staff_changes.append(
                    _StaffChange(
                        str(event["person"]),
                        date.fromisoformat(event["from"]),
                        date.fromisoformat(until) if until else None,
                        str(event.get("status")),
                        datetime.fromisoformat(at),
                    )
                )
            elif kind == "discharge":
                discharges[case].append((_event_date(at), date.fromisoformat(event["date"])))
                discharge_times[case].append(at)
            elif kind == "capacity":
                announced = _event_date(at).toordinal()
                first = date.fromisoformat(event["from"]).toordinal()
                until = date.fromisoformat(event["until"]).toordinal()
                beds = int(event["beds"])
                for night in range(first, until):
                    key = (event["group"], night)
                    before = self.capacity.get(key)
                    # Announcing the same beds again changes nothing: the first announcement
                    # still says since when new stays had to respect them.
                    if before is None or before[0] != beds:
                        self.capacity[key] = (beds, announced)
        for case_id, facts in self.cases.items():
            facts.machtigingen.extend(later_machtigingen.get(case_id, []))
            facts.ends = ends.get(case_id, [])
            facts.discharges = discharges.get(case_id, [])
            facts.discharge_times = discharge_times.get(case_id, [])

    @staticmethod
    def _case_of(event: JSON) -> _Case:
        machtiging = event.get("machtiging")
        at = _event_date(str(event["at"]))
        return _Case(
            id=event["case"],
            kind=event["kind"],
            birth_date=parse_date(event.get("birth_date")),
            home_region=event["home_region"],
            referrer=event["referrer"],
            referral_date=at,
            earliest_start=parse_date(event.get("earliest_start")) or at,
            conflicts_with=tuple(event.get("conflicts_with") or ()),
            stay_days=event.get("stay_days"),
            referral_at=str(event["at"]),
            program_weeks=event.get("program_weeks"),
            nights_per_week=event.get("nights_per_week"),
            current_therapist=event.get("current_therapist"),
            machtigingen=(
                [
                    (
                        date.fromisoformat(machtiging["valid_from"]),
                        date.fromisoformat(machtiging["valid_until"]),
                    )
                ]
                if machtiging
                else []
            ),
        )

    def _load_report(self, report: JSON) -> None:
        version = report.get("report_version", 1)
        if version not in (1, 2) or isinstance(version, bool):
            self.add("format", None, f"report_version must be 1 or 2, got {version!r}")
        self.raw_placements = 0
        self.stays: list[_Stay] = []
        for index, raw in enumerate(report.get("stays") or []):
            if raw.get("type") == "placement":
                self.raw_placements += 1
            stay = self._stay_of(index, raw)
            if stay is not None:
                self.stays.append(stay)
        self.placements: dict[str, list[_Stay]] = defaultdict(list)
        self.timeouts: dict[str, list[_Stay]] = defaultdict(list)
        for stay in self.stays:
            (self.placements if stay.type == "placement" else self.timeouts)[stay.case].append(stay)
        self.meetings: list[_Meeting] = []
        for index, raw in enumerate(report.get("meetings") or []):
            meeting = self._meeting_of(index, raw)
            if meeting is not None:
                self.meetings.append(meeting)
        self.waiting: list[JSON] = list(report.get("waiting") or [])
        self.notifications: list[JSON] = list(report.get("notifications") or [])
        self.report_kpis: JSON = dict(report.get("kpis") or {})
        self.rejected: list[JSON] = list(report.get("rejected") or [])
        # (case, event type, at) -> reason code, of every event the report lists as refused
        self.refused: dict[tuple[str, str, str], str] = {
            (str(r.get("case")), str(r.get("event")), str(r.get("at"))): _reason_code(r.get("reason"))
            for r in self.rejected
        }

    def _stay_of(self, index: int, raw: JSON) -> _Stay | None:
        case = str(raw.get("case"))
        where = f"stays[{index}] ({raw.get('type')} of {case})"
        start, end = parse_date(raw.get("start")), parse_date(raw.get("end"))
        if start is None or end is None:
            self.add(
                "format",
                case,
                f"{where}: start and end must be dates YYYY-MM-DD, "
                f"got {raw.get('start')!r} and {raw.get('end')!r}",
            )
            return None
        if end <= start:
            self.add("format", case, f"{where}: end {end} is not after start {start}")
            return None
        if raw.get("type") not in ("placement", "timeout"):
            self.add("format", case, f"{where}: type must be placement or timeout")
            return None
        group = self.groups.get(str(raw.get("group")))
        if group is None:
            self.add("start_bounds", case, f"{where}: group {raw.get('group')!r} does not exist")
        elif raw.get("location") != group.location:
            self.add(
                "start_bounds",
                case,
                f"{where}: location {raw.get('location')!r} is not "
                f"the location {group.location} of group {group.id}",
            )
        nights = raw.get("nights")
        pattern = (
            frozenset(WEEKDAYS.index(n) for n in nights if isinstance(n, str) and n in WEEKDAYS)
            if isinstance(nights, list)
            else None
        )
        kind = raw.get("kind")
        return _Stay(
            index,
            case,
            raw["type"],
            group,
            start,
            end,
            raw.get("mst_therapist"),
            raw.get("trajectbegeleider"),
            None if kind is None else str(kind),
            nights,
            pattern,
        )

    def _meeting_of(self, index: int, raw: JSON) -> _Meeting | None:
        case = str(raw.get("case"))
        start, end = parse_minute(raw.get("start")), parse_minute(raw.get("end"))
        if start is None or end is None:
            self.add(
                "format",
                case,
                f"meetings[{index}] ({raw.get('meeting')} of {case}): start "
                f"and end must be times YYYY-MM-DDTHH:MM, got {raw.get('start')!r} and "
                f"{raw.get('end')!r}",
            )
            return None
        attendees = tuple(str(a) for a in raw.get("attendees") or ())
        return _Meeting(
            index, case, str(raw.get("meeting")), start, end, attendees, str(raw.get("place", ""))
        )

    # -- facts derived from the report -----------------------------------------------------

    def beds_on(self, group: _Group, night: int) -> tuple[int, int | None]:
        """Beds of a group on a night and the date ordinal the governing cut was announced."""
        beds, announced = self.capacity.get((group.id, night), (group.beds, None))
        return beds, announced

    def machtiging_for(self, stay: _Stay, facts: _Case) -> tuple[date, date] | None:
        """The first machtiging (referral's, then events in order) that allows the stay."""
        for valid_from, valid_until in facts.machtigingen:
            if valid_from <= stay.start and stay.end <= valid_until + timedelta(1):
                if stay.type == "timeout" or stay.start <= add_months(valid_from, 3):
                    return valid_from, valid_until
        return None

    def wait_days(self, stay: _Stay, facts: _Case) -> int:
        ready = max(facts.referral_date, facts.earliest_start)
        if facts.needs_machtiging:
            machtiging = self.machtiging_for(stay, facts)
            if machtiging is not None:
                ready = max(ready, machtiging[0])
        return (stay.start - ready).days

    def load_end(self, stay: _Stay) -> date:
        """The day a placement's case stops loading its staff (rule 7): mst_weeks on, or its close."""
        end = stay.start + timedelta(self.mst_days)
        facts = self.cases.get(stay.case)
        close = facts.close_date if facts else None
        return end if close is None else min(end, close)

    def handover_days(self, stay: _Stay, role: str, person: str, region: str | None) -> list[date]:
        """Days on which the placement's `role` may have passed to `person` (PATHWAY-V2 staff changes).

        The report names only a case's final therapist and trajectbegeleider. Each staff change in the
        run of another person of that role serving `region` may have handed the case over, at the
        latest on its handover day; only those days while the case loads its staff count.
        """
        days = []
        end = self.load_end(stay)
        for change in self.staff_changes:
            before = self.people.get(change.person)
            if change.person == person or before is None or change.at.date() > self.last_day:
                continue
            if before.get("role") != role or (region is not None and region not in before.get("regions", [])):
                continue
            if stay.start < change.handover_day < end:
                days.append(change.handover_day)
        return days

    def successor_had_room(self, change: _StaffChange, stay: _Stay, role: str, region: str | None) -> bool:
        """Whether someone could have taken the case over: a person of the role serving the region,
        not the one who left nor away then, carrying fewer than max_cases for the rest of the load.
        When nobody could, keeping the person breaks no rule a plan can keep (caseloads stay within
        max_cases); the scheduler reports it as a refused staff change for the coordinators."""
        first, end = change.handover_day, self.load_end(stay)
        for person_id, person in self.people.items():
            if person_id == change.person or person.get("role") != role:
                continue
            if region is not None and region not in person.get("regions", []):
                continue
            away = any(
                other.person == person_id
                and other.first < end
                and (other.until is None or first < other.until)
                for other in self.staff_changes
            )
            if not away and self.has_room(person_id, first, end):
                return True
        return False

    def stood_in(self, attendee: str | None, final: str | None, day: date) -> bool:
        """Whether `attendee` may have acted on `day` for a case whose final person is `final`: a person
        of the same role whose staff change handed their cases over only after that day."""
        if attendee is None or final is None or attendee == final:
            return False
        a, b = self.people.get(attendee), self.people.get(final)
        if a is None or b is None or a.get("role") != b.get("role"):
            return False
        return any(
            c.person == attendee and c.handover_day > day and c.at.date() <= self.last_day
            for c in self.staff_changes
        )

    # -- rules -----------------------------------------------------------------------------

    def run(self) -> ValidationResult:
        self._drop_refused_ends()
        self.check_beds_and_conflicts()
        for stay in self.stays:
            self.check_stay(stay)
        self.check_caseload()
        self.bad_meetings = self._double_booked_or_busy()
        self.check_startgesprek()
        self.check_kennismaking()
        self.check_timeouts()
        self.check_accounting()
        self.check_meeting_notice()
        self.check_staff_changes()
        return ValidationResult(self.violations, self.kpis())

    def _drop_refused_ends(self) -> None:
        """A refused withdraw (already_started) or close ends nothing; a refusal must be true."""
        for case_id, facts in self.cases.items():
            kept = []
            for order, kind, at in facts.ends:
                reason = self.refused.get((case_id, kind, self.event_at[order]))
                if reason is None:
                    kept.append((order, kind, at))
                    continue
                started = any(p.start <= at for p in self.placements.get(case_id, []))
                if kind == "withdraw" and reason == "already_started" and not started:
                    self.add(
                        "accounting",
                        case_id,
                        f"the withdraw at {self.event_at[order]} is refused as already_started, "
                        "but no placement had started",
                    )
            facts.ends = kept

    def check_beds_and_conflicts(self) -> None:
        # Rule 1 and 6, and PATHWAY-V2's day places and part-time nights: one pass filling
        # (group, day ordinal) -> stays, then per-day counts. A stay holds its place on every night
        # of [start, end); on a day group on the working days of it; with a weekly pattern of
        # nights on the nights whose weekday the pattern holds.
        occupants: dict[tuple[str, int], list[_Stay]] = defaultdict(list)
        for stay in self.stays:
            for day in self._held_days(stay):
                occupants[(stay.group.id if stay.group else "", day)].append(stay)
        over: dict[tuple[str, str], list[int]] = defaultdict(list)  # (group, what) -> days
        example: dict[tuple[str, str], str] = {}
        clashes: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        conflicts = self._conflict_pairs()
        rule_of = {group_id: self._capacity_rule(group) for group_id, group in self.groups.items()}
        for (group_id, night), stays in occupants.items():
            group = self.groups[group_id]
            beds, announced = self.beds_on(group, night)
            if rule_of[group_id] != "capacity":
                # No time-out beds on these groups: every stay counts against the places or beds.
                if len(stays) > beds and _any_after(stays, announced):
                    over[(group_id, "all")].append(night)
                    example.setdefault(
                        (group_id, "all"),
                        f"{len(stays)} youths for {beds} {'places' if group.working_days_only else 'beds'} "
                        f"on {date.fromordinal(night)}: " + ", ".join(sorted(s.case for s in stays)),
                    )
            else:
                regular = [s for s in stays if s.type == "placement"]
                regular_limit = max(0, beds - group.timeout_beds)
                if len(regular) > regular_limit and _any_after(regular, announced):
                    over[(group_id, "regular")].append(night)
                    example.setdefault(
                        (group_id, "regular"),
                        f"{len(regular)} placements for "
                        f"{regular_limit} regular beds on {date.fromordinal(night)}: "
                        + ", ".join(sorted(s.case for s in regular)),
                    )
                if len(stays) > beds and _any_after(stays, announced):
                    over[(group_id, "all")].append(night)
                    example.setdefault(
                        (group_id, "all"),
                        f"{len(stays)} stays for {beds} beds on "
                        f"{date.fromordinal(night)}: " + ", ".join(sorted(s.case for s in stays)),
                    )
            if conflicts and len(stays) > 1:
                cases = sorted({s.case for s in stays})
                for i, a in enumerate(cases):
                    for b in cases[i + 1 :]:
                        if (a, b) in conflicts:
                            clashes[(group_id, a, b)].append(night)
        for (group_id, what), nights in sorted(over.items()):
            group = self.groups[group_id]
            rule = rule_of[group_id]
            unit = "day" if group.working_days_only else "night"
            for first, last in _runs(sorted(nights)):
                if rule == "day_places":
                    where = f"day group {group_id} is over its places on working {_span(first, last, unit)}"
                elif rule == "part_time_nights":
                    where = f"part-time group {group_id} is over its beds on {_span(first, last, unit)}"
                else:
                    where = (
                        f"group {group_id} is over its "
                        f"{'regular (beds - timeout_beds)' if what == 'regular' else 'total'} "
                        f"capacity on {_span(first, last, unit)}"
                    )
                self.add(rule, None, f"{where} ({example[(group_id, what)]})")
        for (group_id, a, b), nights in sorted(clashes.items()):
            unit = "day" if self.groups[group_id].working_days_only else "night"
            for first, last in _runs(sorted(nights)):
                self.add(
                    "conflicts",
                    a,
                    f"conflicting cases {a} and {b} share group {group_id} on {_span(first, last, unit)}",
                )

    def _held_days(self, stay: _Stay) -> list[int]:
        """The day ordinals on which a stay holds a place of its group (see check_beds_and_conflicts)."""
        if stay.group is None:
            return []
        days = range(stay.start.toordinal(), stay.end.toordinal())
        if stay.group.working_days_only:
            return [d for d in days if self.calendar.is_working_day(date.fromordinal(d))]
        if stay.pattern is not None and stay.group.part_time:
            return [d for d in days if date.fromordinal(d).weekday() in stay.pattern]
        return list(days)

    @staticmethod
    def _capacity_rule(group: _Group) -> str:
        """The rule a group's count falls under: day places, part-time nights or beds (rule 1)."""
        if group.working_days_only:
            return "day_places"
        if group.part_time:
            return "part_time_nights"
        return "capacity"

    def _conflict_pairs(self) -> set[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        for facts in self.cases.values():
            for other in facts.conflicts_with:
                if other != facts.id:
                    a, b = sorted((facts.id, other))
                    pairs.add((a, b))
        return pairs

    def check_stay(self, stay: _Stay) -> None:
        facts = self.cases.get(stay.case)
        if facts is None:
            return  # reported under accounting
        group = stay.group
        # Version 2: a stay states its case's kind.
        if stay.kind is not None and stay.kind != facts.kind:
            self.add(
                "stay_kind",
                stay.case,
                f"{stay.label} states kind {stay.kind}, the referral's is {facts.kind}",
            )
        self._check_nights(stay, facts)
        # Rule 2: kind of group.
        if group is not None:
            spec = facts.spec
            wanted = spec.group_kind if spec else None
            timeout_kind = (spec.timeout_group_kind if spec else None) or "closed"
            if stay.type == "timeout" and group.kind != timeout_kind:
                self.add(
                    "group_kind",
                    stay.case,
                    f"{stay.label}: a time-out must be on a {timeout_kind} group, {group.id} is {group.kind}",
                )
            elif stay.type == "placement" and wanted is not None and group.kind != wanted:
                self.add(
                    "group_kind",
                    stay.case,
                    f"{stay.label}: a {facts.kind} case needs a {wanted} group, {group.id} is {group.kind}",
                )
        # Rule 3: machtiging.
        if facts.needs_machtiging and self.machtiging_for(stay, facts) is None:
            self.add("machtiging", stay.case, f"{stay.label}: {self._why_no_machtiging(stay, facts)}")
        # Rule 4: start bounds.
        if stay.start < facts.referral_date:
            self.add(
                "start_bounds",
                stay.case,
                f"{stay.label} starts before the referral arrived on {facts.referral_date}",
            )
        if stay.start < facts.earliest_start:
            self.add(
                "start_bounds", stay.case, f"{stay.label} starts before earliest_start {facts.earliest_start}"
            )
        if facts.needs_machtiging and facts.machtigingen:
            first_valid = min(valid_from for valid_from, _ in facts.machtigingen)
            if stay.start < first_valid:
                self.add(
                    "start_bounds",
                    stay.case,
                    f"{stay.label} starts before its machtiging is valid (valid_from {first_valid})",
                )
        if stay.type == "placement" and stay.start > self.last_day:
            self.add(
                "start_bounds",
                stay.case,
                f"{stay.label} starts after the scenario end "
                f"{self.last_day}; such a case is waiting, not a stay",
            )
        if group is not None and (facts.home_region, group.region) not in self.travel:
            if facts.home_region != group.region:
                self.add(
                    "start_bounds",
                    stay.case,
                    f"{stay.label}: region {group.region} is not "
                    f"reachable from home region {facts.home_region}",
                )
        if stay.type == "placement":
            self._check_age(stay, facts)
            self._check_staff(stay, facts)
            self._check_length(stay, facts)
        else:
            placement = next(iter(self.placements.get(stay.case, [])), None)
            # A time-out before a handover names the person who handed the case over later on.
            if placement is not None and not all(
                now == then or self.stood_in(now, then, stay.start)
                for now, then in (
                    (stay.therapist, placement.therapist),
                    (stay.trajectbegeleider, placement.trajectbegeleider),
                )
            ):
                self.add(
                    "staffing",
                    stay.case,
                    f"{stay.label}: a time-out repeats the placement's "
                    f"therapist {placement.therapist} and trajectbegeleider "
                    f"{placement.trajectbegeleider}, got {stay.therapist} and "
                    f"{stay.trajectbegeleider}",
                )

    def _why_no_machtiging(self, stay: _Stay, facts: _Case) -> str:
        if not facts.machtigingen:
            return "the case has no machtiging"
        reasons = []
        for valid_from, valid_until in facts.machtigingen:
            span = f"{valid_from}..{valid_until}"
            if stay.start < valid_from:
                reasons.append(f"{span} starts later")
            elif stay.end > valid_until + timedelta(1):
                reasons.append(f"{span} ends before the stay")
            else:
                reasons.append(f"{span} lapsed unexecuted after {add_months(valid_from, 3)}")
        return "no machtiging covers the stay (" + "; ".join(reasons) + ")"

    def _check_nights(self, stay: _Stay, facts: _Case) -> None:
        # PATHWAY-V2: a part-time placement holds `nights`, exactly the referral's nights_per_week
        # distinct weekday names; every other stay holds every night (or working day): no pattern.
        spec = facts.spec
        if spec is None:
            return
        if not spec.part_time or stay.type != "placement":
            if stay.nights is not None:
                self.add(
                    "part_time_nights",
                    stay.case,
                    f"{stay.label}: a {facts.kind} {stay.type} holds no weekly pattern, "
                    f"got nights {stay.nights!r}",
                )
            return
        nights = stay.nights
        names = " ".join(WEEKDAYS)
        if not isinstance(nights, list) or not all(isinstance(n, str) for n in nights):
            self.add(
                "part_time_nights",
                stay.case,
                f"{stay.label}: a {facts.kind} placement needs nights, a list of weekday names ({names}); "
                f"got {nights!r}",
            )
            return
        problems = []
        wrong = [n for n in nights if n not in WEEKDAYS]
        if wrong:
            problems.append(f"not weekday names ({names}): {', '.join(map(repr, wrong))}")
        if len(set(nights)) != len(nights):
            problems.append("a night is named twice")
        least, most = spec.nights_per_week or (1, 7)
        wanted = facts.nights_per_week
        if wanted is not None and len(nights) != wanted:
            problems.append(f"{len(nights)} nights, the referral asks {wanted} a week")
        elif wanted is None and not least <= len(nights) <= most:
            problems.append(f"{len(nights)} nights is outside {least}-{most} a week")
        for problem in problems:
            self.add("part_time_nights", stay.case, f"{stay.label} with nights {nights}: {problem}")

    def _check_length(self, stay: _Stay, facts: _Case) -> None:
        # SCENARIO.md: a placement lasts stay_days (or the kind's default) unless a discharge
        # counts: it arrives while the stay runs and is dated after the start; then it ends then.
        # PATHWAY-V2: a kind measured in weeks lasts program_weeks * 7 days (or its default).
        planned = stay.start + timedelta(facts.planned_days)
        end = planned
        for (at, day), stamp in sorted(zip(facts.discharges, facts.discharge_times, strict=True)):
            if at > self.last_day or (stay.case, "discharge", stamp) in self.refused:
                continue
            if stay.start <= at < end and day > stay.start:
                end = day
        if stay.end != end:
            weeks = facts.spec is not None and facts.spec.stay_in_weeks
            self.add(
                "program_length" if weeks else "stay_length",
                stay.case,
                f"{stay.label} ends {stay.end}; its planned end {planned}"
                + (f" (a programme of {facts.planned_days // 7} weeks)" if weeks else "")
                + f" and the discharges that count make it {end}",
            )

    def _check_age(self, stay: _Stay, facts: _Case) -> None:
        # Rule 5.
        low, high = (facts.spec.min_age, facts.spec.max_age) if facts.spec else (0, 200)
        if facts.birth_date is None:
            self.add("age", stay.case, f"{stay.label}: the referral has no valid birth_date")
            return
        age = age_on(facts.birth_date, stay.start)
        if not low <= age <= high:
            self.add(
                "age", stay.case, f"{stay.label}: age {age} at start is outside {low}-{high} for {facts.kind}"
            )

    def _check_staff(self, stay: _Stay, facts: _Case) -> None:
        # Rule 7, first half: the right people for the regions, as many as the kind needs.
        spec = facts.spec
        needs = [
            (
                "mst_therapist",
                spec is None or spec.needs_mst_therapist,
                stay.therapist,
                facts.home_region,
                "the home region",
            ),
            (
                "trajectbegeleider",
                spec is None or spec.needs_trajectbegeleider,
                stay.trajectbegeleider,
                stay.group.region if stay.group else None,
                "the location's region",
            ),
        ]
        for role, needed, person_id, region, which in needs:
            if not needed:
                if person_id:
                    self.add("staffing", stay.case, f"{stay.label}: a {facts.kind} case has no {role}")
                continue
            person = self.people.get(person_id or "")
            if person is None:
                self.add("staffing", stay.case, f"{stay.label}: {role} {person_id!r} is not a known person")
            elif person.get("role") != role:
                self.add(
                    "staffing",
                    stay.case,
                    f"{stay.label}: {person_id} has role {person.get('role')}, not {role}",
                )
            elif region is not None and region not in person.get("regions", []):
                self.add(
                    "staffing", stay.case, f"{stay.label}: {role} {person_id} does not serve {which} {region}"
                )

    def check_caseload(self) -> None:
        # Rule 7, second half: load from placement start for mst_weeks or until the close.
        for person_id, intervals in sorted(self.loads().items()):
            person = self.people.get(person_id)
            if person is None or person.get("max_cases") is None:
                continue
            limit = int(person["max_cases"])
            points = sorted(
                [(start, 1, case) for start, _, case in intervals]
                + [(end, -1, case) for _, end, case in intervals]
            )  # at equal days the ends (-1) sort first: an end date is free again
            active: set[str] = set()
            for day, delta, case in points:
                if delta < 0:
                    active.discard(case)
                    continue
                active.add(case)
                if len(active) == limit + 1:
                    self.add(
                        "caseload",
                        case,
                        f"{person_id} carries {len(active)} cases from "
                        f"{date.fromordinal(day)}, above max_cases {limit}: " + ", ".join(sorted(active)),
                    )

    def has_room(self, person_id: str, first: date, end: date) -> bool:
        """Whether the person carries fewer than max_cases cases on every day of [first, end)."""
        person = self.people.get(person_id)
        if person is None or person.get("max_cases") is None:
            return False
        limit = int(person["max_cases"])
        intervals = self.loads().get(person_id, [])
        for day in range(first.toordinal(), end.toordinal()):
            if sum(a <= day < b for a, b, _ in intervals) >= limit:
                return False
        return True

    def loads(self) -> dict[str, list[tuple[int, int, str]]]:
        """Per person, the (first ordinal, end ordinal, case) of the cases they carry. Every kind
        counts, with the staff it has. A person the case may have been handed over to (PATHWAY-V2
        staff changes) is only sure to carry it from the last day it could have passed."""
        if self._loads is not None:
            return self._loads
        loads: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for case_id, placements in self.placements.items():
            facts = self.cases.get(case_id)
            stay = placements[0]
            end = self.load_end(stay)
            if end <= stay.start:
                continue
            home = facts.home_region if facts else None
            staff = (
                (stay.therapist, "mst_therapist", home),
                (stay.trajectbegeleider, "trajectbegeleider", stay.group.region if stay.group else None),
            )
            seen: set[str] = set()
            for person_id, role, region in staff:
                if not person_id or person_id in seen:
                    continue
                seen.add(person_id)
                begin = max([stay.start, *self.handover_days(stay, role, person_id, region)])
                loads[person_id].append((begin.toordinal(), end.toordinal(), case_id))
        self._loads = dict(loads)
        return self._loads

    def check_startgesprek(self) -> None:
        # Rule 8 (the double-booked and busy meetings are found first, in `bad_meetings`).
        by_case: dict[str, list[_Meeting]] = defaultdict(list)
        for meeting in self.meetings:
            if meeting.meeting == "startgesprek":
                by_case[meeting.case].append(meeting)
        self.startgesprek_needed = 0
        self.startgesprek_on_time = 0
        for case_id, placements in sorted(self.placements.items()):
            stay = placements[0]
            facts = self.cases.get(case_id)
            if facts is None or stay.start > self.last_day:
                continue
            window = self.calendar.startgesprek_days(stay.start, self.within)
            meetings = by_case.get(case_id, [])
            if not meetings and window and window[-1] > self.last_day:
                continue  # its window runs past the scenario end: not due yet
            self.startgesprek_needed += 1
            if len(meetings) != 1:
                self.add(
                    "startgesprek",
                    case_id,
                    f"{stay.label} needs exactly one startgesprek, found {len(meetings)}",
                )
                continue
            problems = self._startgesprek_problems(meetings[0], stay, facts, window)
            for problem in problems:
                self.add("startgesprek", case_id, f"{meetings[0].label}: {problem}")
            if not problems and meetings[0].index not in self.bad_meetings:
                self.startgesprek_on_time += 1
        for case_id, meetings in sorted(by_case.items()):
            if not any(s.start <= self.last_day for s in self.placements.get(case_id, [])):
                self.add(
                    "startgesprek",
                    case_id,
                    f"{meetings[0].label}: the case has no placement starting by the scenario end",
                )

    def _startgesprek_problems(
        self, meeting: _Meeting, stay: _Stay, facts: _Case, window: list[date]
    ) -> list[str]:
        problems = []
        day = meeting.start.date()
        if not self.calendar.is_working_day(day):
            problems.append(f"{day} is not a working day")
        elif day not in window:
            problems.append(
                f"{day} is outside the window {window[0] if window else '-'}.."
                f"{window[-1] if window else '-'} for a start on {stay.start}"
            )
        problems += self._hours_problems(meeting)
        # The kind's staff and the referrer; a person who handed the case over after the meeting
        # (PATHWAY-V2 staff changes) may stand for the successor the report names.
        spec = facts.spec
        wanted: set[str | None] = {facts.referrer}
        if spec is None or spec.needs_mst_therapist:
            wanted.add(stay.therapist)
        if spec is None or spec.needs_trajectbegeleider:
            wanted.add(stay.trajectbegeleider)
        missing = wanted - set(meeting.attendees)
        extra = set(meeting.attendees) - wanted
        for final in sorted(p for p in missing if p is not None and p != facts.referrer):
            stand_in = next((a for a in sorted(extra) if self.stood_in(a, final, day)), None)
            if stand_in is not None:
                missing.discard(final)
                extra.discard(stand_in)
        if missing or extra or len(meeting.attendees) != len(wanted):
            problems.append(
                f"attendees {sorted(meeting.attendees)} are not exactly the "
                f"{'therapist, ' if spec is None or spec.needs_mst_therapist else ''}"
                f"trajectbegeleider and referrer {sorted(str(p) for p in wanted)}"
            )
        return problems

    def _clash_rule(self, *meetings: _Meeting) -> str:
        """A clash is a kennismaking problem when only kennismakingsgesprekken of a version 2 scenario
        clash; otherwise a startgesprek problem (as in version 1, where every clash was one)."""
        if self.v2 and all(m.meeting == KENNISMAKING for m in meetings):
            return "kennismaking"
        return "startgesprek"

    def _hours_problems(self, meeting: _Meeting) -> list[str]:
        """Inside working hours on one day and meeting_minutes long (rule 8; kennismakingsgesprekken too)."""
        problems = []
        if meeting.end.date() != meeting.start.date() or not (
            self.day_opens <= meeting.start.time() and meeting.end.time() <= self.day_closes
        ):
            problems.append(f"not inside working hours {self.day_opens:%H:%M}-{self.day_closes:%H:%M}")
        minutes = (meeting.end - meeting.start) // timedelta(minutes=1)
        if minutes != self.meeting_minutes:
            problems.append(f"lasts {minutes} minutes, not {self.meeting_minutes}")
        return problems

    def check_kennismaking(self) -> None:
        # PATHWAY-V2 "Meetings": every accepted referral of a version 2 scenario gets a
        # kennismakingsgesprek at home within kennismaking_within_working_days working days after the
        # referral day, unless the placement starts by then (the startgesprek replaces it), the case
        # ended (withdraw, close) by then, or the window runs past the scenario end.
        self.kennismaking_needed = 0
        self.kennismaking_on_time = 0
        if not self.v2:
            return
        by_case: dict[str, list[_Meeting]] = defaultdict(list)
        for meeting in self.meetings:
            if meeting.meeting == KENNISMAKING:
                by_case[meeting.case].append(meeting)
        for case_id, facts in sorted(self.cases.items()):
            meetings = by_case.pop(case_id, [])
            if not facts.in_run:
                continue
            if not self._accepted(facts):
                for meeting in meetings:
                    self.add("kennismaking", case_id, f"{meeting.label}: the referral was rejected")
                continue
            window = [
                self.calendar.add_working_days(facts.referral_date, n)
                for n in range(1, self.kennismaking_within + 1)
            ]
            if self._kennismaking_owed(facts, window[-1]):
                self.kennismaking_needed += 1
                self.kennismaking_on_time += any(m.start.date() in window for m in meetings)
                if not meetings:
                    self.add(
                        "kennismaking",
                        case_id,
                        f"case {case_id}, referred on {facts.referral_date}, has no kennismaking on a "
                        f"working day {window[0]}..{window[-1]}",
                    )
            if len(meetings) > 1:
                self.add(
                    "kennismaking", case_id, f"case {case_id} has {len(meetings)} kennismakingen, not one"
                )
            for meeting in meetings:
                for problem in self._kennismaking_problems(meeting, facts, window):
                    self.add("kennismaking", case_id, f"{meeting.label}: {problem}")
        for case_id, meetings in sorted(by_case.items()):
            self.add("kennismaking", case_id, f"{meetings[0].label}: case {case_id} was never referred")

    def _accepted(self, facts: _Case) -> bool:
        """Whether intake accepted the case's (first) referral: the report does not reject it."""
        return (facts.id, "referral", facts.referral_at) not in self.refused

    def _kennismaking_owed(self, facts: _Case, last: date) -> bool:
        """Whether an accepted case with a kennismaking window ending on `last` owes one: not when its
        placement starts by then (the startgesprek replaces it), it was withdrawn or closed by then, or
        the window runs past the scenario end."""
        if any(p.start <= last for p in self.placements.get(facts.id, [])):
            return False
        if any(at <= last for _, _, at in facts.ends):
            return False
        return last <= self.last_day

    def _kennismaking_problems(self, meeting: _Meeting, facts: _Case, window: list[date]) -> list[str]:
        problems = []
        day = meeting.start.date()
        if not self.calendar.is_working_day(day):
            problems.append(f"{day} is not a working day")
        elif day not in window:
            problems.append(
                f"{day} is outside the window {window[0]}..{window[-1]} "
                f"(working days after the referral on {facts.referral_date})"
            )
        problems += self._hours_problems(meeting)
        if meeting.place != "home":
            problems.append(f"place {meeting.place!r} is not the family's home ('home')")
        problems += self._kennismaking_attendee_problems(meeting, facts)
        for _, kind, at in facts.ends:
            if at < day:
                problems.append(f"the case was {ENDED[kind]} on {at}, before the meeting")
        return problems

    def _kennismaking_attendee_problems(self, meeting: _Meeting, facts: _Case) -> list[str]:
        # The referrer, a trajectbegeleider serving the home region and, for a kind with MST, an MST
        # supervisor serving it (the referrer may be that supervisor); nobody else.
        spec = facts.spec
        region = facts.home_region
        problems = []
        if len(set(meeting.attendees)) != len(meeting.attendees):
            problems.append(f"an attendee is listed twice in {list(meeting.attendees)}")
        if facts.referrer not in meeting.attendees:
            problems.append(f"the referrer {facts.referrer} does not attend")
        others = sorted(set(meeting.attendees) - {facts.referrer})
        by_role: dict[str, list[str]] = defaultdict(list)
        for person_id in others:
            by_role[str((self.people.get(person_id) or {}).get("role"))].append(person_id)
        wanted = [
            (TRAJECTBEGELEIDER, spec is None or spec.needs_trajectbegeleider, False),
            (
                SUPERVISOR,
                spec is None or spec.needs_mst_therapist,
                self._serves(facts.referrer, SUPERVISOR, region),
            ),
        ]
        for role, needed, referrer_is_one in wanted:
            found = by_role.pop(role, [])
            if not needed:
                if found:
                    problems.append(
                        f"a {facts.kind} case has no {role} at its kennismaking: {', '.join(found)}"
                    )
                continue
            if len(found) > 1 or (not found and not referrer_is_one):
                problems.append(f"needs one {role} serving home region {region}, has {found or 'none'}")
            for person_id in found:
                if not self._serves(person_id, role, region):
                    problems.append(f"{role} {person_id} does not serve home region {region}")
        strangers = sorted(p for people in by_role.values() for p in people)
        if strangers:
            problems.append(
                f"{', '.join(strangers)} should not attend: a kennismaking is for the referrer, "
                "a trajectbegeleider and (with MST) an MST supervisor"
            )
        return problems

    def _serves(self, person_id: str, role: str, region: str) -> bool:
        person = self.people.get(person_id)
        return person is not None and person.get("role") == role and region in person.get("regions", [])

    def check_staff_changes(self) -> None:
        # PATHWAY-V2 staff changes: in [from, until) the person takes no new case and attends no
        # meeting; who has left hands their running placements over. The report shows only a case's
        # final therapist and trajectbegeleider, so only what a correct plan can never show is
        # flagged: a placement starting in the period (announced before its start) whose final person
        # is them, unless a later staff change could have handed it to them after the period; a
        # placement still running after they left that still names them; a meeting in the period
        # they attend although the change was announced before the meeting's day.
        staffed: dict[str, list[tuple[_Stay, str, str | None]]] = defaultdict(list)
        for case_id, placements in self.placements.items():
            facts = self.cases.get(case_id)
            for stay in placements:
                if stay.therapist:
                    staffed[stay.therapist].append(
                        (stay, "mst_therapist", facts.home_region if facts else None)
                    )
                if stay.trajectbegeleider:
                    region = stay.group.region if stay.group else None
                    staffed[stay.trajectbegeleider].append((stay, TRAJECTBEGELEIDER, region))
        attending: dict[str, list[_Meeting]] = defaultdict(list)
        for meeting in self.meetings:
            for person_id in set(meeting.attendees):
                attending[person_id].append(meeting)
        for change in self.staff_changes:
            if change.at.date() > self.last_day:
                continue  # after the scenario's end: the run never saw it
            for stay, role, region in staffed.get(change.person, []):
                self._check_staffed_during(change, stay, role, region)
            start = datetime.combine(change.first, time())
            until = datetime.combine(change.until, time()) if change.until else datetime.max
            for meeting in attending.get(change.person, []):
                known = change.at < datetime.combine(meeting.start.date(), time())
                if known and meeting.start < until and start < meeting.end:
                    self.add(
                        "staff_change",
                        meeting.case,
                        f"{meeting.label}: {change.label} (announced {change.at:%Y-%m-%dT%H:%M}) "
                        "and attends no meeting then",
                    )

    def _check_staffed_during(self, change: _StaffChange, stay: _Stay, role: str, region: str | None) -> None:
        later = self.handover_days(stay, role, change.person, region)
        if change.covers(stay.start) and change.at.date() < stay.start:
            back = change.until
            if change.status == "left" or back is None or not any(day >= back for day in later):
                self.add(
                    "staff_change",
                    stay.case,
                    f"{stay.label} names {role} {change.person}, but {change.label} "
                    f"(announced {change.at:%Y-%m-%dT%H:%M}): no new case",
                )
        elif change.status == "left":
            day = change.handover_day
            if (
                stay.start < day < min(stay.end, self.load_end(stay))
                and day < self.last_day
                and self.successor_had_room(change, stay, role, region)
            ):
                self.add(
                    "staff_change",
                    stay.case,
                    f"{stay.label} still names {role} {change.person}, who left on {change.first} "
                    f"(announced {change.at:%Y-%m-%dT%H:%M}) while it ran: hand it over",
                )

    def _double_booked_or_busy(self) -> set[int]:
        """Report, and return the indexes of, meetings clashing for one of their attendees.

        Every meeting of the report counts (startgesprekken and kennismakingsgesprekken).
        """
        bad: set[int] = set()
        reported: set[tuple[int, int]] = set()
        per_person: dict[str, list[_Meeting]] = defaultdict(list)
        for meeting in self.meetings:
            for person in set(meeting.attendees):
                per_person[person].append(meeting)
        for person, meetings in sorted(per_person.items()):
            meetings.sort(key=lambda m: m.start)
            latest: _Meeting | None = None  # the meeting seen so far that ends last
            for meeting in meetings:
                pair = (latest.index, meeting.index) if latest is not None else None
                if latest is not None and meeting.start < latest.end and pair not in reported:
                    bad.update((meeting.index, latest.index))
                    reported.add((latest.index, meeting.index))
                    self.add(
                        self._clash_rule(latest, meeting),
                        meeting.case,
                        f"{person} is double-booked: {latest.label} and {meeting.label} overlap",
                    )
                if latest is None or meeting.end > latest.end:
                    latest = meeting
                for busy_from, busy_until in self.busy.get(person, []):
                    if meeting.start < busy_until and busy_from < meeting.end:
                        bad.add(meeting.index)
                        self.add(
                            self._clash_rule(meeting),
                            meeting.case,
                            f"{meeting.label} overlaps "
                            f"{person}'s busy block {busy_from:%Y-%m-%dT%H:%M}.."
                            f"{busy_until:%Y-%m-%dT%H:%M}",
                        )
        return bad

    def check_timeouts(self) -> None:
        # Rule 9: every request is served (a time-out stay) or refused (a rejected entry).
        refusals: dict[tuple[str, str], list[JSON]] = defaultdict(list)
        for entry in self.rejected:
            if entry.get("event") == "timeout_request":
                refusals[(str(entry.get("case")), str(entry.get("at")))].append(entry)
        unused: dict[str, list[_Stay]] = {
            c: sorted(s, key=lambda s: s.start) for c, s in self.timeouts.items()
        }
        self.served_within_1_day = 0
        self.on_group_requests = 0
        kind_refusals = {r for spec in KINDS.values() if (r := spec.timeout_refusal) is not None}
        for request in self.requests:
            facts = self.cases.get(request.case)
            kind = facts.kind if facts else None
            spec = facts.spec if facts else None
            refused = refusals.get((request.case, request.at), [])
            refusal = refused.pop(0) if refused else None
            # A refused request is answered; a time-out then answers a later request or none.
            served = None if refusal else self._take_timeout(unused.get(request.case, []), request)
            where = f"time-out request of {request.case} at {request.at}"
            if spec is not None and spec.timeout_on_group and request.in_run:
                self.on_group_requests += 1
                self.served_within_1_day += int(served is not None)
            if served is not None:
                self._check_served(request, served, facts)
            elif refusal is None and not request.in_run:
                continue  # after the scenario's end: the run never saw it
            elif refusal is None:
                self.add(
                    "timeout",
                    request.case,
                    f"{where} is neither served by a time-out "
                    f"starting on {request.day} or the next day nor rejected",
                )
            else:
                code = _reason_code(refusal.get("reason"))
                reasons = TIMEOUT_REASONS | kind_refusals
                if code not in reasons:
                    self.add(
                        "timeout",
                        request.case,
                        f"{where} is rejected with reason "
                        f"{refusal.get('reason')!r}, not one of {sorted(reasons)}",
                    )
                elif spec is not None and spec.timeout_refusal is not None and code != spec.timeout_refusal:
                    self.add(
                        "timeout",
                        request.case,
                        f"{where}: a {kind} request is refused with {spec.timeout_refusal}, not {code}",
                    )
                elif spec is not None and spec.timeout_on_group and code in kind_refusals:
                    self.add(
                        "timeout",
                        request.case,
                        f"{where}: {code} is only for a kind without time-outs on a group, not {kind}",
                    )
        for stays in unused.values():
            for stay in stays:
                self.add(
                    "timeout",
                    stay.case,
                    f"{stay.label} answers no time-out request made on its start day or the day before",
                )
        for (case_id, at), left in sorted(refusals.items()):
            if left:
                self.add(
                    "timeout",
                    case_id,
                    f"rejected time-out request at {at} does not match a request of that case",
                )

    @staticmethod
    def _take_timeout(candidates: list[_Stay], request: _Request) -> _Stay | None:
        for i, stay in enumerate(candidates):
            if 0 <= (stay.start - request.day).days <= 1:
                return candidates.pop(i)
        return None

    def _check_served(self, request: _Request, stay: _Stay, facts: _Case | None) -> None:
        where = f"{stay.label} for the request at {request.at}"
        if facts is None:
            return
        spec = facts.spec
        if spec is None or not spec.timeout_on_group:
            refusal = spec.timeout_refusal if spec else "unknown kind"
            self.add("timeout", request.case, f"{where}: a {facts.kind} request must be refused ({refusal})")
        planned_end = stay.start + timedelta(request.days)
        discharged = any(stay.start <= at < planned_end and day == stay.end for at, day in facts.discharges)
        if stay.end != planned_end and not discharged:
            self.add(
                "timeout",
                request.case,
                f"{where} should last {request.days} days, ends {stay.end} instead of {planned_end}",
            )
        placements = self.placements.get(request.case, [])
        if not placements:
            self.add("timeout", request.case, f"{where}: the case has no placement, so no home phase")
        for placement in placements:
            if stay.start < placement.end and placement.start < stay.end:
                self.add("timeout", request.case, f"{where} overlaps the case's own placement")
            elif request.day < placement.end:
                self.add(
                    "timeout",
                    request.case,
                    f"{where}: the request came before the "
                    f"placement ended on {placement.end} (not in the home phase)",
                )
        for order, kind, at in facts.ends:
            if order < request.order:
                self.add(
                    "timeout",
                    request.case,
                    f"{where}: the case was {ENDED[kind]} on {at}, before the request",
                )

    def check_accounting(self) -> None:
        # Rule 10: every referred case ends up in exactly one place.
        waiting: dict[str, int] = defaultdict(int)
        for entry in self.waiting:
            waiting[str(entry.get("case"))] += 1
        rejected: dict[str, int] = defaultdict(int)
        for entry in self.rejected:
            if entry.get("event") == "referral":
                rejected[str(entry.get("case"))] += 1
        for case_id in sorted(set(waiting) | set(rejected) | set(self.placements) | set(self.timeouts)):
            if case_id not in self.cases:
                self.add(
                    "accounting", case_id, f"case {case_id} appears in the report but was never referred"
                )
        for case_id, facts in self.cases.items():
            placed = len(self.placements.get(case_id, []))
            counts = (placed, waiting[case_id], rejected[case_id])
            if not facts.in_run and sum(counts) == 0:
                continue  # referred after the scenario's end: the run never saw it
            # A case referred twice may have its extra referrals rejected on top.
            if placed + waiting[case_id] > 1 or sum(counts) != facts.referral_count:
                self.add(
                    "accounting",
                    case_id,
                    f"case {case_id} must appear exactly once among "
                    f"placements, waiting and rejected referrals; found {counts[0]} "
                    f"placement(s), {counts[1]} waiting, {counts[2]} rejected",
                )
            for stay in self.placements.get(case_id, []):
                for _, kind, at in facts.ends:
                    if at < stay.start:
                        self.add(
                            "accounting",
                            case_id,
                            f"{stay.label}: the case was "
                            f"{ENDED[kind]} on {at}, before the start; it should be waiting",
                        )

    def check_meeting_notice(self) -> None:
        # PATHWAY-V2 "Meetings": the final time of a meeting is announced at least one working day
        # ahead (so never changed on its own day). A report without notifications has nothing to check.
        latest: dict[tuple[str, str], tuple[datetime, str]] = {}
        for n in self.notifications:
            invited = INVITES.get(str(n.get("kind")))
            at = parse_minute(n.get("at"))
            if invited is None or at is None:
                continue
            key = (str(n.get("case")), invited)
            if key not in latest or at > latest[key][0]:
                latest[key] = (at, str(n.get("kind")))
        for meeting in self.meetings:
            announced = latest.get((meeting.case, meeting.meeting))
            if announced is None:
                continue
            earliest = self.calendar.one_working_day_after(announced[0], self.day_opens, self.day_closes)
            if meeting.start < earliest:
                self.add(
                    "meeting_notice",
                    meeting.case,
                    f"{meeting.label}: the latest {announced[1]} of case {meeting.case} went out at "
                    f"{announced[0]:%Y-%m-%dT%H:%M}, less than one working day before the start "
                    f"{meeting.start:%Y-%m-%dT%H:%M} (the earliest start it allows is "
                    f"{earliest:%Y-%m-%dT%H:%M})",
                )

    # -- KPIs ------------------------------------------------------------------------------

    def kpis(self) -> dict[str, float | int]:
        """Recompute the report's KPIs as `validate_report` defines them."""
        waits: list[int] = []
        home = 0
        travel: list[int] = []
        for case_id, placements in self.placements.items():
            facts = self.cases.get(case_id)
            if facts is None:
                continue
            for stay in placements:
                waits.append(self.wait_days(stay, facts))
                if stay.group is None:
                    continue
                if stay.group.region == facts.home_region:
                    home += 1
                    travel.append(0)
                elif (facts.home_region, stay.group.region) in self.travel:
                    travel.append(self.travel[(facts.home_region, stay.group.region)])
        waits.sort()
        placed = self.raw_placements
        used, offered = self._bed_nights()
        return {
            "referrals": self.referral_events,
            "placed": placed,
            "mean_wait_days": round(sum(waits) / len(waits), 2) if waits else 0.0,
            "p90_wait_days": round(float(waits[math.ceil(0.9 * len(waits)) - 1]), 2) if waits else 0.0,
            "home_region_pct": round(100.0 * home / placed, 2) if placed else 100.0,
            "mean_travel_minutes": round(sum(travel) / len(travel), 2) if travel else 0.0,
            "startgesprek_on_time_pct": round(100.0 * self.startgesprek_on_time / self.startgesprek_needed, 2)
            if self.startgesprek_needed
            else 100.0,
            "bed_nights_used_pct": round(100.0 * used / offered, 2) if offered else 0.0,
            "timeouts_requested": sum(request.in_run for request in self.requests),
            "timeouts_within_1_day_pct": round(100.0 * self.served_within_1_day / self.on_group_requests, 2)
            if self.on_group_requests
            else 100.0,
        } | self._optional_kpis()

    def _optional_kpis(self) -> dict[str, float | int]:
        """The PATHWAY-V2 extras the report carries: one recomputed, one copied (see validate_report)."""
        out: dict[str, float | int] = {}
        if "mean_days_without_care" in self.report_kpis:
            days = self._days_without_care()
            out["mean_days_without_care"] = round(sum(days) / len(days), 2) if days else 0.0
        moves = self.report_kpis.get("moves_per_announced_placement")
        if isinstance(moves, int | float):
            out["moves_per_announced_placement"] = moves
        outcomes: dict[str, tuple[int, int]] = {
            "mst_continuity_pct": self._mst_continuity(),
            "kennismaking_on_time_pct": (self.kennismaking_on_time, self.kennismaking_needed),
            "at_home_pct": (sum(home for home, _ in self.outcomes), len(self.outcomes)),
            "day_activity_pct": (sum(active for _, active in self.outcomes), len(self.outcomes)),
            "no_relapse_pct": (sum(not relapse for relapse in self.relapses), len(self.relapses)),
        }
        for key, (part, whole) in outcomes.items():
            if key in self.report_kpis:
                out[key] = _pct(part, whole, 100.0)
        if "mean_residential_days" in self.report_kpis:
            days = self._residential_days()
            out["mean_residential_days"] = round(sum(days) / len(days), 2) if days else 0.0
        return out

    def _mst_continuity(self) -> tuple[int, int]:
        """Placed cases whose referral names a current_therapist: (kept by that therapist, all)."""
        kept = named = 0
        for case_id, placements in self.placements.items():
            facts = self.cases.get(case_id)
            if facts is None or not facts.current_therapist:
                continue
            named += 1
            kept += placements[0].therapist == facts.current_therapist
        return kept, named

    def _residential_days(self) -> list[int]:
        """Per placed case of a residential kind (a bed every night: not day treatment, not part-time),
        the nights of its placement and its time-outs, as the report states them."""
        days: list[int] = []
        for case_id, placements in self.placements.items():
            facts = self.cases.get(case_id)
            spec = facts.spec if facts else None
            if spec is None or spec.group_kind == DAY_GROUP or spec.part_time:
                continue
            stays = placements + self.timeouts.get(case_id, [])
            days.append(sum((s.end - s.start).days for s in stays))
        return days

    def _days_without_care(self) -> list[int]:
        """Per eligible case, the days it went without care (see `mean_days_without_care`)."""
        waiting = {str(entry.get("case")) for entry in self.waiting}
        days: list[int] = []
        for case_id, facts in self.cases.items():
            placements = self.placements.get(case_id)
            if placements:
                days.append(self.wait_days(min(placements, key=lambda s: s.start), facts))
                continue
            if case_id not in waiting or not facts.in_run:
                continue
            ready = max(facts.referral_date, facts.earliest_start)
            if facts.needs_machtiging:
                if not facts.machtigingen:
                    continue  # no court order yet: it could not have started
                ready = max(ready, min(valid_from for valid_from, _ in facts.machtigingen))
            stop = min([self.last_day] + [at for _, _, at in facts.ends])
            if ready <= stop:
                days.append((stop - ready).days)
        return days

    def _bed_nights(self) -> tuple[int, int]:
        first, last = self.first_day.toordinal(), self.last_day.toordinal()
        used = 0
        for stay in self.stays:
            if stay.group is not None:
                a, b = max(first, stay.start.toordinal()), min(last, stay.end.toordinal() - 1)
                used += max(0, b - a + 1)
        offered = sum(
            self.beds_on(group, night)[0]
            for group in self.groups.values()
            for night in range(first, last + 1)
        )
        return used, offered


def validate_report(scenario: JSON, report: JSON) -> ValidationResult:
    """Check every hard rule of DOMAIN.md on a report and recompute its KPIs.

    Violations name their rule family: format, capacity, group_kind, machtiging,
    start_bounds, age, conflicts, staffing, caseload, startgesprek, timeout, accounting,
    stay_length, meeting_notice, and for PATHWAY-V2 (version 2): day_places, part_time_nights,
    program_length, stay_kind, kennismaking, staff_change (see the end of this text).

    The run covers the events whose `at` date is on or before the scenario's `end`; a referral
    or time-out request after it needs no answer in the report and counts in no KPI.

    KPIs (floats rounded to 2 decimals; "placements" are the `stays` entries of type placement):

    - referrals: the number of `referral` events in the run.
    - placed: the number of placements in `stays`.
    - mean_wait_days, p90_wait_days: the wait of a placement is its `start` minus the latest of
      the referral's `at` date, its `earliest_start` and, for a kind with a court order
      (`thuisbest`), the `valid_from` of the machtiging it was placed under: the first of the
      case's machtigingen (the referral's own, then `machtiging` events in event order) with
      valid_from <= start, end <= valid_until + 1 day and start <= valid_from + 3 calendar
      months (day clamped to the month's end). Mean of the waits; p90 by nearest rank: sorted
      waits, index ceil(0.9 * n) - 1. 0.0 when none placed.
    - home_region_pct: placements whose location's region is the case's home region, as a
      percentage of placed; 100.0 when none placed.
    - mean_travel_minutes: mean over placements of the travel minutes between the home region
      and the location's region (0 for the same region; pairs are symmetric; a placement between
      unreachable regions is left out); 0.0 when none.
    - startgesprek_on_time_pct: placements with a valid on-time startgesprek divided by the
      placements that need one, as a percentage; 100.0 when none need one. A placement needs one
      when it starts on or before the scenario end, unless its startgesprek window (the start
      if a working day plus the next `startgesprek_within_working_days` working days) ends after
      the scenario end and it has no startgesprek yet. Valid on time: exactly one startgesprek
      of the case, passing every check of rule 8 (working day in the window, working hours,
      meeting_minutes long, attendees exactly therapist, trajectbegeleider and referrer, no
      attendee double-booked or busy).
    - bed_nights_used_pct: nights occupied by stays (placements and time-outs; a stay [start,
      end) occupies start..end-1) that fall within the scenario start..end inclusive, divided by
      the sum over all groups of the beds of each night in start..end inclusive (`capacity`
      events applied: for a night the latest-announced event covering it wins), as a
      percentage; 0.0 when there are no beds.
    - timeouts_requested: the number of `timeout_request` events in the run (every kind).
    - timeouts_within_1_day_pct: time-out requests of kinds with time-outs on a group
      (`thuisbest`) served by a time-out stay of that case starting on the request's date or the
      next day, as a percentage of all time-out requests of such cases in the run; 100.0 when
      there are none. Requests are matched to time-out
      stays in event order, each stay used once, the earliest fitting stay first.

    Optional KPIs (PATHWAY-V2 "Report additions"), only when the report carries them:

    - mean_days_without_care: the mean over every eligible case of the days it went without care.
      A placed case counts its first placement's wait (as above). A case listed as waiting and
      referred in the run counts from the latest of its referral date, `earliest_start` and (for a
      kind with a court order) the earliest `valid_from` of its machtigingen, to the scenario end,
      or to its withdraw or close when that came first; it is not eligible without a machtiging
      or when that day comes after the end (or the withdraw or close). 0.0 when none is eligible.
    - moves_per_announced_placement: copied from the report. It counts the scheduler's decisions
      (announced placements moved, restaffed or cancelled while their case went on, per placement
      announced), which the report does not list, so the validator cannot recompute it.

    - mst_continuity_pct: of the placed cases whose referral names a `current_therapist`, the
      share whose (first) placement's `mst_therapist` is that person; 100.0 when none.
    - kennismaking_on_time_pct: of the accepted referrals that owe a kennismaking (see
      `kennismaking` below, whether or not one was held), the share with a kennismaking on a day of
      its window; 100.0 when none (and for a version 1 scenario).
    - mean_residential_days: the mean over placed cases of a kind with a bed every night (not day
      treatment, not part-time: `thuisbest` and `thuisbest_open`) of the days of their placements
      and time-outs in the report (end - start, the report's end even past the scenario end); 0.0
      when none.
    - at_home_pct, day_activity_pct: of the `close` events with an `outcome` in the run (refused
      ones too), the share with `at_home` (`day_activity`) true; 100.0 when none.
    - no_relapse_pct: of the `follow_up` events in the run, the share with `relapse` false; 100.0
      when none.

    A further rule, `meeting_notice` (PATHWAY-V2 "Meetings"): the latest invitation notification
    of a meeting's case (`startgesprek_invite`, `kennismaking_invite`) went out at least one
    working day (working hours) before the meeting starts.

    PATHWAY-V2 rules (what differs by kind is read from the kinds table):

    - capacity per group kind: a `day` group has `places`; on each working day (not a weekend, not a
      Dutch or settings holiday) the stays present (start <= day < end) are at most its places
      (`day_places`). On a part-time group a stay holds only the nights whose weekday its `nights`
      pattern holds; per night those stays are at most the beds (`part_time_nights`). Capacity
      events and the no-eviction rule apply as to beds; conflicts count the same days and nights.
    - part_time_nights: a placement of a part-time kind states `nights`, exactly the referral's
      `nights_per_week` distinct weekday names (mon..sun); any other stay states none.
    - program_length: a kind measured in weeks lasts `program_weeks` * 7 days (or the kind's
      default) from its start, unless a discharge counts (as for `stay_length`).
    - staffing and caseload: the kind's staff only (no `mst_therapist` on a kind without MST). Staff
      changes may hand a running case over and the report names only the final person; so the
      final person's load counts from the last day a staff change of another person of that role
      serving the region could have handed it over (its `from`, or its announcement when later),
      a time-out may name the person who handed over after it, and a startgesprek may be attended
      by that person instead of the final one.
    - stay_kind: a stay's `kind`, when present, is its referral's kind; `report_version` is 1 or 2
      (`format`).
    - kennismaking (version 2 scenarios): every accepted referral (its referral event not in
      `rejected`) in the run gets at most one kennismaking, and one is owed on a working day of its
      window (the `kennismaking_within_working_days` working days after the referral day) unless its
      first placement starts on or before the window's last day, it was withdrawn or closed on or
      before that day, or that day is after the scenario end. A kennismaking is on a window day, in
      working hours, `meeting_minutes` long, at place `home`, attended by exactly the referrer, one
      trajectbegeleider serving the home region and, for a kind with MST, one MST supervisor serving
      it (the referrer may be that supervisor); not after the case's withdraw or close; none for a
      rejected or unknown case. Busy blocks and double bookings count every meeting.
    - staff_change: in [from, until) (day bounds; `until` null: for good) the person takes no new
      case: no placement starting then, after the change was announced, names them, unless a later
      staff change could have handed it to them after `until`. They attend no meeting overlapping
      it that starts on a day after the announcement. A placement whose final therapist or
      trajectbegeleider has `left`, while it still ran and loaded its staff on the later of `from`
      and the announcement (before the scenario's last day), should have been handed over.
    """
    return _Validator(scenario, report).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.validator", description="Check a report against its scenario."
    )
    parser.add_argument("scenario", help="scenario JSON file")
    parser.add_argument("report", help="report JSON file")
    args = parser.parse_args(argv)
    with open(args.scenario, encoding="utf-8") as f:
        scenario = json.load(f)
    with open(args.report, encoding="utf-8") as f:
        report = json.load(f)
    result = validate_report(scenario, report)
    for v in result.violations:
        print(f"{v.rule:<13} {v.case or '-':<12} {v.message}")
    print(f"{len(result.violations)} violation(s)")
    reported = report.get("kpis") or {}
    print(f"{'kpi':<27} {'recomputed':>11} {'report':>11}")
    for key, value in result.kpis.items():
        theirs = reported.get(key, "-")
        mark = "" if theirs == value else "  <- differs"
        print(f"{key:<27} {value:>11} {theirs!s:>11}{mark}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
