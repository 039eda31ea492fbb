"""Intake's case: what was referred, and what the scheduler decided for it, as a coordinator reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from shared.events import (
    CaseWaitlisted,
    Decision,
    PlacementCancelled,
    PlacementPlanned,
    RequestRefused,
    StartgesprekCancelled,
    StartgesprekPlanned,
    TimeoutAssigned,
)
from shared.inputs import CaseEvent, CloseEvent, FollowUpEvent, Outcome, WithdrawEvent
from shared.types import Day, LocalTime

Status = Literal["registered", "waiting", "planned", "placed", "home", "timeout", "closed", "withdrawn"]
STATUSES: tuple[Status, ...] = (
    "registered",
    "waiting",
    "planned",
    "placed",
    "home",
    "timeout",
    "closed",
    "withdrawn",
)


class Stay(BaseModel):
    group: str
    location: str
    start: Day
    end: Day
    mst_therapist: str | None = None
    trajectbegeleider: str | None = None
    explanation: str | None = None
    nights: list[str] = []  # a part-time placement's weekly nights (PATHWAY-V2)


class TimeoutStay(BaseModel):
    group: str
    location: str
    start: Day
    end: Day


class Meeting(BaseModel):
    meeting: str
    start: LocalTime
    end: LocalTime
    place: str
    attendees: list[str]


class Refusal(BaseModel):
    event: str
    at: LocalTime
    reason: str


class HistoryItem(BaseModel):
    """One event of the case as recorded, without who the youth is (no birth date, no address)."""

    # referral, machtiging, discharge, timeout_request, meeting_held, withdraw, close,
    # timeout_address (never the address), follow_up
    event: str
    at: LocalTime
    recorded_at: datetime
    details: dict[str, str | int | None]


class CaseView(BaseModel):
    """`GET /v1/cases/{case}`: the case's status as of today, its stay, meetings and wait; what
    was referred (no family data), its events, and the later events the reader may report."""

    case: str
    status: Status
    stay: Stay | None
    meetings: list[Meeting]
    waiting_reason: str | None
    expected_start: Day | None
    kind: str = ""
    home_region: str = ""
    referrer: str = ""
    urgency: str = ""
    received_at: LocalTime | None = None
    timeouts: list[TimeoutStay] = []
    refusals: list[Refusal] = []
    history: list[HistoryItem] = []
    actions: list[str] = []  # the later events the reading person may report now
    # How the trajectory closed (PATHWAY-V2): why, how the family was doing, and the follow-up's
    # result six months later (None: not reported). Kept by intake only: the topic says no more
    # than the reason and that an outcome was recorded.
    close_reason: str | None = None
    outcome: Outcome | None = None
    relapse: bool | None = None


@dataclass
class Case:
    id: str
    kind: str
    home_region: str
    referrer: str
    urgency: str
    received_at: datetime
    closed: Literal["closed", "withdrawn"] | None = None
    stay: Stay | None = None
    timeouts: list[TimeoutStay] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)
    waiting_reason: str | None = None
    expected_start: date | None = None
    refusals: list[Refusal] = field(default_factory=list)
    close_reason: str | None = None
    outcome: Outcome | None = None
    relapse: bool | None = None  # the follow-up's result; None: no follow-up reported

    def status(self, today: date) -> Status:
        """As of `today`; a time-out under way shows before the stay it interrupts."""
        if self.closed:
            return self.closed
        if any(t.start <= today < t.end for t in self.timeouts):
            return "timeout"
        if self.stay:
            if today < self.stay.start:
                return "planned"
            return "placed" if today < self.stay.end else "home"
        return "waiting" if self.waiting_reason else "registered"

    def view(self, today: date) -> CaseView:
        return CaseView(
            case=self.id,
            status=self.status(today),
            stay=self.stay,
            meetings=self.meetings,
            waiting_reason=self.waiting_reason,
            expected_start=self.expected_start,
            kind=self.kind,
            home_region=self.home_region,
            referrer=self.referrer,
            urgency=self.urgency,
            received_at=self.received_at,
            timeouts=self.timeouts,
            refusals=self.refusals,
            close_reason=self.close_reason,
            outcome=self.outcome,
            relapse=self.relapse,
        )

    def apply(self, d: Decision) -> None:
        """Keep the case up to date with what the scheduler decided."""
        match d:
            case PlacementPlanned():
                self.stay = Stay(
                    group=d.group,
                    location=d.location,
                    start=d.start,
                    end=d.end,
                    mst_therapist=d.mst_therapist,
                    trajectbegeleider=d.trajectbegeleider,
                    explanation=d.explanation,
                    nights=d.nights,
                )
                self.waiting_reason = self.expected_start = None
            case PlacementCancelled():
                self.stay, self.waiting_reason = None, d.reason
            case CaseWaitlisted():
                self.stay, self.waiting_reason, self.expected_start = None, d.reason, d.expected_start
            case StartgesprekPlanned():
                self.meetings = [m for m in self.meetings if m.meeting != d.meeting]
                self.meetings.append(
                    Meeting(meeting=d.meeting, start=d.start, end=d.end, place=d.place, attendees=d.attendees)
                )
            case StartgesprekCancelled():
                self.meetings = [m for m in self.meetings if m.meeting != d.meeting]
            case TimeoutAssigned():
                self.timeouts.append(
                    TimeoutStay(group=d.group, location=d.location, start=d.start, end=d.end)
                )
            case RequestRefused():
                self.refusals.append(Refusal(event=d.event, at=d.at, reason=d.reason))
                if d.event == "withdraw":  # the scheduler refused it: the case goes on
                    self.closed = None

    def refusal(self, event_type: str) -> str | None:
        """Why the case takes no `event_type` now (a 409 naming the case), or None when it does.

        A closed or withdrawn case takes no more events, but a meeting held may still be reported;
        a follow-up is the one event that comes after the close, once."""
        if event_type == "follow_up":
            if self.closed != "closed":
                state = "withdrawn" if self.closed else "not closed"
                return f"the case is {state}: a follow-up is reported after the close"
            if self.relapse is not None:
                return "its follow-up is already reported"
            return None
        if self.closed is not None and event_type != "meeting_held":
            return f"the case is {self.closed}"
        return None

    def accepts(self, event_type: str) -> bool:
        return self.refusal(event_type) is None

    def record(self, event: CaseEvent) -> None:
        """Keep what an accepted later event changes of the case."""
        match event:
            case CloseEvent():
                self.closed = "closed"
                self.close_reason, self.outcome = event.reason, event.outcome
            case FollowUpEvent():
                self.relapse = event.relapse
            case WithdrawEvent():
                self.closed = "withdrawn"
