"""The notification engine: which person is told what and when, from case events and the rules. Pure code.

The live notifier and `thuisbest simulate` drive this same class. A simulation calls, for every
event in time order, `due(event_time)` and then `handle(event, event_time)`, and finally
`due(end)`. The live notifier feeds each event to `apply()` and stores the outcome (the notices
due now, the timers still pending, the timers cancelled) in PostgreSQL, where its dispatcher
fires the pending ones when they fall due; see `store.py`.

Design: per case, the engine keeps the facts the events told it (placement, startgesprek,
machtiging...). After every event it *derives* the scheduled rules' timers from those facts and
replaces the previous set: a moved date re-times a timer, a cleared cause removes it, a closed
case has none. Escalation levels are timers too, computed up front from the first level's time,
so that an acknowledgement just removes the remaining levels. Every notice has a dedupe key
(rule, case, deadline, person, level, channel): a key that fired never fires again.

Texts: each notice is written in its reader's language (`Person.language`), with the facts shown as
people read them (texts.py) and the rule's text variant that fits the reader. For the rules that
`track` facts the engine remembers, per case, what it told each person last (`told`), so that a
later message of the rule (a moved placement or startgesprek, a new expected start) says what
changed for that reader; what was told about a placement or meeting that was cancelled is
forgotten, so a later one is news, not a change.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from string import Formatter
from typing import Any

from shared import events as ev
from shared.kinds import KINDS, lapse_date
from shared.network import Network, NetworkIndex
from shared.types import fmt_local
from shared.workdays import WorkCalendar

from .rules import (
    FACT_KINDS,
    KEY_FACTS,
    PRIVATE_EVENT_FIELDS,
    Interval,
    Matcher,
    Rule,
    Rules,
    Text,
    load_rules,
    placeholders,
)
from .texts import (
    DEFAULT_LANGUAGE,
    MACHTIGING_REASONS,
    NO_ADDRESS,
    UNKNOWN,
    WITHHELD,
    Language,
    Wording,
    change_line,
    escalation_note,
    format_moment,
    reason_code,
)

MISSING = "-"  # an unknown value in a dedupe key (`deadline`); a message says texts.UNKNOWN instead

# What the notifier forgets it told when the thing it told about is gone: a cancelled placement's
# facts (a later placement is news, not a change of it), a cancelled startgesprek's, a wait's once
# the case is placed.
PLACEMENT_FACTS = frozenset({"start", "end", "group", "location", "mst_therapist", "trajectbegeleider"})
MEETING_FACTS = frozenset({"meeting_start", "meeting_end", "place", "attendees"})
WAIT_FACTS = frozenset({"expected_start", "reason"})


# --- notices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meeting:
    """A startgesprek as the attendees' calendars see it."""

    start: datetime
    end: datetime
    place: str
    attendees: tuple[str, ...]
    sequence: int = 0
    method: str = "REQUEST"  # REQUEST (new or update) or CANCEL

    def to_json(self) -> dict[str, Any]:
        return {
            "start": fmt_local(self.start),
            "end": fmt_local(self.end),
            "place": self.place,
            "attendees": list(self.attendees),
            "sequence": self.sequence,
            "method": self.method,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Meeting:
        return cls(
            start=_dt(data["start"]),
            end=_dt(data["end"]),
            place=data["place"],
            attendees=tuple(data["attendees"]),
            sequence=int(data["sequence"]),
            method=data.get("method", "REQUEST"),
        )


@dataclass(frozen=True, order=True)
class Notice:
    """One message to one person, due at `at`. Ordered by (at, case, kind, to, channel, level, key)."""

    at: datetime
    case: str
    kind: str
    to: str
    channel: str = "email"
    level: int = 0
    key: str = ""
    alert: str = field(default="", compare=False)  # rule|case|deadline: what one acknowledgement stops
    deadline: str = field(default="", compare=False)
    subject: str = field(default="", compare=False)
    text: str = field(default="", compare=False)
    urgent: bool = field(default=False, compare=False)
    escalates: bool = field(default=False, compare=False)
    meeting: Meeting | None = field(default=None, compare=False)
    language: str = field(default=DEFAULT_LANGUAGE, compare=False)  # of subject and text
    act_by: str | None = field(default=None, compare=False)  # ISO day or time the reader acts by

    def report(self) -> dict[str, str]:
        """The report's `notifications` entry (SCENARIO.md)."""
        return {
            "at": fmt_local(self.at),
            "case": self.case,
            "kind": self.kind,
            "to": self.to,
            "channel": self.channel,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.report(),
            "level": self.level,
            "key": self.key,
            "alert": self.alert,
            "deadline": self.deadline,
            "subject": self.subject,
            "text": self.text,
            "urgent": self.urgent,
            "escalates": self.escalates,
            "meeting": self.meeting.to_json() if self.meeting else None,
            "language": self.language,
            "act_by": self.act_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notice:
        return cls(
            at=_dt(data["at"]),
            case=data["case"],
            kind=data["kind"],
            to=data["to"],
            channel=data["channel"],
            level=int(data["level"]),
            key=data["key"],
            alert=data["alert"],
            deadline=data["deadline"],
            subject=data.get("subject", ""),
            text=data.get("text", ""),
            urgent=bool(data["urgent"]),
            escalates=bool(data.get("escalates", False)),
            meeting=Meeting.from_json(data["meeting"]) if data.get("meeting") else None,
            language=data.get("language") or DEFAULT_LANGUAGE,
            act_by=data.get("act_by"),
        )


@dataclass(frozen=True)
class Parties:
    """Who a case concerns as the events told it: what decides who may read its alerts here."""

    home_region: str | None
    referrer: str | None
    therapist: str | None
    trajectbegeleider: str | None


@dataclass(frozen=True)
class Climb:
    """Where a notice stands in its alert's escalation chain: who had it before (ids), and when and to
    whom (those not reached yet) it goes next unless someone acknowledges it."""

    earlier: tuple[str, ...]
    next_at: datetime | None
    next_people: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What one event changed: notices due now, timers pending for the case, timer keys removed."""

    notices: list[Notice]
    scheduled: list[Notice]
    cancelled: list[str]


def alert_key(rule: str, case: str, deadline: str) -> str:
    return f"{rule}|{case}|{deadline}"


def notice_key(alert: str, person: str, level: int, channel: str) -> str:
    return f"{alert}|{person}|{level}|{channel}"


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# --- per-case state --------------------------------------------------------------------------


@dataclass
class Placement:
    start: date
    end: date
    group: str
    location: str
    therapist: str | None
    trajectbegeleider: str | None


@dataclass
class Timeout:
    start: date
    end: date
    group: str
    location: str


@dataclass
class CaseState:
    case: str
    kind: str | None = None
    urgency: str | None = None
    home_region: str | None = None
    referrer: str | None = None
    referral_at: datetime | None = None
    placement: Placement | None = None
    machtiging: tuple[date, date] | None = None
    meeting: Meeting | None = None
    timeout: Timeout | None = None
    therapist_hint: str | None = None  # from a time-out or a refusal, when no placement is known
    trajectbegeleider_hint: str | None = None
    has_timeout_address: bool = False  # intake holds one; the address itself never comes here
    expected_start: date | None = None
    earliest_start: date | None = None
    reason: str | None = None
    request_day: date | None = None  # the day of the request the last refusal answers
    cancelled: Placement | None = None  # the placement just cancelled, until the waitlisting tells it
    # rule -> person -> the tracked facts (stored form) that person was told last: what a
    # replacement message compares with
    told: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    placement_version: int = 0  # +1 for every announced placement that differs from the current one
    waiting_version: int = 0  # +1 every time a placement is cancelled and the case waits again
    closed: bool = False
    closed_by: str | None = None  # withdraw (reopened if the scheduler refuses it) or close
    stopped: set[str] = field(default_factory=set)  # scheduled rules a stop_on event ended
    acked: dict[str, str] = field(default_factory=dict)  # alert -> who acknowledged it
    fired: set[str] = field(default_factory=set)  # notice keys that fired: never again
    bases: dict[str, datetime] = field(default_factory=dict)  # alert -> time of its level 0
    timers: dict[str, Notice] = field(default_factory=dict)  # pending notice key -> notice
    former: Meeting | None = None  # transient: the meeting version an event just replaced

    @property
    def therapist(self) -> str | None:
        if self.placement and self.placement.therapist:
            return self.placement.therapist
        return self.therapist_hint

    @property
    def trajectbegeleider(self) -> str | None:
        if self.placement and self.placement.trajectbegeleider:
            return self.placement.trajectbegeleider
        return self.trajectbegeleider_hint

    def to_json(self) -> dict[str, Any]:
        p, t, m = self.placement, self.timeout, self.machtiging
        return {
            "earliest_start": self.earliest_start.isoformat() if self.earliest_start else None,
            "cancelled": _placement_json(self.cancelled),
            "told": {rule: dict(sorted(people.items())) for rule, people in sorted(self.told.items())},
            "case": self.case,
            "kind": self.kind,
            "urgency": self.urgency,
            "home_region": self.home_region,
            "referrer": self.referrer,
            "referral_at": fmt_local(self.referral_at) if self.referral_at else None,
            "placement": _placement_json(p),
            "machtiging": None if m is None else [m[0].isoformat(), m[1].isoformat()],
            "meeting": self.meeting.to_json() if self.meeting else None,
            "timeout": None
            if t is None
            else {
                "start": t.start.isoformat(),
                "end": t.end.isoformat(),
                "group": t.group,
                "location": t.location,
            },
            "therapist_hint": self.therapist_hint,
            "trajectbegeleider_hint": self.trajectbegeleider_hint,
            "has_timeout_address": self.has_timeout_address,
            "expected_start": self.expected_start.isoformat() if self.expected_start else None,
            "reason": self.reason,
            "request_day": self.request_day.isoformat() if self.request_day else None,
            "placement_version": self.placement_version,
            "waiting_version": self.waiting_version,
            "closed": self.closed,
            "closed_by": self.closed_by,
            "stopped": sorted(self.stopped),
            "acked": dict(sorted(self.acked.items())),
            "fired": sorted(self.fired),
            "bases": {k: fmt_local(v) for k, v in sorted(self.bases.items())},
            "timers": [n.to_json() for n in sorted(self.timers.values())],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseState:
        p, t, m = data.get("placement"), data.get("timeout"), data.get("machtiging")
        cs = cls(
            case=data["case"],
            kind=data.get("kind"),
            urgency=data.get("urgency"),
            home_region=data.get("home_region"),
            referrer=data.get("referrer"),
            referral_at=_dt(data["referral_at"]) if data.get("referral_at") else None,
            placement=_placement_of(p),
            cancelled=_placement_of(data.get("cancelled")),
            earliest_start=_day(data.get("earliest_start")),
            told={rule: dict(people) for rule, people in (data.get("told") or {}).items()},
            machtiging=None if m is None else (date.fromisoformat(m[0]), date.fromisoformat(m[1])),
            meeting=Meeting.from_json(data["meeting"]) if data.get("meeting") else None,
            timeout=None
            if t is None
            else Timeout(
                date.fromisoformat(t["start"]), date.fromisoformat(t["end"]), t["group"], t["location"]
            ),
            therapist_hint=data.get("therapist_hint"),
            trajectbegeleider_hint=data.get("trajectbegeleider_hint"),
            has_timeout_address=bool(data.get("has_timeout_address", False)),
            expected_start=_day(data.get("expected_start")),
            reason=data.get("reason"),
            request_day=_day(data.get("request_day")),
            placement_version=int(data.get("placement_version", 0)),
            waiting_version=int(data.get("waiting_version", 0)),
            closed=bool(data.get("closed", False)),
            closed_by=data.get("closed_by"),
            stopped=set(data.get("stopped", [])),
            acked=dict(data.get("acked", {})),
            fired=set(data.get("fired", [])),
            bases={k: _dt(v) for k, v in data.get("bases", {}).items()},
        )
        cs.timers = {n.key: n for n in map(Notice.from_json, data.get("timers", []))}
        return cs


def _placement_json(p: Placement | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "start": p.start.isoformat(),
        "end": p.end.isoformat(),
        "group": p.group,
        "location": p.location,
        "therapist": p.therapist,
        "trajectbegeleider": p.trajectbegeleider,
    }


def _placement_of(p: dict[str, Any] | None) -> Placement | None:
    if p is None:
        return None
    return Placement(
        date.fromisoformat(p["start"]),
        date.fromisoformat(p["end"]),
        p["group"],
        p["location"],
        p.get("therapist"),
        p.get("trajectbegeleider"),
    )


def _stored(value: Any) -> Any:
    """A fact's value in its stored form: ISO days and times, lists of ids, None for none."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_stored(v) for v in value] or None
    return value


class _Context(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return MISSING


def _fmt(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) or MISSING
    return str(value)


def render(template: str, context: dict[str, str]) -> str:
    return Formatter().vformat(template, (), _Context(context)).strip()


# --- the engine ------------------------------------------------------------------------------


class NotificationEngine:
    def __init__(self, network: Network, rules: Rules | None = None, *, intake_url: str = "") -> None:
        self.index = NetworkIndex(network)
        self.rules = rules if rules is not None else load_rules()
        self.intake_url = intake_url.rstrip("/")  # where messages link to a case's time-out address
        self.wording = Wording(self.index)
        self.calendar: WorkCalendar = self.index.calendar
        self.work_start, self.work_end = network.settings.working_hours
        self._cases: dict[str, CaseState] = {}
        self._heap: list[tuple[datetime, str, str]] = []  # (at, key, case); stale entries skipped

    # -- public API ---------------------------------------------------------------------------

    def handle(self, event: Any, now: datetime) -> list[Notice]:
        """Notices due now for this event; registers, re-times or cancels the case's timers."""
        return self.apply(event, now).notices

    def apply(self, event: Any, now: datetime) -> Outcome:
        """`handle` with everything the live store needs: pending timers and cancelled keys too."""
        case = getattr(event, "case", None)
        if not case:
            return Outcome([], [], [])
        cs = self._cases.get(case)
        if cs is None:
            cs = self._cases[case] = CaseState(case)
        if cs.closed:
            # Facts still count: decisions and case events travel on different topics, so a
            # withdraw may come before the placement that makes the scheduler refuse it.
            self._update(cs, event, now)
            if cs.closed:
                return Outcome([], [], [])
            notices: list[Notice] = []  # reopened by that refusal: its timers come back below
        else:
            # Timers already due fired before this event (a simulation calls due() first; live,
            # the dispatcher sends them): the event must not cancel what is already on its way.
            notices = [n for n in cs.timers.values() if n.at <= now]
            for notice in notices:
                del cs.timers[notice.key]
                cs.fired.add(notice.key)
            self._update(cs, event, now)
        for rule in self.rules.scheduled:
            if any(self._matches(m, event, cs, now) for m in rule.stop_on):
                cs.stopped.add(rule.name)
        if not cs.closed:
            for rule in self.rules.immediate:
                if any(self._matches(m, event, cs, now) for m in rule.trigger or ()):
                    notices += self._immediate(cs, rule, event, now)
        if isinstance(event, ev.CaseWaitlisted):
            cs.cancelled = None  # its waitlisting told whoever it concerns that the placement is off
        cs.former = None
        before = cs.timers
        after = self._derive(cs, now)
        cancelled = sorted(set(before) - set(after))
        for key, notice in after.items():
            if key in before:
                if before[key].at != notice.at:
                    heapq.heappush(self._heap, (notice.at, key, case))
                continue
            if notice.at <= now:  # overdue when it first became known: fires now, or never
                cs.fired.add(key)
                if notice.at == now or self.rules[notice.kind].late != "skip":
                    notices.append(replace(notice, at=now))
                continue
            heapq.heappush(self._heap, (notice.at, key, case))
        cs.timers = {k: n for k, n in after.items() if k not in cs.fired}
        return Outcome(sorted(notices), sorted(cs.timers.values()), cancelled)

    def due(self, until: datetime) -> list[Notice]:
        """Fire every timer due at or before `until` (escalation levels included), in time order."""
        fired: list[Notice] = []
        while self._heap and self._heap[0][0] <= until:
            at, key, case = heapq.heappop(self._heap)
            cs = self._cases.get(case)
            notice = cs.timers.get(key) if cs else None
            if cs is None or notice is None or notice.at != at:
                continue  # cancelled or re-timed since it was pushed
            del cs.timers[key]
            cs.fired.add(key)
            fired.append(notice)
        return sorted(fired)

    def pending(self, case: str | None = None) -> list[Notice]:
        """Timers not fired yet, of one case or all."""
        if case is None:
            return sorted(n for cs in self._cases.values() for n in cs.timers.values())
        cs = self._cases.get(case)
        return sorted(cs.timers.values()) if cs else []

    def parties(self, case: str) -> Parties | None:
        """The case's home region, referrer, therapist and trajectbegeleider as known now."""
        cs = self._cases.get(case)
        if cs is None:
            return None
        return Parties(cs.home_region, cs.referrer, cs.therapist, cs.trajectbegeleider)

    def ack(self, alert_key: str, by: str, now: datetime) -> None:
        """Acknowledge an alert (or the alert of a notice key): its remaining levels never fire."""
        for cs in self._cases.values():
            alert = self._alert_of(cs, alert_key)
            if alert is None:
                continue
            cs.acked.setdefault(alert, by)
            cs.timers = {k: n for k, n in cs.timers.items() if n.alert != alert}
            return

    def snapshot(self) -> dict[str, Any]:
        return {"version": 1, "cases": {c: cs.to_json() for c, cs in sorted(self._cases.items())}}

    def restore(self, data: dict[str, Any]) -> None:
        self._cases = {}
        self._heap = []
        for case, state in data.get("cases", {}).items():
            self.restore_case(case, state)

    def snapshot_case(self, case: str) -> dict[str, Any] | None:
        cs = self._cases.get(case)
        return cs.to_json() if cs else None

    def restore_case(self, case: str, data: dict[str, Any] | None) -> None:
        """Load one case's state (None: forget it), as the live store does around each event."""
        self._cases.pop(case, None)
        if data is None:
            return
        cs = self._cases[case] = CaseState.from_json(data)
        if "told" not in data:
            self._told_before(cs)
        for notice in cs.timers.values():
            heapq.heappush(self._heap, (notice.at, notice.key, case))

    def forget(self, case: str) -> None:
        self._cases.pop(case, None)
        self._heap = [entry for entry in self._heap if entry[2] != case]
        heapq.heapify(self._heap)

    # -- facts from events --------------------------------------------------------------------

    def _update(self, cs: CaseState, event: Any, now: datetime) -> None:
        match event:
            case ev.ReferralRegistered():
                cs.kind, cs.urgency = event.kind, event.urgency
                cs.home_region, cs.referrer = event.home_region, event.referrer
                cs.referral_at = event.occurred_at
                cs.earliest_start = event.earliest_start
                cs.has_timeout_address = event.has_timeout_address
                if event.machtiging is not None:
                    cs.machtiging = (event.machtiging.valid_from, event.machtiging.valid_until)
            case ev.MachtigingGranted():
                cs.machtiging = (event.valid_from, event.valid_until)  # a renewal replaces it
            case ev.PlacementPlanned():
                cs.kind = event.kind
                cs.home_region = cs.home_region or event.home_region
                cs.referrer = cs.referrer or event.referrer
                placement = Placement(
                    event.start,
                    event.end,
                    event.group,
                    event.location,
                    event.mst_therapist,
                    event.trajectbegeleider,
                )
                if event.change != "discharged" and placement != cs.placement:
                    # A distinct version: announced even when it equals an earlier one (moved back).
                    cs.placement_version += 1
                    cs.cancelled = None
                    self._forget(cs, WAIT_FACTS)
                cs.placement = placement
            case ev.PlacementCancelled():
                cs.cancelled = cs.placement or cs.cancelled
                cs.placement = None
                cs.waiting_version += 1
                self._forget(cs, PLACEMENT_FACTS | MEETING_FACTS)
                if cs.meeting is not None:  # the startgesprek goes with it
                    cs.former = replace(cs.meeting, sequence=cs.meeting.sequence + 1, method="CANCEL")
                    cs.meeting = None
            case ev.CaseWaitlisted():
                cs.expected_start, cs.reason = event.expected_start, event.reason
            case ev.StartgesprekPlanned():
                new = Meeting(event.start, event.end, event.place, tuple(event.attendees), event.sequence)
                if cs.meeting is not None:
                    dropped = tuple(a for a in cs.meeting.attendees if a not in new.attendees)
                    cs.former = replace(
                        cs.meeting, attendees=dropped, sequence=event.sequence, method="CANCEL"
                    )
                cs.meeting = new
            case ev.StartgesprekCancelled():
                if cs.meeting is not None:
                    cs.former = replace(cs.meeting, sequence=event.sequence, method="CANCEL")
                cs.meeting = None
                self._forget(cs, MEETING_FACTS)
            case ev.TimeoutAssigned():
                cs.timeout = Timeout(event.start, event.end, event.group, event.location)
                cs.therapist_hint = event.mst_therapist or cs.therapist_hint
                cs.trajectbegeleider_hint = event.trajectbegeleider or cs.trajectbegeleider_hint
            case ev.RequestRefused():
                if (
                    event.event == "withdraw"
                    and event.reason == "already_started"
                    and cs.closed_by == "withdraw"
                ):
                    cs.closed, cs.closed_by = False, None  # the trajectory goes on after all
                cs.reason = event.reason
                cs.request_day = event.at.date()
                cs.therapist_hint = event.mst_therapist or cs.therapist_hint
                cs.home_region = cs.home_region or event.home_region
            case ev.DischargeReported():
                # SCENARIO.md: it counts while the stay runs; the stay then ends on its date
                p = cs.placement
                if p and p.start <= event.occurred_at.date() < p.end and event.date > p.start:
                    p.end = event.date
            case ev.ReferralWithdrawn():
                # refused (already_started) once the placement started: the trajectory goes on
                started = cs.placement and cs.placement.start <= event.occurred_at.date()
                if not started and cs.closed_by != "close":  # a close stays final
                    cs.closed, cs.closed_by = True, "withdraw"
            case ev.CaseClosed():
                cs.closed, cs.closed_by = True, "close"

    # -- conditions ---------------------------------------------------------------------------

    def _holds(self, cs: CaseState, predicate: str, moment: datetime) -> bool:
        day, p = moment.date(), cs.placement
        match predicate:
            case "placed":
                return p is not None
            case "started":
                return p is not None and p.start <= day
            case "not_started":
                return p is None or p.start > day
            case "in_stay":
                return p is not None and p.start <= day < p.end
            case "has_therapist":
                return cs.therapist is not None
            case "timeout_on_group":
                spec = KINDS.get(cs.kind) if cs.kind else None
                return spec is not None and spec.timeout_on_group
        raise ValueError(f"unknown predicate {predicate!r}")

    def _matches(self, matcher: Matcher, event: Any, cs: CaseState, now: datetime) -> bool:
        return matcher.matches(event) and all(self._holds(cs, p, now) for p in matcher.if_)

    # -- recipients ---------------------------------------------------------------------------

    def _resolve(self, cs: CaseState, roles: Iterable[str]) -> dict[str, set[str]]:
        """Person id -> the roles through which they receive it; roles resolving to nobody are skipped."""
        out: dict[str, set[str]] = {}
        region = cs.home_region
        for role in roles:
            people: list[str] = []
            match role:
                case "coordinators":
                    people = self.index.coordinators(region) if region else []
                case "home_supervisors":
                    people = self.index.supervisors(region) if region else []
                case "referrer":
                    people = [cs.referrer] if cs.referrer else []
                case "therapist":
                    people = [cs.therapist] if cs.therapist else []
                case "trajectbegeleider":
                    people = [cs.trajectbegeleider] if cs.trajectbegeleider else []
                case "therapist_supervisor":
                    supervisor = self.index.supervisor_of(cs.therapist)
                    if supervisor:
                        people = [supervisor]
                    else:  # no therapist (yet): the coordinators of the home region stand in
                        people = self.index.coordinators(region) if region else []
                case "attendees":
                    people = list(cs.meeting.attendees) if cs.meeting else []
                case "former_attendees":
                    people = list(cs.former.attendees) if cs.former else []
            for person in people:
                out.setdefault(person, set()).add(role)
        return out

    # -- notices ------------------------------------------------------------------------------

    def _facts(self, cs: CaseState, meeting: Meeting | None) -> dict[str, str]:
        p, t, m = cs.placement, cs.timeout, cs.machtiging
        return {
            "case": cs.case,
            "kind": _fmt(cs.kind),
            "urgency": _fmt(cs.urgency),
            "home_region": _fmt(cs.home_region),
            "referrer": _fmt(cs.referrer),
            "group": _fmt(p.group if p else None),
            "location": _fmt(p.location if p else None),
            "start": _fmt(p.start if p else None),
            "end": _fmt(p.end if p else None),
            "mst_therapist": _fmt(cs.therapist),
            "trajectbegeleider": _fmt(cs.trajectbegeleider),
            "expected_start": _fmt(cs.expected_start),
            "placement_version": str(cs.placement_version),
            "waiting_version": str(cs.waiting_version),
            "reason": _fmt(cs.reason),
            "meeting_start": _fmt(meeting.start if meeting else None),
            "meeting_end": _fmt(meeting.end if meeting else None),
            "place": _fmt(meeting.place if meeting else None),
            "attendees": _fmt(meeting.attendees if meeting else None),
            "sequence": _fmt(meeting.sequence if meeting else None),
            "valid_from": _fmt(m[0] if m else None),
            "valid_until": _fmt(m[1] if m else None),
            "lapse_date": _fmt(lapse_date(m[0]) if m else None),
            "timeout_start": _fmt(t.start if t else None),
            "timeout_end": _fmt(t.end if t else None),
            "timeout_group": _fmt(t.group if t else None),
            "timeout_location": _fmt(t.location if t else None),
        }

    def _values(self, cs: CaseState, meeting: Meeting | None) -> dict[str, Any]:
        """Every fact a message shows (rules.FACT_KINDS), in its stored form; None when the case has none."""
        p, t, m, c = cs.placement, cs.timeout, cs.machtiging, cs.cancelled
        region = cs.home_region
        within = self.index.settings.startgesprek_within_working_days
        values: dict[str, Any] = {
            "kind": cs.kind,
            "urgency": cs.urgency,
            "home_region": region,
            "referrer": cs.referrer,
            "coordinators": self.index.coordinators(region) if region else None,
            "group": p.group if p else None,
            "location": p.location if p else None,
            "start": p.start if p else None,
            "end": p.end if p else None,
            "mst_therapist": cs.therapist,
            "trajectbegeleider": cs.trajectbegeleider,
            "earliest_start": cs.earliest_start,
            "startgesprek_by": self.calendar.add_working_days(p.start, within) if p else None,
            "expected_start": cs.expected_start,
            "reason": reason_code(cs.reason),
            "request_day": cs.request_day,
            "cancelled_group": c.group if c else None,
            "cancelled_start": c.start if c else None,
            "meeting_start": meeting.start if meeting else None,
            "meeting_end": meeting.end if meeting else None,
            "place": meeting.place if meeting else None,
            "attendees": meeting.attendees if meeting else None,
            "valid_from": m[0] if m else None,
            "valid_until": m[1] if m else None,
            "lapse_date": lapse_date(m[0]) if m else None,
            "timeout_start": t.start if t else None,
            "timeout_end": t.end if t else None,
            "timeout_group": t.group if t else None,
            "timeout_location": t.location if t else None,
        }
        return {name: _stored(value) for name, value in values.items()}

    def _shown(self, values: dict[str, Any], lang: Language) -> dict[str, str]:
        unknown = UNKNOWN[lang]
        return {
            name: self.wording.show(kind, values[name], lang) or unknown for name, kind in FACT_KINDS.items()
        }

    def _changes(
        self, cs: CaseState, rule: Rule, person: str, values: dict[str, Any], lang: Language
    ) -> list[str]:
        """What changed since `person` was told this rule's news for the case: a line per tracked fact."""
        before = cs.told.get(rule.name, {}).get(person)
        if not before:
            return []
        lines = []
        for name in rule.tracks:
            if name in before and before[name] != values[name]:
                kind = FACT_KINDS[name]
                old = self.wording.show(kind, before[name], lang) or UNKNOWN[lang]
                new = self.wording.show(kind, values[name], lang) or UNKNOWN[lang]
                lines.append(change_line(name, old, new, lang))
        return lines

    def _forget(self, cs: CaseState, names: frozenset[str]) -> None:
        """What was told about a thing that is gone is no earlier version of what comes next."""
        for people in cs.told.values():
            for person, told in people.items():
                people[person] = {k: v for k, v in told.items() if k not in names}

    def _told_before(self, cs: CaseState) -> None:
        """A state kept before the notifier remembered what it told: take the current facts as told
        to everyone the current alert of each tracking rule reached (its deadline names them)."""
        for rule in self.rules.immediate:
            if not rule.tracks or rule.deadline is None:
                continue
            if any(name not in KEY_FACTS for name in placeholders(rule.deadline)):
                continue  # the deadline needs the event's fields: not known here
            meeting = self._meeting_for(cs, rule)
            prefix = alert_key(rule.name, cs.case, render(rule.deadline, self._facts(cs, meeting))) + "|"
            people = {key[len(prefix) :].split("|")[0] for key in cs.fired if key.startswith(prefix)}
            if people:
                values = self._values(cs, meeting)
                cs.told[rule.name] = {p: {f: values[f] for f in rule.tracks} for p in sorted(people)}

    def _holds_for(self, name: str, cs: CaseState, rule: Rule, level: int, has: set[str]) -> bool:
        """A variant's condition (rules.CONDITIONS), or a fact the notice has."""
        match name:
            case "replaces":
                return "changes" in has
            case "escalated":
                return level > 0
            case "waits_for_machtiging":
                return reason_code(cs.reason) in MACHTIGING_REASONS
            case "placement_cancelled":
                return cs.cancelled is not None
            case "meeting_moved":
                return rule.ical == "cancel" and cs.meeting is not None
        return name in has

    def _address_link(self, cs: CaseState, lang: Language) -> str:
        """Intake's page of the case's time-out address (the address itself never leaves intake)."""
        if not cs.has_timeout_address:
            return NO_ADDRESS[lang]
        return f"{self.intake_url}/v1/cases/{cs.case}/timeout-address"

    def _meeting_for(self, cs: CaseState, rule: Rule) -> Meeting | None:
        if rule.ical == "cancel":
            return cs.former
        return cs.meeting

    def _notices(
        self,
        cs: CaseState,
        rule: Rule,
        alert: str,
        deadline: str,
        at: datetime,
        level: int,
        people: dict[str, set[str]],
        values: dict[str, Any],
        meeting: Meeting | None,
        anchor: date | None = None,
        climb: Climb | None = None,
    ) -> list[Notice]:
        """One notice per person, in the person's language, with the text variant that fits them."""
        out = []
        shown: dict[Language, dict[str, str]] = {}
        known = {name for name, value in values.items() if value is not None}
        for person, via in sorted(people.items()):
            lang = self.wording.language(person)
            if lang not in shown:
                shown[lang] = self._shown(values, lang)
            context = dict(shown[lang])
            has = set(known)
            key = notice_key(alert, person, level, rule.channel)
            context.update(case=cs.case, deadline=deadline, due=format_moment(at, lang), level=str(level))
            context["days_left"] = str((anchor - at.date()).days) if anchor else UNKNOWN[lang]
            if rule.address_to:
                # Privacy: the family's address stays at intake, which shows it to the therapist and
                # their supervisor (audited); only the roles in address_to get the link to it.
                linked = via & set(rule.address_to)
                context["timeout_address_link"] = self._address_link(cs, lang) if linked else WITHHELD[lang]
            changes = self._changes(cs, rule, person, values, lang)
            context["changes"] = "\n".join(changes)
            if changes:
                has.add("changes")
            note, next_at = "", None
            if climb is not None:
                next_at = climb.next_at
                context["next_escalation"] = format_moment(next_at, lang) if next_at else UNKNOWN[lang]
                if next_at is not None:
                    has.add("next_escalation")
                note = escalation_note(
                    [self.wording.person(p) for p in climb.earlier],
                    next_at,
                    [self.wording.person(p) for p in climb.next_people],
                    lang,
                )
            subject, body, actions = rule.subject, rule.body, rule.actions
            for variant in rule.variants:
                if all(self._holds_for(name, cs, rule, level, has) for name in variant.when):
                    subject, body = variant.subject or subject, variant.body or body
                    actions = variant.actions or actions
                    break
            action = self._action(actions, via)
            if action is not None:
                context["action"] = render(action.in_(lang), context)
            text = render(body.in_(lang), context)
            if note:
                text = f"{text}\n\n{note}"
            if rule.act_by == "next_escalation":
                act_by = next_at.isoformat(timespec="minutes") if next_at else None
            else:
                act_by = values.get(rule.act_by) if rule.act_by else None
            out.append(
                Notice(
                    at=at,
                    case=cs.case,
                    kind=rule.name,
                    to=person,
                    channel=rule.channel,
                    level=level,
                    key=key,
                    alert=alert,
                    deadline=deadline,
                    subject=render(subject.in_(lang), context),
                    text=text,
                    urgent=rule.urgent,
                    escalates=rule.escalation is not None,
                    meeting=meeting if rule.ical else None,
                    language=lang,
                    act_by=act_by,
                )
            )
        return out

    @staticmethod
    def _action(actions: dict[str, Text], via: set[str]) -> Text | None:
        """What the reader should do: the first of the actions naming a role they get it through."""
        for role, text in actions.items():
            if role in via:
                return text
        return actions.get("default")

    def _immediate(self, cs: CaseState, rule: Rule, event: Any, now: datetime) -> list[Notice]:
        meeting = self._meeting_for(cs, rule)
        if rule.ical and meeting is None:
            return []
        facts = self._facts(cs, meeting)
        context = dict(facts)
        for name in type(event).model_fields:
            if name not in PRIVATE_EVENT_FIELDS:
                value = getattr(event, name)
                context[name] = fmt_local(value) if isinstance(value, datetime) else _fmt(value)
        deadline = render(rule.deadline or "{occurred_at}", context)
        alert = alert_key(rule.name, cs.case, deadline)
        if alert in cs.acked:
            return []
        values = self._values(cs, meeting)
        notices = []
        for level, roles in rule.levels()[:1]:
            people = self._resolve(cs, roles)
            for notice in self._notices(cs, rule, alert, deadline, now, level, people, values, meeting):
                if notice.key not in cs.fired:
                    cs.fired.add(notice.key)
                    notices.append(notice)
                    if rule.tracks:  # what this person now knows, for the next replacement
                        cs.told.setdefault(rule.name, {})[notice.to] = {f: values[f] for f in rule.tracks}
        return notices

    # -- timers -------------------------------------------------------------------------------

    def _anchor(self, cs: CaseState, name: str) -> tuple[datetime, str, date] | None:
        """(anchor moment, deadline text, anchor day) or None when the case has no such date."""
        value: date | datetime | None = None
        p, m, t = cs.placement, cs.machtiging, cs.timeout
        match name:
            case "referral.at":
                value = cs.referral_at
            case "placement.start":
                value = p.start if p else None
            case "placement.end":
                value = p.end if p else None
            case "startgesprek.start":
                value = cs.meeting.start if cs.meeting else None
            case "startgesprek.end":
                value = cs.meeting.end if cs.meeting else None
            case "machtiging.valid_from":
                value = m[0] if m else None
            case "machtiging.valid_until":
                value = m[1] if m else None
            case "machtiging.lapse":
                value = lapse_date(m[0]) if m else None
            case "timeout.start":
                value = t.start if t else None
            case "timeout.end":
                value = t.end if t else None
        if value is None:
            return None
        if isinstance(value, datetime):
            return value, fmt_local(value), value.date()
        return datetime.combine(value, time()), value.isoformat(), value

    def _add_working_days(self, day: date, n: int) -> date:
        if n >= 0:
            return self.calendar.add_working_days(day, n)
        while n < 0:
            day -= timedelta(1)
            if self.calendar.is_working_day(day):
                n += 1
        return day

    def _first_due(self, rule: Rule, anchor: datetime) -> datetime:
        offset = rule.offset
        if offset is not None and offset.hours is not None:
            return anchor + timedelta(hours=offset.hours)
        day = anchor.date()
        if offset is not None and offset.days:
            day += timedelta(days=offset.days)
        if offset is not None and offset.working_days:
            day = self._add_working_days(day, offset.working_days)
        at = rule.at or "work_start"
        clock = {"work_start": self.work_start, "work_end": self.work_end, "anchor": anchor.time()}.get(at)
        return datetime.combine(day, clock or time.fromisoformat(at))

    def _repeat(self, base: datetime, every: Interval, n: int) -> datetime:
        if n == 0:
            return base
        if every.hours is not None:
            return base + timedelta(hours=every.hours * n)
        if every.days is not None:
            return base + timedelta(days=every.days * n)
        return datetime.combine(
            self._add_working_days(base.date(), (every.working_days or 0) * n), base.time()
        )

    def _derive(self, cs: CaseState, now: datetime) -> dict[str, Notice]:
        """The scheduled rules' pending notices as the case's facts stand now."""
        out: dict[str, Notice] = {}
        if cs.closed:
            return out
        for rule in self.rules.scheduled:
            if rule.name in cs.stopped:
                continue
            found = self._anchor(cs, rule.anchor or "")
            if found is None:
                continue
            anchor, deadline, anchor_day = found
            first = self._first_due(rule, anchor)
            if not all(self._holds(cs, p, first) for p in rule.require):
                continue
            alert = alert_key(rule.name, cs.case, deadline)
            if alert in cs.acked:
                continue
            base = cs.bases.get(alert)
            if base is None:
                if first < now and rule.late == "skip":
                    continue
                base = cs.bases[alert] = max(first, now)
            meeting = self._meeting_for(cs, rule)
            values = self._values(cs, meeting)
            levels = [
                (level, self._repeat(base, rule.escalation.every, level) if rule.escalation else base, people)
                for level, roles in rule.levels()
                for people in [self._resolve(cs, roles)]
            ]
            reached: set[str] = set()  # the chain climbs: a person gets the alert once
            for i, (level, at, people) in enumerate(levels):
                climb = None
                if rule.escalation is not None:
                    seen = reached | set(people)
                    later = [(t, sorted(set(p) - seen)) for _, t, p in levels[i + 1 :]]
                    later = [(t, p) for t, p in later if p]  # the next level that reaches someone new
                    nxt = later[0] if later else (None, [])
                    climb = Climb(tuple(sorted(reached)), nxt[0], tuple(nxt[1]))
                notices = self._notices(
                    cs, rule, alert, deadline, at, level, people, values, meeting, anchor_day, climb
                )
                for notice in notices:
                    if notice.to not in reached and notice.key not in cs.fired:
                        out[notice.key] = notice
                reached |= set(people)
        return out

    def _alert_of(self, cs: CaseState, key: str) -> str | None:
        for notice in cs.timers.values():
            if key in (notice.alert, notice.key):
                return notice.alert
        if key in cs.bases:
            return key
        for fired in cs.fired:
            if fired == key:
                return fired.rsplit("|", 3)[0]
        return None
