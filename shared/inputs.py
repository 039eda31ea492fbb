"""What people report to the platform: intake's and the scheduler's request bodies, a scenario's events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from shared.kinds import KindName
from shared.types import CaseId, Day, LocalTime, NetworkName, Strict, Text


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


Kind = KindName  # a kind name of the kinds table (shared/kinds.py)
Urgency = Literal["normal", "urgent", "crisis"]


def passes_elfproef(value: str) -> bool:
    """Nine digits passing the elfproef, the check digit of a Dutch citizen service number (BSN)."""
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        return False
    digits = [int(c) for c in value]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
    return total % 11 == 0


def _bsn(value: str) -> str:
    if not passes_elfproef(value):
        raise ValueError("not a BSN: nine digits passing the elfproef")
    return value


# A citizen service number: checked here, kept by intake only (encrypted, see DOMAIN.md Privacy).
Bsn = Annotated[str, AfterValidator(_bsn)]


MAX_CONFLICTS = 20  # a youth kept apart from more than a handful of others is a typing error
MAX_STAY_DAYS = 3650  # the kinds' own bounds are checked by intake rules; this keeps numbers sane


class ReferralFields(Strict):
    case: CaseId
    kind: NetworkName  # checked by intake rules so that a wrong kind is a rejection, not a load error
    birth_date: Day
    home_region: NetworkName
    referrer: NetworkName
    urgency: Urgency
    earliest_start: Day
    stay_days: Annotated[StrictInt, Field(ge=1, le=MAX_STAY_DAYS)] | None = None
    conflicts_with: list[CaseId] = Field(default=[], max_length=MAX_CONFLICTS)
    timeout_address: Text | None = None
    machtiging: Machtiging | None = None
    # PATHWAY-V2 (checked by intake rules, so that a wrong value is a refusal naming the field):
    current_therapist: NetworkName | None = None  # the family's MST therapist already (escalated MST)
    program_weeks: Annotated[StrictInt, Field(ge=1, le=MAX_STAY_DAYS // 7)] | None = None
    nights_per_week: Annotated[StrictInt, Field(ge=0, le=7)] | None = None
    preferred_nights: list[NetworkName] | None = Field(None, max_length=7)


class MachtigingFields(Strict):
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


class DischargeFields(Strict):
    type: Literal["discharge"] = "discharge"
    date: Day


class TimeoutRequestFields(Strict):
    type: Literal["timeout_request"] = "timeout_request"
    days: int = Field(ge=1, le=14)


class MeetingHeldFields(Strict):
    type: Literal["meeting_held"] = "meeting_held"
    meeting: Literal["startgesprek", "kennismaking"]


class WithdrawFields(Strict):
    type: Literal["withdraw"] = "withdraw"


CloseReason = Literal["goal_reached", "broken_off", "moved", "other"]


class Outcome(Strict):
    """How the family is doing when the trajectory closes (PATHWAY-V2)."""

    at_home: bool
    day_activity: bool


class CloseFields(Strict):
    type: Literal["close"] = "close"
    reason: CloseReason | None = None
    outcome: Outcome | None = None


class TimeoutAddressFields(Strict):
    """The family names its informal-network time-out address (kept by intake only)."""

    type: Literal["timeout_address"] = "timeout_address"
    address: Text


class FollowUpFields(Strict):
    """The result of the follow-up, six months after the close."""

    type: Literal["follow_up"] = "follow_up"
    relapse: bool


class StaffChangeFields(Strict):
    """A person takes no new case and attends no meeting in [from, until) (until None: for good)."""

    person: NetworkName
    from_: Day = Field(alias="from")
    until: Day | None = None
    status: Literal["absent", "left"]

    @field_validator("until")
    @classmethod
    def _after_from(cls, value: date | None, info: ValidationInfo) -> date | None:
        first = info.data.get("from_")
        if value is not None and first is not None and value <= first:
            raise ValueError("must be after from")
        return value


MAX_BEDS = 1000  # a group has a few beds; far more is a typing error (and overflows the column)


class CapacityFields(Strict):
    group: NetworkName
    beds: int = Field(ge=0, le=MAX_BEDS)
    from_: Day = Field(alias="from")
    until: Day

    @field_validator("until")
    @classmethod
    def _after_from(cls, value: date, info: ValidationInfo) -> date:
        first = info.data.get("from_")
        if first is not None and value <= first:
            raise ValueError("must be after from")
        return value


# --- a scenario's events: what happened, when, to which case --------------------------------


class ReferralEvent(_CaseEvent, ReferralFields):
    type: Literal["referral"] = "referral"


class MachtigingEvent(_CaseEvent, MachtigingFields):
    pass


class DischargeEvent(_CaseEvent, DischargeFields):
    pass


class TimeoutRequestEvent(_CaseEvent, TimeoutRequestFields):
    pass


class MeetingHeldEvent(_CaseEvent, MeetingHeldFields):
    pass


class WithdrawEvent(_CaseEvent, WithdrawFields):
    pass


class CloseEvent(_CaseEvent, CloseFields):
    pass


class TimeoutAddressEvent(_CaseEvent, TimeoutAddressFields):
    pass


class FollowUpEvent(_CaseEvent, FollowUpFields):
    pass


class CapacityEvent(_Event, CapacityFields):
    type: Literal["capacity"] = "capacity"


class StaffChangeEvent(_Event, StaffChangeFields):
    type: Literal["staff_change"] = "staff_change"


CaseEvent = (
    ReferralEvent
    | MachtigingEvent
    | DischargeEvent
    | TimeoutRequestEvent
    | MeetingHeldEvent
    | WithdrawEvent
    | CloseEvent
    | TimeoutAddressEvent
    | FollowUpEvent
)
ScenarioEvent = Annotated[CaseEvent | CapacityEvent | StaffChangeEvent, Field(discriminator="type")]
# Event types a version 1 scenario does not have (PATHWAY-V2).
V2_EVENT_TYPES = frozenset({"timeout_address", "follow_up", "staff_change"})


# --- request bodies: the same facts as the services' HTTP APIs take them ---------------------


# Who the youth is: taken with a referral request, kept in intake's identity store only (not
# part of a scenario's referral events, not on any topic).
REQUEST_ONLY_IDENTITY = frozenset({"name", "bsn", "address"})


class ReferralRequest(ReferralFields):
    """`POST /v1/referrals`: intake stamps the time it receives the referral itself."""

    type: Literal["referral"] = "referral"
    at: SkipJsonSchema[None] = None
    name: Text | None = None  # the youth's name
    bsn: Bsn | None = None
    address: Text | None = None  # where the youth lives

    @field_validator("at", mode="before")
    @classmethod
    def _no_backdating(cls, value: object) -> None:
        raise ValueError("unknown key (intake records the time it receives the referral)")

    def event(self, at: datetime) -> ReferralEvent:
        data = self.model_dump(exclude={"at", *REQUEST_ONLY_IDENTITY})
        return ReferralEvent.model_validate(data | {"at": at})


class _LaterRequest(Strict):
    # When it happened; intake takes the time it receives the event when left out.
    at: LocalTime | None = None


class MachtigingRequest(_LaterRequest, MachtigingFields):
    pass


class DischargeRequest(_LaterRequest, DischargeFields):
    pass


class TimeoutRequestRequest(_LaterRequest, TimeoutRequestFields):
    pass


class MeetingHeldRequest(_LaterRequest, MeetingHeldFields):
    pass


class WithdrawRequest(_LaterRequest, WithdrawFields):
    pass


class CloseRequest(_LaterRequest, CloseFields):
    pass


class TimeoutAddressRequest(_LaterRequest, TimeoutAddressFields):
    pass


class FollowUpRequest(_LaterRequest, FollowUpFields):
    pass


LaterEventRequest = Annotated[
    MachtigingRequest
    | DischargeRequest
    | TimeoutRequestRequest
    | MeetingHeldRequest
    | WithdrawRequest
    | CloseRequest
    | TimeoutAddressRequest
    | FollowUpRequest,
    Field(discriminator="type"),
]
LATER_EVENTS: dict[str, type[CaseEvent]] = {
    "machtiging": MachtigingEvent,
    "discharge": DischargeEvent,
    "timeout_request": TimeoutRequestEvent,
    "meeting_held": MeetingHeldEvent,
    "withdraw": WithdrawEvent,
    "close": CloseEvent,
    "timeout_address": TimeoutAddressEvent,
    "follow_up": FollowUpEvent,
}


def later_event(case: str, request: _LaterRequest, at: datetime) -> CaseEvent:
    """The case event a later-event request reports (at `at` when the request names no time)."""
    data = request.model_dump(by_alias=True, exclude={"at"}) | {"case": case, "at": request.at or at}
    return LATER_EVENTS[data["type"]].model_validate(data)


class CapacityRequest(CapacityFields):
    """`POST /v1/capacity`: a group has `beds` beds on the nights in [from, until)."""


class StaffChangeRequest(StaffChangeFields):
    """`POST /v1/staff-changes`: a therapist, trajectbegeleider or supervisor is absent or has left."""
