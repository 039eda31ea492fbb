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

    event: str  # referral, machtiging, discharge, timeout_request, meeting_held, withdraw, close
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
                )
                self.waiting_reason = self.expected_start = None
            case PlacementCancelled():
                self.stay, self.waiting_reason = None, d.reason
            case CaseWaitlisted():
                self.stay, self.waiting_reason, self.expected_start = None, d.reason, d.expected_start
            case StartgesprekPlanned():
                self.meetings = [m for m in self.meetings if m.meeting != "startgesprek"]
                self.meetings.append(
                    Meeting(
                        meeting="startgesprek", start=d.start, end=d.end, place=d.place, attendees=d.attendees
                    )
                )
            case StartgesprekCancelled():
                self.meetings = [m for m in self.meetings if m.meeting != "startgesprek"]
            case TimeoutAssigned():
                self.timeouts.append(
                    TimeoutStay(group=d.group, location=d.location, start=d.start, end=d.end)
                )
            case RequestRefused():
                self.refusals.append(Refusal(event=d.event, at=d.at, reason=d.reason))
                if d.event == "withdraw":  # the scheduler refused it: the case goes on
                    self.closed = None

    def accepts(self, event_type: str) -> bool:
        """A closed or withdrawn case takes no more events, but a meeting held may still be reported."""
        return self.closed is None or event_type == "meeting_held"

    def record(self, event_type: str) -> None:
        if event_type == "close":
            self.closed = "closed"
        elif event_type == "withdraw":
            self.closed = "withdrawn"
