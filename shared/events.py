"""Versioned event schemas exchanged between the services, and the topics that carry them.

Events carry a pseudonymous case id and only what their consumers need: the scheduler learns
until when a youth is eligible, never who the youth is. Names are past tense; every event has
an `event_id` (consumers deduplicate on it) and `occurred_at` (local Europe/Amsterdam time).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.inputs import Machtiging
from shared.kinds import KindName
from shared.types import Day, LocalTime

# Topics: <domain>.<event>.v<N>. Case events are keyed by case so that one case's events
# stay in order on one partition.
TOPIC_CASE_EVENTS = "intake.case-event.v1"
TOPIC_DECISIONS = "scheduler.decision.v1"
TOPIC_DEAD_LETTER = "platform.dead-letter.v1"
ALL_TOPICS = [TOPIC_CASE_EVENTS, TOPIC_DECISIONS, TOPIC_DEAD_LETTER]
# Family data (names, birth date, BSN, addresses, the time-out address) never travels on a topic:
# it stays in intake's identity store, read on intake's audited endpoints.


class EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: LocalTime
    case: str = Field(min_length=1, max_length=36)


# --- intake -> scheduler, notifier ----------------------------------------------------------


class ReferralRegistered(EventBase):
    type: Literal["referral_registered"] = "referral_registered"
    kind: KindName
    home_region: str
    referrer: str
    urgency: Literal["normal", "urgent", "crisis"]
    earliest_start: Day
    stay_days: int
    # The youth's age fits the kind for placement starts in [eligible_from, eligible_until],
    # clipped to the planning horizon so that no birth date can be derived from it.
    eligible_from: Day
    eligible_until: Day
    conflicts_with: list[str] = []
    machtiging: Machtiging | None = None
    has_timeout_address: bool = False
    # PATHWAY-V2: the family's MST therapist already; a part-time pattern's size and wishes.
    current_therapist: str | None = None
    nights_per_week: int | None = None
    preferred_nights: list[str] = []


class MachtigingGranted(EventBase):
    type: Literal["machtiging_granted"] = "machtiging_granted"
    valid_from: Day
    valid_until: Day


class DischargeReported(EventBase):
    type: Literal["discharge_reported"] = "discharge_reported"
    date: Day


class TimeoutRequested(EventBase):
    type: Literal["timeout_requested"] = "timeout_requested"
    days: int = Field(ge=1, le=14)


class MeetingHeld(EventBase):
    type: Literal["meeting_held"] = "meeting_held"
    meeting: Literal["startgesprek", "kennismaking"]


class ReferralWithdrawn(EventBase):
    type: Literal["referral_withdrawn"] = "referral_withdrawn"


class CaseClosed(EventBase):
    type: Literal["case_closed"] = "case_closed"
    reason: Literal["goal_reached", "broken_off", "moved", "other"] | None = None
    # Whether an outcome was recorded (the outcome itself stays with intake): a follow-up is due.
    with_outcome: bool = False


class TimeoutAddressNamed(EventBase):
    """The family named its time-out address; the address itself stays with intake."""

    type: Literal["timeout_address_named"] = "timeout_address_named"


class FollowUpReported(EventBase):
    """The follow-up six months after the close was done (its result stays with intake)."""

    type: Literal["follow_up_reported"] = "follow_up_reported"


CaseEventV1 = Annotated[
    ReferralRegistered
    | MachtigingGranted
    | DischargeReported
    | TimeoutRequested
    | MeetingHeld
    | ReferralWithdrawn
    | CaseClosed
    | TimeoutAddressNamed
    | FollowUpReported,
    Field(discriminator="type"),
]


# --- scheduler -> intake, notifier -----------------------------------------------------------


class PlacementPlanned(EventBase):
    """A placement decided, moved, restaffed, handed over or ended early/late by a discharge."""

    type: Literal["placement_planned"] = "placement_planned"
    # "handover": a running case's therapist or trajectbegeleider is replaced after a staff change.
    change: Literal["new", "moved", "discharged", "handover"] = "new"
    kind: KindName
    home_region: str
    referrer: str
    group: str
    location: str
    region: str
    start: Day
    end: Day
    mst_therapist: str | None  # None for a kind without MST (beter_met_thuis)
    trajectbegeleider: str
    explanation: str
    nights: list[str] = []  # a part-time placement's weekly nights (weekday names), else empty
    handed_over_from: list[str] = []  # change "handover": the people replaced


class PlacementCancelled(EventBase):
    type: Literal["placement_cancelled"] = "placement_cancelled"
    reason: str
    explanation: str


class CaseWaitlisted(EventBase):
    type: Literal["case_waitlisted"] = "case_waitlisted"
    reason: str
    expected_start: Day | None = None
    explanation: str


MeetingName = Literal["startgesprek", "kennismaking"]


class StartgesprekPlanned(EventBase):
    """A meeting planned or moved: the startgesprek, or (PATHWAY-V2) the kennismakingsgesprek."""

    type: Literal["startgesprek_planned"] = "startgesprek_planned"
    meeting: MeetingName = "startgesprek"
    start: LocalTime
    end: LocalTime
    place: str
    attendees: list[str]
    sequence: int = 0  # iCalendar SEQUENCE: 0 for the first invitation, +1 for each update


class StartgesprekCancelled(EventBase):
    type: Literal["startgesprek_cancelled"] = "startgesprek_cancelled"
    meeting: MeetingName = "startgesprek"
    sequence: int


class TimeoutAssigned(EventBase):
    type: Literal["timeout_assigned"] = "timeout_assigned"
    group: str
    location: str
    start: Day
    end: Day
    mst_therapist: str | None
    trajectbegeleider: str | None


def reason_code(reason: str) -> str:
    """The code a refusal's reason starts with: a reason is a code, possibly followed by
    ": explanation" ("no_bed: the bed is taken after the planned end" -> "no_bed")."""
    return reason.partition(":")[0].strip()


class RequestRefused(EventBase):
    """A later event refused (time-out, discharge, withdraw) or a referral rejected; `reason` as
    `reason_code` reads it."""

    type: Literal["request_refused"] = "request_refused"
    event: str
    at: LocalTime
    reason: str
    mst_therapist: str | None = None
    home_region: str | None = None


DecisionV1 = Annotated[
    PlacementPlanned
    | PlacementCancelled
    | CaseWaitlisted
    | StartgesprekPlanned
    | StartgesprekCancelled
    | TimeoutAssigned
    | RequestRefused,
    Field(discriminator="type"),
]

Decision = (
    PlacementPlanned
    | PlacementCancelled
    | CaseWaitlisted
    | StartgesprekPlanned
    | StartgesprekCancelled
    | TimeoutAssigned
    | RequestRefused
)
CaseEventT = (
    ReferralRegistered
    | MachtigingGranted
    | DischargeReported
    | TimeoutRequested
    | MeetingHeld
    | ReferralWithdrawn
    | CaseClosed
    | TimeoutAddressNamed
    | FollowUpReported
)

case_event_adapter: TypeAdapter[CaseEventT] = TypeAdapter(CaseEventV1)
decision_adapter: TypeAdapter[Decision] = TypeAdapter(DecisionV1)


def day_of(moment: datetime) -> date:
    return moment.date()


class MessageDeadLettered(BaseModel):
    """On `platform.dead-letter.v1`: a message a service could not decode or process, and why."""

    service: str
    topic: str
    partition: int | None
    offset: int | None
    reason: str
    # The message as received (UTF-8, undecodable bytes replaced); for a poisoned outbox row the
    # row itself when it is small, else empty (`size` says how large it was).
    body: str = ""
    # What kind of dead letter: "undecodable", "handler_failed" or "poisoned_outbox".
    kind: Literal["undecodable", "handler_failed", "poisoned_outbox"] | None = None
    event_id: str | None = None
    size: int | None = None  # bytes of the message or row
