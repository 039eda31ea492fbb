"""iCalendar (RFC 5545/5546) invitations for a case's meetings (the startgesprek, the kennismakingsgesprek):
REQUEST (new or moved) and CANCEL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from shared.clock import AMSTERDAM

from .engine import Meeting

PRODID = "-//ThuisBest//notifier//NL"


def meeting_uid(case: str, meeting: str = "startgesprek") -> str:
    """Stable per case and meeting, so that an update or cancel replaces the calendar entry."""
    return f"{meeting}-{case}@thuisbest"


def _address(email: str, person: str, organizer: bool = False) -> vCalAddress:
    value = vCalAddress(f"mailto:{email}")
    value.params["CN"] = vText(person)
    if not organizer:
        value.params["ROLE"] = vText("REQ-PARTICIPANT")
        value.params["PARTSTAT"] = vText("NEEDS-ACTION")
        value.params["RSVP"] = vText("TRUE")
    return value


def build_invitation(
    case: str,
    meeting: Meeting,
    *,
    organizer: str,
    address_of: Callable[[str], str],
    stamp: datetime,
    description: str = "",
    summary: str = "",
    location: str = "",
    name_of: Callable[[str], str] | None = None,
) -> bytes:
    """The METHOD:REQUEST or METHOD:CANCEL calendar of one meeting: the case by its reference
    (never a name of the youth or family), the attendees by their names (`name_of`), the location by
    its name."""
    method = meeting.method.upper()
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {meeting.method!r}")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", meeting_uid(case, meeting.name))
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", stamp.replace(tzinfo=AMSTERDAM))
    event.add("dtstart", meeting.start.replace(tzinfo=AMSTERDAM))
    event.add("dtend", meeting.end.replace(tzinfo=AMSTERDAM))
    event.add("summary", summary or f"{meeting.name.capitalize()} {case}")
    event.add("location", location or meeting.place)
    if description:
        event.add("description", description)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("organizer", _address(organizer, "ThuisBest", organizer=True))
    for person in meeting.attendees:
        name = name_of(person) if name_of is not None else person
        event.add("attendee", _address(address_of(person), name), encode=False)
    cal.add_component(event)
    # A VTIMEZONE covering the meeting's year and the next keeps the invitation small.
    year = meeting.start.year
    cal.add_missing_timezones(first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1))
    data: bytes = cal.to_ical()
    return data
