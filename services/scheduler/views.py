"""What the scheduler shows: the current plan, a case's explanation, the beds per night, the waiting
list and what a capacity change would do, as response models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Set
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.scheduler.core.waitlist import WaitCode
from shared.inputs import Urgency
from shared.types import LocalTime


class StayView(BaseModel):
    case: str
    type: str  # "placement" or "timeout"
    group: str
    location: str
    start: str
    end: str
    mst_therapist: str | None
    trajectbegeleider: str | None
    kind: str | None = None
    nights: list[str] | None = None  # a part-time placement's weekly nights


class MeetingView(BaseModel):
    case: str
    meeting: str  # "startgesprek" or "kennismaking" (at the family's home)
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


class HandoverView(BaseModel):
    """A running case's therapist or trajectbegeleider replaced after a staff change."""

    case: str
    at: str
    role: str  # "mst_therapist" or "trajectbegeleider"
    previous: str
    successor: str
    reason: str


class PlanView(BaseModel):
    """`GET /v1/plan`: the plan as of the last completed change, never a re-plan half done (to a
    person: the cases whose home region they serve, see `visible_plan`)."""

    stays: list[StayView]
    meetings: list[MeetingView]
    waiting: list[WaitingView]
    rejected: list[RejectedView]
    handovers: list[HandoverView] = []


def visible_plan(plan: PlanView, home: Mapping[str, str], regions: Set[str]) -> PlanView:
    """The part of `plan` about cases whose home region is one of `regions` (a stay on a group
    elsewhere included: it is the case's); a case of unknown region is nobody's."""
    return plan_of(plan, lambda case: home.get(case) in regions)


def plan_of(plan: PlanView, shown: Callable[[str], bool]) -> PlanView:
    """The part of `plan` about the cases `shown` says yes to."""
    return PlanView(
        stays=[s for s in plan.stays if shown(s.case)],
        meetings=[m for m in plan.meetings if shown(m.case)],
        waiting=[w for w in plan.waiting if shown(w.case)],
        rejected=[r for r in plan.rejected if shown(r.case)],
        handovers=[h for h in plan.handovers if shown(h.case)],
    )


class Explanation(BaseModel):
    case: str
    explanation: str


class PromiseAccepted(BaseModel):
    """The expected placement the next re-plan (within seconds) promises and announces."""

    case: str
    group: str
    start: dt.date
    mst_therapist: str | None
    trajectbegeleider: str


class CapacityAccepted(BaseModel):
    group: str
    beds: int


class StaffChangeAccepted(BaseModel):
    """A staff change taken: the running cases handed over at once (case -> successor)."""

    person: str
    handed_over: dict[str, str]
    meetings_planned_again: int


# --- GET /v1/beds ------------------------------------------------------------------------------


class BedEntry(BaseModel):
    """One youth on a bed that night. `case` is null when the person may not read that case's plan
    (its home region is not theirs): the bed is shown as taken, the case is not revealed."""

    kind: Literal["stay", "planned", "timeout"] = Field(
        description="stay: a placement under way (started on or before today); planned: a placement "
        "starting after today; timeout: a time-out stay"
    )
    case: str | None
    nights: list[str] | None = Field(
        None,
        description="A part-time placement's weekly pattern: the weekday names (mon .. sun, the night "
        "from that day to the next) it holds, in week order; null for a stay of every night. The entry "
        "is listed on the nights of its pattern only.",
    )


class BedDay(BaseModel):
    date: dt.date
    capacity: int = Field(description="Beds that night, after the capacity changes announced")
    timeout_capacity: int = Field(description="Of those, the beds kept for time-outs")
    occupied: int = Field(description="Regular placements on a bed that night")
    timeouts: int = Field(description="Time-out stays that night")
    free: int = Field(description="Beds a new regular placement may still use that night (>= 0)")
    timeout_free: int = Field(description="Beds a time-out may still use that night (>= 0)")
    entries: list[BedEntry]
    in_use: bool = Field(
        True,
        description="False on a day a day-treatment group is not used (a weekend or holiday): no places "
        "(capacity 0) and nobody on them",
    )


class CapacityChangeView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: dt.date = Field(alias="from")
    until: dt.date = Field(description="The first night no longer changed")
    beds: int
    announced_at: LocalTime
    announced_by: str


class GroupBeds(BaseModel):
    group: str
    kind: str
    location: str
    region: str
    beds: int = Field(description="The group's nominal beds")
    timeout_beds: int = Field(description="The group's nominal beds kept for time-outs")
    days: list[BedDay] = Field(description="Per night of the window, in order")
    capacity_changes: list[CapacityChangeView] = Field(
        description="The capacity changes of the group that overlap the window, in the order announced"
    )
    day_places: bool = Field(
        False,
        description="A day-treatment group: `beds`, `capacity` and `free` count its day places, used on "
        "working days only (see `in_use`)",
    )
    part_time: bool = Field(
        False,
        description="A part-time group: its beds are shared by weekly night patterns, and a night lists "
        "and counts only the youths whose pattern holds its weekday",
    )


class BedsView(BaseModel):
    """`GET /v1/beds`: per group of the person's regions and night, its beds and who is on them."""

    model_config = ConfigDict(populate_by_name=True)

    today: dt.date
    from_: dt.date = Field(alias="from")
    days: int
    groups: list[GroupBeds]


# --- GET /v1/waiting-list ----------------------------------------------------------------------


class PlannedStart(BaseModel):
    group: str
    location: str
    start: dt.date
    mst_therapist: str | None
    trajectbegeleider: str


class MachtigingStatus(BaseModel):
    needed: bool = Field(description="The kind needs a machtiging (court order)")
    granted: bool = Field(description="At least one machtiging has been granted")
    last_start_day: dt.date | None = Field(
        description="The last day any machtiging allows the placement to start (three months after "
        "valid_from, and the whole stay inside it); null without one"
    )
    lapsing_soon: bool = Field(
        description="last_start_day is within 14 days and no placement starts on or before it"
    )


class WaitingEntry(BaseModel):
    case: str
    kind: str
    urgency: Urgency
    home_region: str
    referrer: str
    referred_at: LocalTime
    earliest_start: dt.date
    waiting_since: dt.date = Field(description="The later of the referral's day and its earliest start")
    days_waiting: int = Field(description="Days from waiting_since to today (0 when not yet begun)")
    state: Literal["waiting", "planned"] = Field(
        description="planned: the placement is promised (announced); waiting: not promised yet"
    )
    planned: PlannedStart | None = Field(
        description="The promised placement, or the expected one of a case not promised yet (code expected)"
    )
    expected_start: dt.date | None = Field(
        description="The promised or expected start, or the first day the rules allow a start "
        "(not_yet_allowed)"
    )
    code: WaitCode = Field(description="Why the case has not started: see the route's description")
    reason: str = Field(description="The planner's reason in English words")
    start_limit: dt.date | None = Field(
        description="The last day a start is allowed (machtiging lapse or end, or the youth's age); "
        "null when no start can be allowed any more"
    )
    machtiging: MachtigingStatus


class WaitingListView(BaseModel):
    """`GET /v1/waiting-list`: the open cases of the person's regions that have not started,
    crisis before urgent before normal, then the longest waiting first."""

    today: dt.date
    entries: list[WaitingEntry]


# --- POST /v1/capacity?dry_run=true ------------------------------------------------------------


class PlacementBrief(BaseModel):
    group: str
    start: dt.date
    end: dt.date
    mst_therapist: str | None = Field(description="null for a kind without MST")
    trajectbegeleider: str
    nights: list[str] | None = Field(None, description="A part-time placement's weekly nights (mon .. sun)")


class CapacityEffect(BaseModel):
    case: str
    change: Literal["moved", "cancelled", "new", "restaffed"]
    before: PlacementBrief | None
    after: PlacementBrief | None


class CapacityDryRun(BaseModel):
    """What a capacity change would do to the published plan if it were made now (nothing is changed)."""

    model_config = ConfigDict(populate_by_name=True)

    group: str
    beds: int
    from_: dt.date = Field(alias="from")
    until: dt.date
    affected: list[CapacityEffect] = Field(description="The cases of the person's regions that would change")
    others: int = Field(description="How many cases of other regions would change (not named)")
    replan_pending: bool = Field(
        description="The published plan was itself due a re-plan: some changes may come from that"
    )
