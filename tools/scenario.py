"""Scenario and report files (SCENARIO.md contract, version 1) as strict pydantic models."""

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
)

from shared.inputs import ScenarioEvent
from shared.network import Network, ScenarioError, read_json_file
from shared.types import Day, LocalTime, describe_errors


class Scenario(Network):
    events: list[ScenarioEvent] = []

    @field_validator("events")
    @classmethod
    def _sorted(cls, events: list[Any]) -> list[Any]:
        for i in range(1, len(events)):
            if events[i].at < events[i - 1].at:
                raise ValueError(f"events[{i}].at: events must be sorted by at")
        return events

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
OPTIONAL_KPIS = ("mean_days_without_care", "moves_per_announced_placement")


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
