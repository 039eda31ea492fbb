"""What the scheduler shows: the current plan and a case's explanation, as response models."""

from __future__ import annotations

from collections.abc import Mapping, Set

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
    """`GET /v1/plan`: the plan as of the last completed change, never a re-plan half done (to a
    person: the cases whose home region they serve, see `visible_plan`)."""

    stays: list[StayView]
    meetings: list[MeetingView]
    waiting: list[WaitingView]
    rejected: list[RejectedView]


def visible_plan(plan: PlanView, home: Mapping[str, str], regions: Set[str]) -> PlanView:
    """The part of `plan` about cases whose home region is one of `regions` (a stay on a group
    elsewhere included: it is the case's); a case of unknown region is nobody's."""

    def shown(case: str) -> bool:
        return home.get(case) in regions

    return PlanView(
        stays=[s for s in plan.stays if shown(s.case)],
        meetings=[m for m in plan.meetings if shown(m.case)],
        waiting=[w for w in plan.waiting if shown(w.case)],
        rejected=[r for r in plan.rejected if shown(r.case)],
    )


class Explanation(BaseModel):
    case: str
    explanation: str


class CapacityAccepted(BaseModel):
    group: str
    beds: int
