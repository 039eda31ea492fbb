"""What people report to the platform: intake's and the scheduler's request bodies, a scenario's events."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StrictInt, ValidationInfo, field_validator, model_validator

from shared.types import CaseId, Day, LocalTime, Strict, Text


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

