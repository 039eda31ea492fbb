"""The care network the services load (regions, locations, groups, people, calendars) and look-ups over it."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from shared.types import ClockTime, Day, LocalTime, Strict, describe_errors
from shared.workdays import WorkCalendar


class ScenarioSettings(Strict):
    startgesprek_within_working_days: int = Field(3, ge=0, le=20)
    meeting_minutes: int = Field(90, ge=15, le=480)
    working_hours: tuple[ClockTime, ClockTime] = (time(9, 0), time(17, 0))
    holidays: list[Day] = []
    mst_weeks: int = Field(20, ge=1, le=104)
    # PATHWAY-V2: the kennismakingsgesprek falls within this many working days after the referral day.
    kennismaking_within_working_days: int = Field(5, ge=1, le=20)

    @model_validator(mode="after")
    def _hours_in_order(self) -> ScenarioSettings:
        if self.working_hours[0] >= self.working_hours[1]:
            raise ValueError("working_hours: the first time must be before the second")
        return self


class Region(Strict):
    code: str = Field(min_length=1)
    name: str


GroupKind = Literal["closed", "open", "day", "part_time"]
# PATHWAY-V2 group kinds: a `day` group has day places (used on working days only, `places`), a
# `part_time` group beds shared by weekly night patterns. A version 1 network has neither.
V2_GROUP_KINDS = ("day", "part_time")
DAY_GROUP = "day"


class Group(Strict):
    id: str = Field(min_length=1)
    kind: GroupKind
    # Beds of a residential group; for a `day` group its `places` (the code counts both as `beds`:
    # a day group's profile counts places per day, used on working days).
    beds: int = Field(0, ge=0)
    places: int | None = Field(None, ge=0)
    timeout_beds: int = Field(0, ge=0)
    name: str | None = None  # how people call the group ("De Kreek"); pages and mail fall back to the id

    @model_validator(mode="after")
    def _timeout_within_beds(self) -> Group:
        if self.kind == DAY_GROUP:
            if self.places is None:
                raise ValueError(f"group {self.id}: a day group has places (not beds)")
            if self.beds not in (0, self.places):
                raise ValueError(f"group {self.id}: a day group has places, not beds")
            object.__setattr__(self, "beds", self.places)
        elif self.places is not None:
            raise ValueError(f"group {self.id}: only a day group has places; a {self.kind} group has beds")
        if self.timeout_beds > self.beds:
            raise ValueError(f"group {self.id}: timeout_beds {self.timeout_beds} > beds {self.beds}")
        if self.kind != "closed" and self.timeout_beds:
            raise ValueError(f"group {self.id}: only a closed group has time-out beds")
        return self

    @property
    def working_days_only(self) -> bool:
        """Whether the group is used on working days only (day treatment: nobody on weekends, holidays)."""
        return self.kind == DAY_GROUP


class Location(Strict):
    id: str = Field(min_length=1)
    name: str
    region: str
    groups: list[Group]


Role = Literal[
    "mst_supervisor",
    "mst_therapist",
    "trajectbegeleider",
    "referrer",
    "coordinator",
    "ops",
    "privacy_officer",
]
REGIONLESS_ROLES = ("ops", "privacy_officer")  # they see no cases of a region: no regions
# The roles a staff change is about: they carry cases or attend meetings for the care provider.
STAFF_ROLES = ("mst_therapist", "trajectbegeleider", "mst_supervisor")


class Person(Strict):
    id: str = Field(min_length=1)
    role: Role
    regions: list[str] = []
    max_cases: int | None = Field(None, ge=0)
    supervisor: str | None = None
    email: str | None = None
    name: str | None = None  # shown on pages and in mail; the id when absent
    language: Literal["nl", "en"] = "nl"  # the language of this person's mail

    @model_validator(mode="after")
    def _caseload_known(self) -> Person:
        if self.role in ("mst_therapist", "trajectbegeleider") and self.max_cases is None:
            raise ValueError(f"person {self.id}: max_cases is required for a {self.role}")
        if self.role in REGIONLESS_ROLES and self.regions:
            raise ValueError(f"person {self.id}: a person with role {self.role} has no regions")
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


class Network(Strict):
    """The static part of a scenario: what the live services load."""

    scenario_version: Literal[1, 2] = 1
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
            for j, g in enumerate(loc.groups):
                if self.scenario_version < 2 and g.kind in V2_GROUP_KINDS:
                    problems.append(f"locations[{i}].groups[{j}].kind: {g.kind!r} needs scenario_version 2")
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


class ScenarioError(ValueError):
    """A scenario or network file that cannot be read; the message names key and place."""


def read_json_file(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None


def load_network(path: str | Path) -> Network:
    """The network of a network or scenario file (its events, if any, are not the services' business)."""
    data = read_json_file(path)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "events"}
    try:
        return Network.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{path}: invalid network:\n  " + "\n  ".join(describe_errors(exc))) from None


@dataclass(frozen=True)
class GroupInfo:
    group: Group
    location: Location

    @property
    def id(self) -> str:
        return self.group.id

    @property
    def region(self) -> str:
        return self.location.region


class NetworkIndex:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.settings = network.settings
        self.calendar = WorkCalendar(network.settings.holidays)
        self.regions = {r.code: r for r in network.regions}
        self.groups: dict[str, GroupInfo] = {
            g.id: GroupInfo(g, loc) for loc in network.locations for g in loc.groups
        }
        self.locations = {loc.id: loc for loc in network.locations}
        self.people: dict[str, Person] = {p.id: p for p in network.people}
        self._travel: dict[tuple[str, str], int] = {}
        for a, b, minutes in network.travel_minutes:
            self._travel[(a, b)] = minutes
            self._travel[(b, a)] = minutes
        self.by_role: dict[str, list[Person]] = defaultdict(list)
        for p in network.people:
            self.by_role[p.role].append(p)
        self.busy: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for blk in network.busy:
            self.busy[blk.person].append((blk.from_, blk.until))
        for blocks in self.busy.values():
            blocks.sort()
        self._serving: dict[tuple[str, str], list[Person]] = {}

    def travel(self, a: str, b: str) -> int | None:
        """Minutes between two regions; None when they are not reachable from each other."""
        if a == b:
            return 0
        return self._travel.get((a, b))

    def person_name(self, person: str | None) -> str:
        """How pages and mail name a person: their name, else their id ("" for none)."""
        if not person:
            return ""
        found = self.people.get(person)
        return (found.name if found is not None and found.name else None) or person

    def group_name(self, group: str) -> str:
        """A group as people say it: "De Kreek (Breda)", or "groep L00-g1 (Breda)" without a name."""
        info = self.groups.get(group)
        if info is None:
            return group
        return f"{info.group.name or group} ({info.location.name})"

    def location_name(self, location: str) -> str:
        found = self.locations.get(location)
        return found.name if found is not None else location

    def serving(self, role: str, region: str) -> list[Person]:
        """The people of `role` serving `region`, in network order (the network does not change)."""
        key = (role, region)
        found = self._serving.get(key)
        if found is None:
            found = self._serving[key] = [p for p in self.by_role[role] if region in p.regions]
        return list(found)

    def coordinators(self, region: str) -> list[str]:
        return [p.id for p in self.serving("coordinator", region)]

    def supervisors(self, region: str) -> list[str]:
        return [p.id for p in self.serving("mst_supervisor", region)]

    def staff_change_problem(self, person: str) -> str | None:
        """Why a staff change of `person` is refused (PATHWAY-V2): unknown, or a role that carries no
        case and attends no meeting for the care provider; None when it is fine."""
        found = self.people.get(person)
        if found is None:
            return f"unknown person {person!r}"
        if found.role not in STAFF_ROLES:
            return f"{person!r} is a {found.role}: staff changes are for {', '.join(STAFF_ROLES)}"
        return None

    def supervisor_of(self, therapist: str | None) -> str | None:
        person = self.people.get(therapist or "")
        return person.supervisor if person else None
