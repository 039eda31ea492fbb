"""The notification engine: which person is told what and when, from case events and the rules. Pure code.

The live notifier and `thuisbest simulate` drive this same class. A simulation calls, for every
event in time order, `due(event_time)` and then `handle(event, event_time)`, and finally
`due(end)`. The live notifier feeds each event to `apply()` and stores the outcome (the notices
due now, the timers still pending, the timers cancelled) in PostgreSQL, where its dispatcher
fires the pending ones when they fall due; see `store.py`.

Design: per case, the engine keeps the facts the events told it (placement, its meetings -- the
startgesprek and the kennismakingsgesprek, each by name --, machtiging, the close...). After every
event it *derives* the scheduled rules' timers from those facts and replaces the previous set: a
moved date re-times a timer, a cleared cause removes it, a closed case has none but those anchored
on its close (the follow-up). A rule about several meetings keeps one timer per meeting, stopped per
meeting. Escalation levels are timers too, computed up front from the first level's time, so that
an acknowledgement just removes the remaining levels. Every notice has a dedupe key (rule, case,
deadline, person, level, channel): a key that fired never fires again.

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
from shared.kinds import KINDS, KindSpec, add_months, lapse_date
from shared.network import Network, NetworkIndex
from shared.types import fmt_local
from shared.workdays import WorkCalendar

from .rules import (
    DEFAULT_MEETING,
    FACT_KINDS,
    KEY_FACTS,
    MEETING_ANCHORS,
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
    NO_MST,
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
PLACEMENT_FACTS = frozenset(
    {"start", "end", "group", "location", "mst_therapist", "trajectbegeleider", "nights"}
)
MEETING_FACTS = frozenset({"meeting_start", "meeting_end", "place", "attendees"})
WAIT_FACTS = frozenset({"expected_start", "reason"})


# --- notices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meeting:
    """A meeting (the startgesprek, the kennismakingsgesprek) as the attendees' calendars see it."""

    start: datetime
    end: datetime
    place: str
    attendees: tuple[str, ...]
    sequence: int = 0
    method: str = "REQUEST"  # REQUEST (new or update) or CANCEL
    name: str = DEFAULT_MEETING  # events.MeetingName: which of the case's meetings

    def to_json(self) -> dict[str, Any]:
        return {
            "start": fmt_local(self.start),
            "end": fmt_local(self.end),
            "place": self.place,
            "attendees": list(self.attendees),
            "sequence": self.sequence,
            "method": self.method,
            "name": self.name,
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
            name=data.get("name") or DEFAULT_MEETING,
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


def scope_of(rule: str, meeting: str) -> str:
    """What a rule about several meetings keeps apart per meeting (stopped, told): the rule's name for
    the startgesprek (as before meetings had names), `rule@meeting` for another."""
    return rule if meeting == DEFAULT_MEETING else f"{rule}@{meeting}"


def meeting_of_scope(scope: str) -> str:
    return scope.partition("@")[2] or DEFAULT_MEETING


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
    therapist: str | None  # None for a kind without MST
    trajectbegeleider: str | None
    nights: tuple[str, ...] = ()  # a part-time stay's weekly nights (weekday names); empty: every night


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
    meetings: dict[str, Meeting] = field(default_factory=dict)  # meeting name -> as it stands now
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
    closed_on: date | None = None  # the day of the close (not of a withdraw)
    with_outcome: bool = False  # the close recorded an outcome: a follow-up is due
    stopped: set[str] = field(default_factory=set)  # scheduled rules a stop_on event ended
    acked: dict[str, str] = field(default_factory=dict)  # alert -> who acknowledged it
    fired: set[str] = field(default_factory=set)  # notice keys that fired: never again
    bases: dict[str, datetime] = field(default_factory=dict)  # alert -> time of its level 0
    timers: dict[str, Notice] = field(default_factory=dict)  # pending notice key -> notice
    former: Meeting | None = None  # transient: the meeting version an event just replaced
    # transient: who took over from whom in the handover just announced, (role, before, after)
    handover: tuple[tuple[str, str, str], ...] = ()

    @property
    def meeting(self) -> Meeting | None:
        """The startgesprek as it stands now."""
        return self.meetings.get(DEFAULT_MEETING)

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
            # the startgesprek also where a state from before named meetings kept it (a rollback reads it)
            "meeting": self.meeting.to_json() if self.meeting else None,
            "meetings": {name: mt.to_json() for name, mt in sorted(self.meetings.items())},
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
            "closed_on": self.closed_on.isoformat() if self.closed_on else None,
            "with_outcome": self.with_outcome,
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
            meetings=_meetings_of(data),
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
            closed_on=_day(data.get("closed_on")),
            with_outcome=bool(data.get("with_outcome", False)),
            stopped=set(data.get("stopped", [])),
            acked=dict(data.get("acked", {})),
            fired=set(data.get("fired", [])),
            bases={k: _dt(v) for k, v in data.get("bases", {}).items()},
        )
        cs.timers = {n.key: n for n in map(Notice.from_json, data.get("timers", []))}
        return cs


def _spec(cs: CaseState) -> KindSpec | None:
    """The case's row of the kinds table (shared/kinds.py), None while its kind is unknown."""
    return KINDS.get(cs.kind) if cs.kind else None


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
        "nights": list(p.nights),
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
        tuple(p.get("nights") or ()),
    )


def _meetings_of(data: dict[str, Any]) -> dict[str, Meeting]:
    """The case's meetings by name; a state kept before meetings had names holds the startgesprek only."""
    if "meetings" in data:
        return {name: Meeting.from_json(m) for name, m in (data["meetings"] or {}).items()}
    return {DEFAULT_MEETING: Meeting.from_json(data["meeting"])} if data.get("meeting") else {}


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
        # Timers already due fired before this event (a simulation calls due() first; live, the
        # dispatcher sends them): the event must not cancel what is already on its way.
        notices = [n for n in cs.timers.values() if n.at <= now]
        for notice in notices:
            del cs.timers[notice.key]
            cs.fired.add(notice.key)
        # Facts count also for a closed case: decisions and case events travel on different topics,
        # so a withdraw may come before the placement that makes the scheduler refuse it (and the
        # case is reopened); and a closed case's follow-up still waits for its report.
        self._update(cs, event, now)
        named = getattr(event, "meeting", None)  # the meeting an event is about, if it is about one
        for rule in self.rules.scheduled:
            if any(self._matches(m, event, cs, now) for m in rule.stop_on):
                if not rule.meeting_anchored:
                    cs.stopped.add(rule.name)
                elif named is None:
                    cs.stopped |= {scope_of(rule.name, m) for m in rule.meetings}
                elif named in rule.meetings:  # a meeting's event stops that meeting's timer only
                    cs.stopped.add(scope_of(rule.name, named))
        if not cs.closed:
            for rule in self.rules.immediate:
                if any(self._matches(m, event, cs, now) for m in rule.trigger or ()):
                    notices += self._immediate(cs, rule, event, now)
        if isinstance(event, ev.CaseWaitlisted):
            cs.cancelled = None  # its waitlisting told whoever it concerns that the placement is off
        cs.former, cs.handover = None, ()
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
                # once named (TimeoutAddressNamed) the address stays with intake, whatever comes again
                cs.has_timeout_address = cs.has_timeout_address or event.has_timeout_address
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
                    tuple(event.nights),
                )
                if event.change == "handover":
                    cs.handover = self._handed_over(cs.placement, event)
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
                self._forget(cs, PLACEMENT_FACTS)
                self._forget(cs, MEETING_FACTS, DEFAULT_MEETING)
                startgesprek = cs.meetings.pop(DEFAULT_MEETING, None)
                if startgesprek is not None:  # the startgesprek goes with it (a kennismaking stays)
                    cs.former = replace(startgesprek, sequence=startgesprek.sequence + 1, method="CANCEL")
            case ev.CaseWaitlisted():
                cs.expected_start, cs.reason = event.expected_start, event.reason
            case ev.StartgesprekPlanned():
                new = Meeting(
                    event.start,
                    event.end,
                    event.place,
                    tuple(event.attendees),
                    event.sequence,
                    name=event.meeting,
                )
                old = cs.meetings.get(event.meeting)
                if old is not None:
                    dropped = tuple(a for a in old.attendees if a not in new.attendees)
                    cs.former = replace(old, attendees=dropped, sequence=event.sequence, method="CANCEL")
                cs.meetings[event.meeting] = new
            case ev.StartgesprekCancelled():
                old = cs.meetings.pop(event.meeting, None)
                if old is not None:
                    cs.former = replace(old, sequence=event.sequence, method="CANCEL")
                self._forget(cs, MEETING_FACTS, event.meeting)
            case ev.TimeoutAddressNamed():
                cs.has_timeout_address = True  # the address itself stays with intake
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
                if cs.closed_by != "close":  # a close stays final: a redelivery changes nothing
                    cs.closed, cs.closed_by = True, "close"
                    cs.closed_on, cs.with_outcome = event.occurred_at.date(), event.with_outcome
                    # The trajectbegeleider stays the case's for the follow-up, whatever the
                    # scheduler cancels after the close.
                    cs.trajectbegeleider_hint = cs.trajectbegeleider

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
                spec = _spec(cs)
                return spec is not None and spec.timeout_on_group
            case "has_mst":
                spec = _spec(cs)
                return spec is not None and spec.needs_mst_therapist
            case "timeout_address_expected":
                spec = _spec(cs)
                return spec is not None and spec.timeout_address_expected
            case "no_timeout_address":
                return not cs.has_timeout_address
            case "closed_with_outcome":
                return cs.closed_by == "close" and cs.with_outcome
        raise ValueError(f"unknown predicate {predicate!r}")

    def _matches(self, matcher: Matcher, event: Any, cs: CaseState, now: datetime) -> bool:
        return matcher.matches(event) and all(self._holds(cs, p, now) for p in matcher.if_)

    def _handed_over(
        self, before: Placement | None, event: ev.PlacementPlanned
    ) -> tuple[tuple[str, str, str], ...]:
        """(role, before, after) for each person of `handed_over_from` and the one now in their place:
        the placement as it stood says whose place it was; without it, the person's role does."""
        now = {"mst_therapist": event.mst_therapist, "trajectbegeleider": event.trajectbegeleider}
        was = {
            "mst_therapist": before.therapist if before else None,
            "trajectbegeleider": before.trajectbegeleider if before else None,
        }
        out: list[tuple[str, str, str]] = []
        for person in event.handed_over_from:
            roles = [r for r, p in was.items() if p == person]
            if not roles:
                found = self.index.people.get(person)
                roles = [found.role] if found is not None and found.role in now else []
            for role in roles:
                successor = now[role]
                if successor and successor != person:
                    out.append((role, person, successor))
        return tuple(out)

    # -- recipients ---------------------------------------------------------------------------

    def _resolve(
        self, cs: CaseState, roles: Iterable[str], meeting: str = DEFAULT_MEETING
    ) -> dict[str, set[str]]:
        """Person id -> the roles through which they receive it; roles resolving to nobody are skipped.
        `meeting`: the meeting whose (former) attendees `attendees` (`former_attendees`) are."""
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
                    current = cs.meetings.get(meeting)
                    people = list(current.attendees) if current else []
                case "former_attendees":
                    former = cs.former if cs.former and cs.former.name == meeting else None
                    people = list(former.attendees) if former else []
                case "successors":
                    people = sorted({after for _, _, after in cs.handover})
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
            "nights": p.nights if p and p.nights else None,
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
            "mst_end": self._mst_end(cs),
            "closed_on": cs.closed_on,
            "handover": cs.handover or None,
        }
        return {name: _stored(value) for name, value in values.items()}

    def _mst_end(self, cs: CaseState) -> date | None:
        """The day the case's MST ends: the first day of the stay + mst_weeks (rule 7); None without MST."""
        spec = _spec(cs)
        if cs.placement is None or spec is None or not spec.needs_mst_therapist:
            return None
        return cs.placement.start + timedelta(weeks=self.index.settings.mst_weeks)

    def _shown(self, values: dict[str, Any], lang: Language) -> dict[str, str]:
        unknown = UNKNOWN[lang]
        shown = {
            name: self.wording.show(kind, values[name], lang) or unknown for name, kind in FACT_KINDS.items()
        }
        spec = KINDS.get(str(values["kind"])) if values["kind"] else None
        if values["mst_therapist"] is None and spec is not None and not spec.needs_mst_therapist:
            shown["mst_therapist"] = NO_MST[lang]  # not "not known yet": the kind has no MST
        return shown

    def _changes(
        self,
        cs: CaseState,
        rule: Rule,
        person: str,
        values: dict[str, Any],
        lang: Language,
        meeting: str | None = None,
    ) -> list[str]:
        """What changed since `person` was told this rule's news for the case: a line per tracked fact."""
        scope = scope_of(rule.name, meeting) if meeting is not None else rule.name
        before = cs.told.get(scope, {}).get(person)
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

    def _forget(self, cs: CaseState, names: frozenset[str], meeting: str | None = None) -> None:
        """What was told about a thing that is gone is no earlier version of what comes next (a
        meeting's: only what was told about that meeting)."""
        for scope, people in cs.told.items():
            if meeting is not None and meeting_of_scope(scope) != meeting:
                continue
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
            meeting = self._meeting_for(cs, rule, DEFAULT_MEETING)
            prefix = alert_key(rule.name, cs.case, render(rule.deadline, self._facts(cs, meeting))) + "|"
            people = {key[len(prefix) :].split("|")[0] for key in cs.fired if key.startswith(prefix)}
            if people:
                values = self._values(cs, meeting)
                cs.told[rule.name] = {p: {f: values[f] for f in rule.tracks} for p in sorted(people)}

    def _holds_for(
        self, name: str, cs: CaseState, rule: Rule, level: int, has: set[str], meeting: Meeting | None
    ) -> bool:
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
                return rule.ical == "cancel" and meeting is not None and meeting.name in cs.meetings
            case "kennismaking":
                return meeting is not None and meeting.name == name
        return name in has

    def _address_link(self, cs: CaseState, lang: Language) -> str:
        """Intake's page of the case's time-out address (the address itself never leaves intake)."""
        if not cs.has_timeout_address:
            return NO_ADDRESS[lang]
        return f"{self.intake_url}/v1/cases/{cs.case}/timeout-address"

    def _meeting_for(self, cs: CaseState, rule: Rule, name: str) -> Meeting | None:
        """The meeting `name` as the rule tells about it: as it was (a cancel), or as it stands."""
        if rule.ical == "cancel":
            return cs.former if cs.former is not None and cs.former.name == name else None
        return cs.meetings.get(name)

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
            changes = self._changes(cs, rule, person, values, lang, meeting.name if meeting else None)
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
                if all(self._holds_for(name, cs, rule, level, has, meeting) for name in variant.when):
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
        # The meeting the event is about (a cancelled placement's: the startgesprek that went with it);
        # a rule about other meetings stays silent.
        named: str | None = getattr(event, "meeting", None)
        if named is None and rule.ical == "cancel" and cs.former is not None:
            named = cs.former.name
        if named is not None and named not in rule.meetings:
            return []
        meeting = self._meeting_for(cs, rule, named or rule.meetings[0])
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
            people = self._resolve(cs, roles, named or rule.meetings[0])
            scope = scope_of(rule.name, meeting.name if meeting else DEFAULT_MEETING)
            for notice in self._notices(cs, rule, alert, deadline, now, level, people, values, meeting):
                if notice.key not in cs.fired:
                    cs.fired.add(notice.key)
                    notices.append(notice)
                    if rule.tracks:  # what this person now knows, for the next replacement
                        cs.told.setdefault(scope, {})[notice.to] = {f: values[f] for f in rule.tracks}
        return notices

    # -- timers -------------------------------------------------------------------------------

    def _anchor(self, cs: CaseState, name: str, meeting: str) -> tuple[datetime, str, date] | None:
        """(anchor moment, deadline text, anchor day) or None when the case has no such date.
        `meeting`: the meeting a meeting anchor names."""
        value: date | datetime | None = None
        p, m, t = cs.placement, cs.machtiging, cs.timeout
        held = cs.meetings.get(meeting)
        match name:
            case "referral.at":
                value = cs.referral_at
            case "placement.start":
                value = p.start if p else None
            case "placement.end":
                value = p.end if p else None
            case "startgesprek.start" | "meeting.start":
                value = held.start if held else None
            case "startgesprek.end" | "meeting.end":
                value = held.end if held else None
            case "mst.end":
                value = self._mst_end(cs)
            case "case.closed":
                value = cs.closed_on if cs.closed_by == "close" else None
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
            deadline = fmt_local(value)
            if name in MEETING_ANCHORS and meeting != DEFAULT_MEETING:
                # two meetings of a case may share a time (one cancelled, the other planned in its slot)
                deadline = f"{meeting}@{deadline}"
            return value, deadline, value.date()
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
        if offset is not None and offset.months:
            day = add_months(day, offset.months)
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
        if every.months is not None:
            return datetime.combine(add_months(base.date(), every.months * n), base.time())
        return datetime.combine(
            self._add_working_days(base.date(), (every.working_days or 0) * n), base.time()
        )

    def _derive(self, cs: CaseState, now: datetime) -> dict[str, Notice]:
        """The scheduled rules' pending notices as the case's facts stand now."""
        out: dict[str, Notice] = {}
        for rule in self.rules.scheduled:
            if cs.closed and rule.anchor != "case.closed":
                continue  # a closed or withdrawn case stops every timer but those about its close
            if not rule.meeting_anchored:
                if rule.name not in cs.stopped:
                    self._derive_rule(cs, rule, rule.meetings[0], now, out)
                continue
            for name in rule.meetings:  # one timer per meeting, each stopped on its own
                if scope_of(rule.name, name) not in cs.stopped:
                    self._derive_rule(cs, rule, name, now, out)
        return out

    def _derive_rule(
        self, cs: CaseState, rule: Rule, name: str, now: datetime, out: dict[str, Notice]
    ) -> None:
        """The pending notices of one scheduled rule (about meeting `name`), into `out`."""
        found = self._anchor(cs, rule.anchor or "", name)
        if found is None:
            return
        anchor, deadline, anchor_day = found
        first = self._first_due(rule, anchor)
        if not all(self._holds(cs, p, first) for p in rule.require):
            return
        alert = alert_key(rule.name, cs.case, deadline)
        if alert in cs.acked:
            return
        base = cs.bases.get(alert)
        if base is None:
            if first < now and rule.late == "skip":
                return
            base = cs.bases[alert] = max(first, now)
        meeting = self._meeting_for(cs, rule, name)
        values = self._values(cs, meeting)
        levels = [
            (level, self._repeat(base, rule.escalation.every, level) if rule.escalation else base, people)
            for level, roles in rule.levels()
            for people in [self._resolve(cs, roles, name)]
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
