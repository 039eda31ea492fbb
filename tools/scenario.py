"""Scenario and report files (SCENARIO.md contract; PATHWAY-V2 version 2) as strict pydantic models."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from shared.inputs import V2_EVENT_TYPES, CloseEvent, ReferralEvent, ScenarioEvent
from shared.network import Network, ScenarioError, read_json_file
from shared.types import Day, LocalTime, describe_errors

V2_REFERRAL_FIELDS = ("current_therapist", "program_weeks", "nights_per_week", "preferred_nights")


class Scenario(Network):
    events: list[ScenarioEvent] = []

    @field_validator("events")
    @classmethod
    def _sorted(cls, events: list[Any]) -> list[Any]:
        for i in range(1, len(events)):
            if events[i].at < events[i - 1].at:
                raise ValueError(f"events[{i}].at: events must be sorted by at")
        return events

    @model_validator(mode="after")
    def _version_allows(self) -> Scenario:
        """A version 1 scenario has none of PATHWAY-V2's events or referral fields."""
        if self.scenario_version >= 2:
            return self
        problems: list[str] = []
        for i, ev in enumerate(self.events):
            if ev.type in V2_EVENT_TYPES:
                problems.append(f"events[{i}].type: {ev.type!r} needs scenario_version 2")
            elif isinstance(ev, ReferralEvent):
                for name in V2_REFERRAL_FIELDS:
                    if getattr(ev, name) is not None:
                        problems.append(f"events[{i}].{name}: needs scenario_version 2")
            elif isinstance(ev, CloseEvent) and (ev.reason is not None or ev.outcome is not None):
                problems.append(f"events[{i}]: a close with reason or outcome needs scenario_version 2")
        if problems:
            raise ValueError("; ".join(problems[:20]))
        return self

    @cached_property
    def network(self) -> Network:
        """The scenario without its events, as the services load it (made once)."""
        return Network.model_validate(self.model_dump(by_alias=True, exclude={"events"}))


def load_scenario_dict(data: Any) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError("invalid scenario:\n  " + "\n  ".join(describe_errors(exc))) from None


def load_scenario(path: str | Path) -> Scenario:
    data = read_json_file(path)
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
    kind: str | None = None  # version 2: every stay carries its case's kind
    nights: list[str] | None = None  # version 2: a beter_met_thuis stay's weekly nights

    @model_serializer(mode="wrap")
    def _leave_out_v2_when_missing(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("kind", "nights"):
            if data.get(key, 0) is None:
                del data[key]
        return data


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


# KPIs a report may leave out (PATHWAY-V2 "Report additions"); a validator recomputes or copies them
# only when the report carries them.
OPTIONAL_KPIS = (
    "mean_days_without_care",
    "moves_per_announced_placement",
    "mst_continuity_pct",
    "kennismaking_on_time_pct",
    "mean_residential_days",
    "at_home_pct",
    "day_activity_pct",
    "no_relapse_pct",
)


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
    # Optional extras (PATHWAY-V2 "Report additions"): None when not computed, and then left out of
    # the report, so that a report without them (an older one, a hand-made one) loads and dumps as it was.
    mean_days_without_care: float | None = None
    moves_per_announced_placement: float | None = None
    # Version 2 (PATHWAY-V2 "Report additions").
    mst_continuity_pct: float | None = None  # cases with a current_therapist that kept them
    kennismaking_on_time_pct: float | None = None
    mean_residential_days: float | None = None  # closed and open stays, time-outs included
    at_home_pct: float | None = None  # over closed cases with an outcome
    day_activity_pct: float | None = None
    no_relapse_pct: float | None = None  # over those with a follow-up

    @model_serializer(mode="wrap")
    def _leave_out_missing_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in OPTIONAL_KPIS:
            if data.get(key, 0) is None:
                del data[key]
        return data


class SolverStats(BaseModel):
    runs: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0


class Report(BaseModel):
    report_version: Literal[1, 2] = 2
    scenario: str
    policy: Literal["optimized", "fcfs"]
    stays: list[StayOut] = []
    meetings: list[MeetingOut] = []
    waiting: list[WaitingOut] = []
    rejected: list[RejectedOut] = []
    notifications: list[NotificationOut] = []
    kpis: Kpis = Kpis()
    solver: SolverStats = SolverStats()
