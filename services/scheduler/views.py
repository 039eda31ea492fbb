"""What the scheduler shows: the current plan and a case's explanation, as response models."""

from __future__ import annotations

from pydantic import BaseModel


class StayView(BaseModel):
    case: str
    type: str  # "placement" or "timeout"
    group: str
    location: str
    start: str
    end: str
    mst_therapist: str | None
    trajectbegeleider: str | None


class MeetingView(BaseModel):
    case: str
    meeting: str
    start: str
    end: str
    place: str
    attendees: list[str]


class WaitingView(BaseModel):
    case: str
    reason: str


class RejectedView(BaseModel):
    case: str
    event: str
    at: str
    reason: str


class PlanView(BaseModel):
    """`GET /v1/plan`: the plan as of the last completed change, never a re-plan half done."""

    stays: list[StayView]
    meetings: list[MeetingView]
    waiting: list[WaitingView]
    rejected: list[RejectedView]


class Explanation(BaseModel):
    case: str
    explanation: str


class CapacityAccepted(BaseModel):
    group: str
    beds: int
