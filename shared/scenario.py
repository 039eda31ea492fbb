"""Scenario, network and report files (SCENARIO.md contract, version 1) as strict pydantic models."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

TIME_FORMAT = "%Y-%m-%dT%H:%M"


# Dates far outside any trajectory, read from a file or a request, are typing errors (and would
# overflow date arithmetic later). Values built in code are taken as they are.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _in_years(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{value.isoformat()[:10]!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return value


def parse_local(value: Any) -> Any:
    """Accept `YYYY-MM-DDTHH:MM` (local Europe/Amsterdam, no zone) and nothing looser."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.strptime(value, TIME_FORMAT)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a time of the form YYYY-MM-DDTHH:MM") from exc
        return _in_years(parsed)
    raise ValueError("must be a time of the form YYYY-MM-DDTHH:MM")


def parse_day(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value) if len(value) == 10 else _bad_day(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a date of the form YYYY-MM-DD") from exc
        return _in_years(parsed)
    raise ValueError("must be a date of the form YYYY-MM-DD")


def plain_text(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in value):
        raise ValueError("contains control characters")
    return value


def _bad_day(value: str) -> date:
    raise ValueError(f"{value!r} is not a date of the form YYYY-MM-DD")


def fmt_local(value: datetime) -> str:
    return value.strftime(TIME_FORMAT)


def fmt_day(value: date) -> str:
    return value.isoformat()


LocalTime = Annotated[datetime, BeforeValidator(parse_local), PlainSerializer(fmt_local, return_type=str)]
Day = Annotated[date, BeforeValidator(parse_day), PlainSerializer(fmt_day, return_type=str)]
ClockTime = Annotated[
    time,
    BeforeValidator(lambda v: datetime.strptime(v, "%H:%M").time() if isinstance(v, str) else v),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]
# A case reference travels in URLs, topics' keys and mail subjects: letters, digits and . _ : -
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,35}$"
CaseId = Annotated[str, Field(min_length=1, max_length=36, pattern=CASE_ID_PATTERN)]


def is_case_id(value: str) -> bool:
    """Could `value` name a case at all (a path parameter or query before it reaches the database)?"""
    return re.fullmatch(CASE_ID_PATTERN, value) is not None


Text = Annotated[str, Field(max_length=500), AfterValidator(plain_text)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- network -----------------------------------------------------------------------------


class ScenarioSettings(Strict):
    startgesprek_within_working_days: int = Field(3, ge=0, le=20)
    meeting_minutes: int = Field(90, ge=15, le=480)
    working_hours: tuple[ClockTime, ClockTime] = (time(9, 0), time(17, 0))
    holidays: list[Day] = []
    mst_weeks: int = Field(20, ge=1, le=104)

    @model_validator(mode="after")
    def _hours_in_order(self) -> ScenarioSettings:
        if self.working_hours[0] >= self.working_hours[1]:
            raise ValueError("working_hours: the first time must be before the second")
        return self


class Region(Strict):
    code: str = Field(min_length=1)
    name: str


class Group(Strict):
    id: str = Field(min_length=1)
    kind: Literal["closed", "open"]
    beds: int = Field(ge=0)
    timeout_beds: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _timeout_within_beds(self) -> Group:
        if self.timeout_beds > self.beds:
            raise ValueError(f"group {self.id}: timeout_beds {self.timeout_beds} > beds {self.beds}")
        if self.kind == "open" and self.timeout_beds:
            raise ValueError(f"group {self.id}: an open group has no time-out beds")
        return self


class Location(Strict):
    id: str = Field(min_length=1)
    name: str
    region: str
    groups: list[Group]


Role = Literal["mst_supervisor", "mst_therapist", "trajectbegeleider", "referrer", "coordinator"]


class Person(Strict):
    id: str = Field(min_length=1)
    role: Role
    regions: list[str]
    max_cases: int | None = Field(None, ge=0)
    supervisor: str | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _caseload_known(self) -> Person:
        if self.role in ("mst_therapist", "trajectbegeleider") and self.max_cases is None:
            raise ValueError(f"person {self.id}: max_cases is required for a {self.role}")
        return self


class Busy(Strict):
    person: str
    from_: LocalTime = Field(alias="from")
    until: LocalTime

    @model_validator(mode="after")
    def _ordered(self) -> Busy:
        if self.until <= self.from_:
            raise ValueError(f"busy block of {self.person}: until must be after from")
        return self


# --- events ------------------------------------------------------------------------------


class Machtiging(Strict):
    valid_from: Day
    valid_until: Day

    @model_validator(mode="after")
    def _ordered(self) -> Machtiging:
        if self.valid_until < self.valid_from:
            raise ValueError("machtiging: valid_until is before valid_from")
        return self


class _Event(Strict):
    at: LocalTime


class _CaseEvent(_Event):
    case: CaseId


Kind = Literal["thuisbest", "thuisbest_open"]
Urgency = Literal["normal", "urgent", "crisis"]


class ReferralEvent(_CaseEvent):
    type: Literal["referral"] = "referral"
    kind: str  # checked by intake rules so that a wrong kind is a rejection, not a load error
    birth_date: Day
    home_region: str
    referrer: str
    urgency: Urgency
    earliest_start: Day
    stay_days: StrictInt | None = None
    conflicts_with: list[CaseId] = []
    timeout_address: Text | None = None
    machtiging: Machtiging | None = None


class MachtigingEvent(_CaseEvent):
    type: Literal["machtiging"] = "machtiging"
    valid_from: Day
    valid_until: Day

    @field_validator("valid_until")
    @classmethod
    def _ordered(cls, value: date, info: ValidationInfo) -> date:
        first = info.data.get("valid_from")
        if first is not None and value < first:
            raise ValueError(f"{value} is before valid_from {first}")
        return value

    @property
    def machtiging(self) -> Machtiging:
        return Machtiging(valid_from=self.valid_from, valid_until=self.valid_until)


class DischargeEvent(_CaseEvent):
    type: Literal["discharge"] = "discharge"
    date: Day


class TimeoutRequestEvent(_CaseEvent):
    type: Literal["timeout_request"] = "timeout_request"
    days: int = Field(ge=1, le=14)


class MeetingHeldEvent(_CaseEvent):
    type: Literal["meeting_held"] = "meeting_held"
    meeting: Literal["startgesprek", "kennismaking"]


class WithdrawEvent(_CaseEvent):
    type: Literal["withdraw"] = "withdraw"


class CloseEvent(_CaseEvent):
    type: Literal["close"] = "close"


class CapacityEvent(_Event):
    type: Literal["capacity"] = "capacity"
    group: str
    beds: int = Field(ge=0)
    from_: Day = Field(alias="from")
    until: Day


CaseEvent = (
    ReferralEvent
    | MachtigingEvent
    | DischargeEvent
    | TimeoutRequestEvent
    | MeetingHeldEvent
    | WithdrawEvent
    | CloseEvent
)
ScenarioEvent = Annotated[CaseEvent | CapacityEvent, Field(discriminator="type")]


class Network(Strict):
    """The static part of a scenario: what the live services load."""

    scenario_version: Literal[1] = 1
    name: str
    start: Day | None = None
    end: Day | None = None
    settings: ScenarioSettings = ScenarioSettings()
    regions: list[Region]
    travel_minutes: list[tuple[str, str, int]] = []
    locations: list[Location]
    people: list[Person]
    busy: list[Busy] = []

    @model_validator(mode="after")
    def _references(self) -> Network:
        problems: list[str] = []
        codes = {r.code for r in self.regions}
        if len(codes) != len(self.regions):
            problems.append("regions: a region code appears twice")
        for i, (a, b, minutes) in enumerate(self.travel_minutes):
            for code in (a, b):
                if code not in codes:
                    problems.append(f"travel_minutes[{i}]: unknown region {code!r}")
            if minutes < 0:
                problems.append(f"travel_minutes[{i}]: minutes must be >= 0")
        group_ids: set[str] = set()
        location_ids: set[str] = set()
        for i, loc in enumerate(self.locations):
            if loc.region not in codes:
                problems.append(f"locations[{i}] ({loc.id}).region: unknown region {loc.region!r}")
            if loc.id in location_ids:
                problems.append(f"locations[{i}].id: {loc.id!r} appears twice")
            location_ids.add(loc.id)
            for j, g in enumerate(loc.groups):
                if g.id in group_ids:
                    problems.append(f"locations[{i}].groups[{j}].id: {g.id!r} appears twice")
                group_ids.add(g.id)
        person_ids = {p.id for p in self.people}
        if len(person_ids) != len(self.people):
            problems.append("people: a person id appears twice")
        for i, p in enumerate(self.people):
            for code in p.regions:
                if code not in codes:
                    problems.append(f"people[{i}] ({p.id}).regions: unknown region {code!r}")
            if p.supervisor is not None and p.supervisor not in person_ids:
                problems.append(f"people[{i}] ({p.id}).supervisor: unknown person {p.supervisor!r}")
        for i, blk in enumerate(self.busy):
            if blk.person not in person_ids:
                problems.append(f"busy[{i}].person: unknown person {blk.person!r}")
        if self.start and self.end and self.end < self.start:
            problems.append("end: before start")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Scenario(Network):
    events: list[ScenarioEvent] = []

    @field_validator("events")
    @classmethod
    def _sorted(cls, events: list[Any]) -> list[Any]:
        for i in range(1, len(events)):
            if events[i].at < events[i - 1].at:
                raise ValueError(f"events[{i}].at: events must be sorted by at")
        return events

    @property
    def network(self) -> Network:
        return Network.model_validate(self.model_dump(by_alias=True, exclude={"events"}))


class ScenarioError(ValueError):
    """A scenario or network file that cannot be read; the message names key and place."""


def describe_errors(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{loc or '(top level)'}: {msg}")
    return lines


def load_scenario_dict(data: Any) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError("invalid scenario:\n  " + "\n  ".join(describe_errors(exc))) from None


def load_scenario(path: str | Path) -> Scenario:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return load_scenario_dict(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


# --- report ------------------------------------------------------------------------------


class StayOut(BaseModel):
    case: str
    type: Literal["placement", "timeout"]
    group: str
    location: str
    start: Day
    end: Day
    mst_therapist: str | None = None
    trajectbegeleider: str | None = None


class MeetingOut(BaseModel):
    case: str
    meeting: Literal["startgesprek", "kennismaking"]
    start: LocalTime
    end: LocalTime
    place: str
    attendees: list[str]


class WaitingOut(BaseModel):
    case: str
    reason: str


class RejectedOut(BaseModel):
    case: str
    event: str
    at: LocalTime
    reason: str


class NotificationOut(BaseModel):
    at: LocalTime
    case: str
    kind: str
    to: str
    channel: str


class Kpis(BaseModel):
    referrals: int = 0
    placed: int = 0
    mean_wait_days: float = 0.0
    p90_wait_days: float = 0.0
    home_region_pct: float = 100.0
    mean_travel_minutes: float = 0.0
    startgesprek_on_time_pct: float = 100.0
    bed_nights_used_pct: float = 0.0
    timeouts_requested: int = 0
    timeouts_within_1_day_pct: float = 100.0


class SolverStats(BaseModel):
    runs: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0


class Report(BaseModel):
    report_version: Literal[1] = 1
    scenario: str
    policy: Literal["optimized", "fcfs"]
    stays: list[StayOut] = []
    meetings: list[MeetingOut] = []
    waiting: list[WaitingOut] = []
    rejected: list[RejectedOut] = []
    notifications: list[NotificationOut] = []
    kpis: Kpis = Kpis()
    solver: SolverStats = SolverStats()
