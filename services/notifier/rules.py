"""The notification rules as data: load `rules.yaml`, validate it, and name the rule and key of every mistake.

A rule is one of two sorts:

* **immediate** (`trigger`): fires when a matching event arrives, to the resolved recipients;
* **scheduled** (`anchor` + `offset`): a durable timer at a date or time taken from the case's
  state (a meeting's start, a stay's end, a machtiging's end...), re-timed when that date moves,
  removed when a `require` condition no longer holds or a `stop_on` event arrived, optionally
  escalating level by level until acknowledged.

A rule is about the startgesprek unless it lists other `meetings` (the kennismakingsgesprek): its
attendees, meeting facts and meeting.* anchors then name each of them in turn.

Texts are data too: `subject` and `body` per language (`{nl: ..., en: ...}`, a plain string serving
both), `variants` for when conditions hold, `actions` per role (what the reader should do), `tracks`
(what a replacement message reports as changed) and `act_by` (the date the reader acts by). Each
text is checked at load: known facts only, never identity data or bookkeeping, a subject that names
the case.

Adding a rule that combines the vocabularies below needs no code change.
"""

from __future__ import annotations

import re
import string
import types
from datetime import time
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared import events as ev

from .texts import CHANGE_LABELS, LANGUAGES, Language

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")

# --- vocabularies --------------------------------------------------------------------------

ROLES: dict[str, str] = {
    "coordinators": "the coordinators whose regions include the case's home region",
    "home_supervisors": "the MST supervisors of the case's home region",
    "referrer": "the case's referrer",
    "therapist": "the case's MST therapist",
    "trajectbegeleider": "the case's trajectbegeleider",
    "therapist_supervisor": "the supervisor of the case's therapist (the coordinators when there is none)",
    "attendees": "the attendees of the rule's meeting as it stands (`meetings`: the startgesprek by default)",
    "former_attendees": "attendees dropped from, or of, the rule's meeting just moved or cancelled",
    "successors": (
        "the people who just took over a running case in a handover (PlacementPlanned change handover:"
        " those now named in place of the people in handed_over_from)"
    ),
}
Role = Literal[
    "coordinators",
    "home_supervisors",
    "referrer",
    "therapist",
    "trajectbegeleider",
    "therapist_supervisor",
    "attendees",
    "former_attendees",
    "successors",
]

ANCHORS: dict[str, str] = {
    "referral.at": "when the referral was registered",
    "placement.start": "the first day of the stay",
    "placement.end": "the (planned or reported) day the youth goes home",
    "startgesprek.start": "the start of the current startgesprek",
    "startgesprek.end": "the end of the current startgesprek",
    "meeting.start": "the start of the rule's meeting (each of its `meetings` in turn: one timer each)",
    "meeting.end": "the end of the rule's meeting (each of its `meetings` in turn: one timer each)",
    "mst.end": "the day the case's MST ends (the first day of the stay + the network's mst_weeks weeks)",
    "case.closed": "the day the case was closed (a rule anchored here outlives the close; no other does)",
    "machtiging.valid_from": "the first day of the current machtiging",
    "machtiging.valid_until": "the last day of the current machtiging",
    "machtiging.lapse": "the day an unexecuted machtiging lapses (valid_from + 3 months)",
    "timeout.start": "the first day of the current time-out",
    "timeout.end": "the day the current time-out ends",
}
Anchor = Literal[
    "referral.at",
    "placement.start",
    "placement.end",
    "startgesprek.start",
    "startgesprek.end",
    "meeting.start",
    "meeting.end",
    "mst.end",
    "case.closed",
    "machtiging.valid_from",
    "machtiging.valid_until",
    "machtiging.lapse",
    "timeout.start",
    "timeout.end",
]

PREDICATES: dict[str, str] = {
    "placed": "a placement is decided",
    "started": "the placement has started (start <= the day in question)",
    "not_started": "no placement has started by the day in question",
    "in_stay": "the youth stays on the group that day (start <= day < end)",
    "has_therapist": "the case has an MST therapist",
    "timeout_on_group": (
        "the case's kind serves a time-out with a stay on a group (shared/kinds.py; not while the kind"
        " is unknown)"
    ),
    "has_mst": "the case's kind has MST (shared/kinds.py: needs_mst_therapist; not while it is unknown)",
    "timeout_address_expected": (
        "the case's kind has the family name a time-out address in its informal network (shared/kinds.py)"
    ),
    "no_timeout_address": "intake holds no time-out address of the family (none at referral, none since)",
    "closed_with_outcome": "the case was closed with an outcome recorded (a follow-up is due)",
}
Predicate = Literal[
    "placed",
    "started",
    "not_started",
    "in_stay",
    "has_therapist",
    "timeout_on_group",
    "has_mst",
    "timeout_address_expected",
    "no_timeout_address",
    "closed_with_outcome",
]
# Anchors that name a meeting: a rule anchored on one runs once per meeting in its `meetings`.
MEETING_ANCHORS = frozenset({"startgesprek.start", "startgesprek.end", "meeting.start", "meeting.end"})
# The meeting a rule is about when it names none, and the only one the startgesprek.* anchors name.
DEFAULT_MEETING: ev.MeetingName = "startgesprek"
MEETINGS: tuple[str, ...] = get_args(ev.MeetingName)

# What message templates may use. Each is shown in the reader's language (`Person.language`): dates as
# "ma 7 dec 2026" / "Mon 7 Dec 2026", people by name, groups with their location, reasons in plain
# words; a value the case does not have reads "nog niet bekend" / "not known yet".
FACTS: dict[str, str] = {
    "case": "the case reference (pseudonymous: never a name)",
    "kind": "the trajectory kind, in words",
    "urgency": "normal, urgent or crisis, in words",
    "home_region": "the home region's name",
    "referrer": "the referrer's name",
    "coordinators": "the names of the coordinators of the case's home region",
    "group": "the group of the stay, with its location: De Kreek (Ossendrecht)",
    "location": "the location of the stay",
    "start": "the first day of the stay",
    "end": "the day the stay ends (the youth goes home)",
    "nights": "a part-time stay's nights on the group, every week (weekday names); none for a full-time stay",
    "mst_therapist": "the MST therapist's name",
    "trajectbegeleider": "the trajectbegeleider's name",
    "earliest_start": "the referral's earliest (desired) start",
    "startgesprek_by": "the last day the startgesprek may be held (start + the working days allowed)",
    "expected_start": "the expected start of a waitlisted case",
    "placement_version": "how many distinct placements the case was announced (a move back counts again)",
    "waiting_version": "how many times the case went (back) to the waiting list",
    "reason": "why the case waits (or a request was refused), in plain words",
    "request_day": "the day of the request a refusal answers (a time-out asked for that day...)",
    "cancelled_group": "the group of the placement that was just cancelled",
    "cancelled_start": "the start of the placement that was just cancelled",
    "meeting_start": "the meeting's day and time (the rule's meeting: the startgesprek by default)",
    "meeting_end": "the time the meeting ends",
    "place": "where the meeting is held (the location's name, or at the family's home)",
    "attendees": "the meeting's attendees, by name and role",
    "sequence": "the meeting's iCalendar SEQUENCE",
    "valid_from": "the current machtiging's first day",
    "valid_until": "the current machtiging's last day",
    "lapse_date": "the day an unexecuted machtiging lapses",
    "timeout_start": "the first day of the time-out",
    "timeout_end": "the day the time-out ends",
    "timeout_group": "the group of the time-out, with its location",
    "timeout_location": "the location of the time-out",
    "mst_end": "the day the case's MST ends (the first day of the stay + mst_weeks weeks)",
    "closed_on": "the day the case was closed",
    "handover": "who took over from whom in a handover, and as what (MST therapist, trajectbegeleider)",
    "timeout_address_link": (
        "the link to the family's time-out address at intake, which shows it to the case's therapist"
        " and their supervisor only (in the messages of the roles in address_to; the others read"
        " that the therapist has it)"
    ),
    "changes": "what changed since this person was told this rule's news last, a line per tracked fact",
    "action": "what the reader should do: the rule's `actions` text for the reader's role",
    "next_escalation": "when an escalating alert goes to the next level if nobody acknowledges it",
    "deadline": "what the alert is about: its date, or the event's identity",
    "due": "when the notice is due",
    "level": "the escalation level (0 for the first notice)",
    "days_left": "days from the notice to the anchor date (scheduled rules)",
}

# How each fact's value is kept and shown (texts.Wording.show); a rule may `track` these.
FACT_KINDS: dict[str, str] = {
    "kind": "kind",
    "urgency": "urgency",
    "home_region": "region",
    "referrer": "person",
    "coordinators": "people",
    "group": "group",
    "location": "location",
    "start": "day",
    "end": "day",
    "nights": "nights",
    "mst_therapist": "person",
    "trajectbegeleider": "person",
    "earliest_start": "day",
    "startgesprek_by": "day",
    "expected_start": "day",
    "reason": "reason",
    "request_day": "day",
    "cancelled_group": "group",
    "cancelled_start": "day",
    "meeting_start": "moment",
    "meeting_end": "time",
    "place": "location",
    "attendees": "attendees",
    "valid_from": "day",
    "valid_until": "day",
    "lapse_date": "day",
    "timeout_start": "day",
    "timeout_end": "day",
    "timeout_group": "group",
    "timeout_location": "location",
    "mst_end": "day",
    "closed_on": "day",
    "handover": "handover",
}
# The facts a replacement message can report as changed (labels in texts.CHANGE_LABELS).
TRACKABLE = tuple(f for f in FACT_KINDS if f in CHANGE_LABELS)
# The facts an `act_by` may name: a day or a time by which the reader acts.
ACT_BY = (*(f for f, k in FACT_KINDS.items() if k in ("day", "moment")), "next_escalation")
# Bookkeeping for dedupe keys (`deadline`): a message never shows it.
INTERNAL_FACTS = frozenset({"placement_version", "waiting_version", "sequence", "deadline"})
# What a `deadline` template may use besides the event's fields: the facts as stored (ISO dates, ids).
KEY_FACTS = (
    "case",
    "kind",
    "urgency",
    "home_region",
    "referrer",
    "group",
    "location",
    "start",
    "end",
    "mst_therapist",
    "trajectbegeleider",
    "expected_start",
    "placement_version",
    "waiting_version",
    "reason",
    "meeting_start",
    "meeting_end",
    "place",
    "attendees",
    "sequence",
    "valid_from",
    "valid_until",
    "lapse_date",
    "timeout_start",
    "timeout_end",
    "timeout_group",
    "timeout_location",
)
# Words that name a person of the family or the youth: never a placeholder (the notifier has none).
IDENTITY_WORDS = ("name", "birth", "born", "address", "bsn", "phone", "youth", "family", "parent")

# When a variant of a rule's text applies (all of its `when` must hold; the first variant that fits
# wins, else the rule's own subject and body). A fact's name holds when the case has that fact.
CONDITIONS: dict[str, str] = {
    "replaces": "the reader was told this rule's news for the case before, and a tracked fact changed",
    "escalated": "the notice is an escalation (level 1 or higher)",
    "waits_for_machtiging": "the case waits because no (valid) machtiging allows a stay",
    "placement_cancelled": "the case's announced placement was cancelled and it waits again",
    "meeting_moved": "a meeting cancelled for the reader still takes place, moved or without them",
    "kennismaking": "the rule's meeting is the kennismakingsgesprek (the intro meeting after the referral)",
}

# Event fields never usable in a template: derived from identity data or free text.
PRIVATE_EVENT_FIELDS = frozenset(
    {"eligible_from", "eligible_until", "explanation", "address", "conflicts_with", "event_id"}
)


def _event_models() -> dict[str, type[ev.EventBase]]:
    models: dict[str, type[ev.EventBase]] = {}
    for value in vars(ev).values():
        if isinstance(value, type) and issubclass(value, ev.EventBase) and value is not ev.EventBase:
            models[str(value.model_fields["type"].default)] = value
    return models


EVENT_MODELS = _event_models()
EVENT_TYPES = tuple(sorted(EVENT_MODELS))


def placeholders(template: str) -> list[str]:
    """The `{names}` a str.format template uses (fails with ValueError on a malformed one)."""
    names = []
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(f"placeholder {{{field}}} must be a plain name")
        if spec or conversion:
            raise ValueError(f"placeholder {{{field}}} may not carry a format spec or conversion")
        names.append(field)
    return names


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, rule and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Interval(_Strict):
    """Exactly one of hours, days (calendar), working_days (weekends and holidays skipped) or months
    (calendar months: 31 August + 6 months is 28 or 29 February)."""

    hours: float | None = None
    days: int | None = None
    working_days: int | None = None
    months: int | None = None

    @model_validator(mode="after")
    def _one(self) -> Interval:
        given = [k for k in ("hours", "days", "working_days", "months") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of hours, days, working_days, months (got {given or 'none'})")
        return self

    @property
    def is_zero(self) -> bool:
        return not (self.hours or self.days or self.working_days or self.months)


# A filter value on an event field: one word, so that it can match a reason's leading code.
_FILTER_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _fixed_values(annotation: Any) -> tuple[str, ...] | None:
    """The values a field can take as a filter compares them (Literal, bool), or None when open (str...)."""
    if annotation is bool:
        return ("True", "False")
    origin = get_origin(annotation)
    if origin is Literal:
        return tuple(str(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        found: list[str] = []
        for arg in get_args(annotation):
            if arg is type(None):
                continue
            values = _fixed_values(arg)
            if values is None:
                return None
            found += values
        return tuple(found)
    return None


class Matcher(_Strict):
    """An event type, optional filters on its fields, optional conditions on the case's state.

    A filter lists the values a field may have; a value matches when it equals one of them or when it
    starts with one of them followed by ':' (a code with its explanation: `reason: no_bed` matches
    "no_bed: the bed is taken after the planned end"). A field named like a matcher key (`event`,
    `if`) is filtered under `when:` ({event: request_refused, when: {event: timeout_request}}).
    """

    event: str
    when: dict[str, list[str]] = {}
    if_: list[Predicate] = Field(default=[], alias="if")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `placement_planned` or {event: placement_planned, change: [new, moved], if: [started]}
        if isinstance(data, str):
            return {"event": data}
        if isinstance(data, dict):
            filters = {k: v for k, v in data.items() if k not in ("event", "if", "when")}
            out = {k: v for k, v in data.items() if k in ("event", "if")}
            given = data.get("when") or {}
            if not isinstance(given, dict):
                return data  # the field validation reports it
            when: dict[str, Any] = {}
            for name, value in {**given, **filters}.items():
                values = value if isinstance(value, list) else [value]
                when[name] = [str(v) for v in values]
            out["when"] = when
            return out
        return data

    @model_validator(mode="after")
    def _known(self) -> Matcher:
        model = EVENT_MODELS.get(self.event)
        if model is None:
            raise ValueError(f"unknown event {self.event!r} (known: {', '.join(EVENT_TYPES)})")
        for name, values in self.when.items():
            field = model.model_fields.get(name)
            if field is None or name in PRIVATE_EVENT_FIELDS:
                raise ValueError(f"event {self.event} has no field {name!r} to filter on")
            if not values:
                raise ValueError(f"filter {name!r} lists no value")
            fixed = _fixed_values(field.annotation)
            for value in values:
                if fixed is not None and value not in fixed:
                    raise ValueError(
                        f"filter {name!r}: {self.event} never has {value!r} (known: {', '.join(fixed)})"
                    )
                if not _FILTER_VALUE.fullmatch(value):
                    raise ValueError(
                        f"filter {name!r}: {value!r} is not one word (a code such as no_bed; it also"
                        " matches the code's explanation after a ':')"
                    )
        return self

    def matches(self, event: Any) -> bool:
        if getattr(event, "type", None) != self.event:
            return False
        return all(self._fits(getattr(event, name, None), values) for name, values in self.when.items())

    @staticmethod
    def _fits(value: Any, values: list[str]) -> bool:
        if str(value) in values:
            return True
        return isinstance(value, str) and ev.reason_code(value) in values


class Escalation(_Strict):
    """Levels 1..max_levels, `every` apart; level n goes to chain[n-1] (the last entry repeats)."""

    every: Interval
    max_levels: int = Field(ge=1, le=20)
    chain: list[list[Role]] = Field(min_length=1)

    @field_validator("every")
    @classmethod
    def _forward(cls, every: Interval) -> Interval:
        if all((getattr(every, unit) or 0) <= 0 for unit in ("hours", "days", "working_days", "months")):
            raise ValueError("must be a positive interval: the levels follow each other in time")
        return every

    @field_validator("chain")
    @classmethod
    def _levels_not_empty(cls, chain: list[list[str]]) -> list[list[str]]:
        for i, level in enumerate(chain):
            if not level:
                raise ValueError(f"chain[{i}] names nobody")
        return chain

    def roles(self, level: int) -> list[str]:
        return list(self.chain[min(level, len(self.chain)) - 1])


class Text(_Strict):
    """A message text in every language: `{nl: ..., en: ...}`; one plain string serves every language."""

    nl: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_for_all(cls, data: Any) -> Any:
        if isinstance(data, str):
            return dict.fromkeys(LANGUAGES, data)
        return data

    def in_(self, lang: Language) -> str:
        text: str = getattr(self, lang)
        return text

    def items(self) -> list[tuple[Language, str]]:
        return [(lang, self.in_(lang)) for lang in LANGUAGES]


class Variant(_Strict):
    """Another subject, body and/or actions, for when all of `when` hold (CONDITIONS, or a fact the
    case has)."""

    when: list[str] = Field(min_length=1)
    subject: Text | None = None
    body: Text | None = None
    actions: dict[str, Text] = {}

    @field_validator("when")
    @classmethod
    def _known_conditions(cls, when: list[str]) -> list[str]:
        for name in when:
            if name not in CONDITIONS and (name not in FACTS or name in INTERNAL_FACTS):
                raise ValueError(
                    f"unknown condition {name!r} (known: {', '.join(CONDITIONS)}, or a fact's name)"
                )
        return when

    @model_validator(mode="after")
    def _says_something(self) -> Variant:
        if self.subject is None and self.body is None and not self.actions:
            raise ValueError("give a subject, a body or actions")
        return self


def check_text(key: str, template: str, allowed: set[str], *, subject: bool = False) -> None:
    """A message template uses only facts it may, never an identity placeholder; a subject names the case."""
    try:
        names = placeholders(template)
    except ValueError as exc:
        raise ValueError(f"key {key!r}: {exc}") from None
    for name in names:
        if name == "timeout_address":
            raise ValueError(
                f"key {key!r}: {{timeout_address}} is gone: the address stays at intake;"
                " use {timeout_address_link}"
            )
        if name in INTERNAL_FACTS:
            raise ValueError(
                f"key {key!r}: {{{name}}} is bookkeeping for dedupe keys (`deadline`): a message never"
                " shows it"
            )
        if name not in FACTS:
            if any(word in name.lower() for word in IDENTITY_WORDS):
                raise ValueError(
                    f"key {key!r}: {{{name}}}: a message never carries the youth's or the family's name,"
                    " birth date, address or other identity data (the notifier has none: intake keeps it)"
                )
            raise ValueError(f"key {key!r}: unknown placeholder {{{name}}} (known: {', '.join(FACTS)})")
        if name not in allowed:
            raise ValueError(f"key {key!r}: {{{name}}} {NEEDS[name]}")
    if subject and "case" not in names:
        raise ValueError(f"key {key!r}: a subject says for whom: put the case reference {{case}} in it")


NEEDS = {
    "timeout_address_link": "needs address_to",
    "changes": "needs tracks (the facts whose change a replacement reports)",
    "action": "needs actions (what each role should do)",
    "next_escalation": "needs an escalation",
}


class Rule(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    description: str = ""
    trigger: list[Matcher] | None = None
    anchor: Anchor | None = None
    offset: Interval | None = None
    at: str | None = None
    require: list[Predicate] = []
    stop_on: list[Matcher] = []
    late: Literal["fire", "skip"] = "fire"
    recipients: list[Role] = Field(min_length=1)
    address_to: list[Role] = []
    escalation: Escalation | None = None
    channel: Literal["email", "webhook"] = "email"
    urgent: bool = False
    ical: Literal["request", "cancel"] | None = None
    deadline: str | None = None
    subject: Text
    body: Text
    variants: list[Variant] = []
    actions: dict[str, Text] = {}
    tracks: list[str] = []
    act_by: str | None = None
    # The meetings the rule is about (events.MeetingName). Its `attendees`, `former_attendees`, meeting
    # facts and meeting.* anchors name each in turn; an event about another meeting never fires it.
    meetings: list[ev.MeetingName] = Field(default=[DEFAULT_MEETING], min_length=1)

    @field_validator("trigger", mode="before")
    @classmethod
    def _trigger_list(cls, value: Any) -> Any:
        return value if value is None or isinstance(value, list) else [value]

    @field_validator("at", mode="before")
    @classmethod
    def _at_quoted(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 9:00 as sexagesimal 540
            raise ValueError('write the time in quotes, e.g. at: "09:00"')
        return value

    @field_validator("at")
    @classmethod
    def _at(cls, value: str | None) -> str | None:
        if value is None or value in ("work_start", "work_end", "anchor"):
            return value
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not work_start, work_end, anchor or a time HH:MM") from None
        return value

    @field_validator("meetings")
    @classmethod
    def _distinct_meetings(cls, meetings: list[str]) -> list[str]:
        if len(set(meetings)) != len(meetings):
            raise ValueError("names a meeting twice")
        return meetings

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        scheduled = self.anchor is not None
        if scheduled == (self.trigger is not None):
            raise ValueError("key 'trigger' or 'anchor': give exactly one (immediate or scheduled rule)")
        if not scheduled:
            for key in ("offset", "at", "escalation"):
                if getattr(self, key) is not None:
                    raise ValueError(f"key {key!r}: only for scheduled rules (with an anchor)")
            if self.require or self.stop_on:
                raise ValueError("key 'require'/'stop_on': only for scheduled rules (with an anchor)")
        else:
            if self.deadline is not None:
                raise ValueError("key 'deadline': a scheduled rule's deadline is its anchor date")
            if self.offset and self.offset.hours is not None and self.at not in (None, "anchor"):
                raise ValueError("key 'at': an offset in hours keeps the anchor's time of day")
        for role in self.address_to:
            if role not in self.recipients:
                raise ValueError(f"key 'address_to': {role!r} is not among the recipients")
        if self.address_to and self.channel != "email":
            # Webhooks go to one shared system: the link to the family's address goes to a person's
            # mailbox only (intake checks who opens it, but the link itself says the case has one).
            raise ValueError("key 'address_to': the link to the family's address is sent by email only")
        if self.anchor in ("startgesprek.start", "startgesprek.end") and self.meetings != [DEFAULT_MEETING]:
            raise ValueError(
                f"key 'anchor': {self.anchor} is the startgesprek's; a rule about {', '.join(self.meetings)}"
                f" is anchored on meeting.{self.anchor.partition('.')[2]}"
            )
        if scheduled and len(self.meetings) > 1 and not self.meeting_anchored:
            raise ValueError(
                "key 'meetings': a scheduled rule about several meetings is anchored on meeting.start or"
                " meeting.end (one timer per meeting)"
            )
        if self.ical == "request" and self.trigger is not None:
            if any(m.event != "startgesprek_planned" for m in self.trigger):
                raise ValueError("key 'ical': an invitation (request) is sent on startgesprek_planned only")
        self._check_texts()
        if self.deadline is not None and self.trigger is not None:
            try:
                names = placeholders(self.deadline)
            except ValueError as exc:
                raise ValueError(f"key 'deadline': {exc}") from None
            for name in names:
                if name in KEY_FACTS:
                    continue
                missing = [
                    m.event
                    for m in self.trigger
                    if name not in EVENT_MODELS[m.event].model_fields or name in PRIVATE_EVENT_FIELDS
                ]
                if missing:
                    raise ValueError(
                        f"key 'deadline': placeholder {{{name}}} is neither a fact nor a field of "
                        f"{', '.join(missing)}"
                    )
        return self

    def reached_roles(self) -> list[str]:
        """Every role the rule reaches: its recipients and its escalation chain."""
        out: list[str] = list(self.recipients)
        for level in self.escalation.chain if self.escalation else []:
            out += [r for r in level if r not in out]
        return out

    def _check_texts(self) -> None:
        allowed = set(FACTS) - set(NEEDS)
        if self.address_to:
            allowed.add("timeout_address_link")
        if self.tracks:
            allowed.add("changes")
        if self.actions or any(v.actions for v in self.variants):
            allowed.add("action")
        if self.escalation is not None:
            allowed.add("next_escalation")
        texts: list[tuple[str, Text | None, bool]] = [
            ("subject", self.subject, True),
            ("body", self.body, False),
        ]
        for i, variant in enumerate(self.variants):
            texts += [
                (f"variants[{i}].subject", variant.subject, True),
                (f"variants[{i}].body", variant.body, False),
            ]
        for key, text, is_subject in texts:
            for lang, template in text.items() if text is not None else []:
                check_text(f"{key}.{lang}", template, allowed, subject=is_subject)
        reached = self.reached_roles()
        self._check_actions("actions", self.actions, reached, allowed)
        # {action} needs actions wherever the text is used: the rule's body without any variant.
        bodies: list[tuple[str, Text | None, bool]] = [("body", self.body, bool(self.actions))]
        for i, variant in enumerate(self.variants):
            self._check_actions(f"variants[{i}].actions", variant.actions, reached, allowed)
            bodies.append((f"variants[{i}].body", variant.body, bool(self.actions or variant.actions)))
        for key, body, has_actions in bodies:
            for lang, template in body.items() if body is not None and not has_actions else []:
                if "action" in placeholders(template):
                    raise ValueError(f"key '{key}.{lang}': {{action}} {NEEDS['action']}")
        for i, variant in enumerate(self.variants):
            for name in variant.when:
                if name == "replaces" and not self.tracks:
                    raise ValueError(f"key 'variants[{i}].when': 'replaces' needs tracks")
                if name == "escalated" and self.escalation is None:
                    raise ValueError(f"key 'variants[{i}].when': 'escalated' needs an escalation")
                if name in MEETINGS and name not in self.meetings:
                    raise ValueError(f"key 'variants[{i}].when': {name!r} needs {name} among the meetings")
        for fact in self.tracks:
            if fact not in TRACKABLE:
                raise ValueError(
                    f"key 'tracks': {fact!r} cannot be tracked (trackable: {', '.join(TRACKABLE)})"
                )
        if self.tracks and self.scheduled:
            raise ValueError("key 'tracks': only for immediate rules (a scheduled rule is about its anchor)")
        if self.act_by is not None:
            if self.act_by not in ACT_BY:
                raise ValueError(
                    f"key 'act_by': {self.act_by!r} is not a date fact (known: {', '.join(ACT_BY)})"
                )
            if self.act_by == "next_escalation" and self.escalation is None:
                raise ValueError("key 'act_by': next_escalation needs an escalation")

    @staticmethod
    def _check_actions(key: str, actions: dict[str, Text], reached: list[str], allowed: set[str]) -> None:
        for role, text in actions.items():
            if role != "default" and role not in ROLES:
                raise ValueError(f"key '{key}.{role}': unknown role (known: {', '.join(ROLES)}, default)")
            if role != "default" and role not in reached:
                raise ValueError(f"key '{key}.{role}': the rule never reaches {role!r}")
            for lang, template in text.items():
                check_text(f"{key}.{role}.{lang}", template, allowed - {"action", "changes"})
        if actions and "default" not in actions:
            missing = [r for r in reached if r not in actions]
            if missing:
                raise ValueError(f"key {key!r}: no text for {', '.join(missing)}: give one, or a 'default'")

    @property
    def scheduled(self) -> bool:
        return self.anchor is not None

    @property
    def meeting_anchored(self) -> bool:
        """Whether the rule's timer is a meeting's time: one timer per meeting, stopped per meeting."""
        return self.anchor in MEETING_ANCHORS

    def levels(self) -> list[tuple[int, list[str]]]:
        out: list[tuple[int, list[str]]] = [(0, list(self.recipients))]
        if self.escalation is not None:
            out += [(n, self.escalation.roles(n)) for n in range(1, self.escalation.max_levels + 1)]
        return out


class Rules(_Strict):
    version: Literal[1] = 1
    rules: list[Rule]

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"rule {rule.name!r} appears twice")
            seen.add(rule.name)
        return rules

    @property
    def immediate(self) -> list[Rule]:
        return [r for r in self.rules if not r.scheduled]

    @property
    def scheduled(self) -> list[Rule]:
        return [r for r in self.rules if r.scheduled]

    def __getitem__(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


def _describe(exc: ValidationError, data: Any) -> list[str]:
    raw_rules = data.get("rules") if isinstance(data, dict) else None
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + (f" (languages: {', '.join(LANGUAGES)})" if _in_text(loc) else "")
        elif err["type"] == "missing":
            msg = "missing" + (f": every text is given in {', '.join(LANGUAGES)}" if _in_text(loc) else "")
        elif err["type"] == "literal_error":
            msg = f"{err['input']!r} is not known; {msg[0].lower()}{msg[1:]}"
        where = "(top level)"
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            index = loc[1]
            name = None
            if isinstance(raw_rules, list) and index < len(raw_rules) and isinstance(raw_rules[index], dict):
                name = raw_rules[index].get("name")
            rule = f"rule {name!r}" if name else f"rule #{index + 1}"
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[2:]).lstrip(".")
            # pydantic puts union/shorthand branches in the path; keep the user's keys only
            key = key.replace(".function-before[_shorthand()]", "").replace(
                "function-before[_shorthand()]", ""
            )
            where = f"{rule}, key {key!r}" if key else rule
        elif loc:
            where = "key " + repr(
                "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
            )
        lines.append(f"{where}: {msg}")
    return lines


def _in_text(loc: list[Any]) -> bool:
    """Whether an error's place is one language of a text (subject.en, variants[0].body.nl...)."""
    return len(loc) >= 2 and loc[-2] in ("subject", "body") or (len(loc) >= 3 and loc[-3] == "actions")


def parse_rules(data: Any, source: str = "rules") -> Rules:
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"{source}: invalid rules:\n  " + "\n  ".join(_describe(exc, data))) from None


def load_rules(path: str | Path | None = None) -> Rules:
    """Read and validate a rules file (default: the `rules.yaml` next to this module)."""
    path = Path(path) if path is not None else DEFAULT_RULES
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    return parse_rules(data, str(path))
