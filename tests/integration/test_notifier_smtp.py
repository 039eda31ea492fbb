"""E-mail against a real SMTP server (aiosmtpd on 127.0.0.1): the startgesprek invitation, its update and its
cancellation read back with icalendar; a refused mailbox; the .eml folder sink."""

from __future__ import annotations

import email
import email.message
import email.policy
import socket
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar, Event

from services.notifier.channels import (
    FileMailSink,
    PermanentDeliveryError,
    RetryPolicy,
    SmtpChannel,
    compose,
    deliver,
)
from services.notifier.engine import Notice, NotificationEngine
from shared import events as ev
from tools.scenario import load_scenario

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "scenarios" / "landsdeel-zuid.json"
SENDER = "notifier@thuisbest.invalid"
T0 = datetime(2026, 1, 5, 10, 0)
MEETING = datetime(2026, 1, 8, 13, 30)
ATTENDEES = ["th-WBW-0", "tb-WBW-0", "ref-WBW"]


class Inbox:
    """aiosmtpd handler keeping every message; refuses mailboxes starting with 'nobody'."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("nobody"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=email.policy.default))
        )
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def address_of(person: str) -> str:
    return f"{person}@thuisbest.invalid"


def meeting_notices() -> list[Notice]:
    """Invite, update (moved, SEQUENCE 1) and cancel (SEQUENCE 2) as the engine makes them for th-WBW-0."""
    engine = NotificationEngine(load_scenario(SAMPLE).network)
    out: list[Notice] = []
    steps: list[Any] = [
        ev.ReferralRegistered(
            occurred_at=T0,
            case="c1",
            kind="thuisbest",
            home_region="WBW",
            referrer="ref-WBW",
            urgency="normal",
            earliest_start=date(2026, 1, 7),
            stay_days=56,
            eligible_from=date(2021, 1, 1),
            eligible_until=date(2027, 1, 1),
        ),
        ev.StartgesprekPlanned(
            occurred_at=T0,
            case="c1",
            start=MEETING,
            end=MEETING + timedelta(minutes=90),
            place="L01",
            attendees=ATTENDEES,
            sequence=0,
        ),
        ev.StartgesprekPlanned(
            occurred_at=T0 + timedelta(hours=1),
            case="c1",
            start=MEETING + timedelta(days=1),
            end=MEETING + timedelta(days=1, minutes=90),
            place="L01",
            attendees=ATTENDEES,
            sequence=1,
        ),
        ev.StartgesprekCancelled(occurred_at=T0 + timedelta(hours=2), case="c1", sequence=2),
    ]
    for event in steps:
        out += engine.handle(event, event.occurred_at)
    return [n for n in out if n.to == "th-WBW-0" and n.meeting is not None]


def calendar_of(msg: email.message.Message) -> Calendar:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)


async def test_invitation_update_and_cancel_round_trip_through_smtp(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    channel = SmtpChannel("127.0.0.1", port, SENDER, timeout=5)
    notices = meeting_notices()
    assert [n.meeting.method for n in notices if n.meeting] == ["REQUEST", "REQUEST", "CANCEL"]
    for i, n in enumerate(notices, start=1):
        message = compose(
            n,
            alert_id=i,
            token="t",
            base_url="http://localhost",
            board_url="http://board",
            address_of=address_of,
            organizer=SENDER,
        )
        result = await deliver(channel, message, RetryPolicy(attempts=2, base_delay=0.01))
        assert result.ok, result.error

    assert len(inbox.messages) == 3
    seen = []
    for rcpt, msg in inbox.messages:
        assert rcpt == ["th-WBW-0@thuisbest.invalid"]
        text = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
        assert isinstance(text, email.message.EmailMessage) and "/v1/notifications/" in text.get_content()
        cal = calendar_of(msg)
        event = cast(Event, cal.walk("VEVENT")[0])
        assert str(event["UID"]) == "startgesprek-c1@thuisbest"
        assert sorted(str(a) for a in event.get("ATTENDEE")) == sorted(
            f"mailto:{address_of(p)}" for p in ATTENDEES
        )
        assert str(event["ORGANIZER"]) == f"mailto:{SENDER}"
        start, end = event.start, event.end
        assert isinstance(start, datetime) and isinstance(end, datetime)
        assert str(start.tzinfo) == "Europe/Amsterdam"
        seen.append(
            (
                str(cal["METHOD"]),
                event.sequence,
                start.replace(tzinfo=None),
                end.replace(tzinfo=None),
                str(event["STATUS"]),
            )
        )
    moved = MEETING + timedelta(days=1)
    assert seen == [
        ("REQUEST", 0, MEETING, MEETING + timedelta(minutes=90), "CONFIRMED"),
        ("REQUEST", 1, moved, moved + timedelta(minutes=90), "CONFIRMED"),
        ("CANCEL", 2, moved, moved + timedelta(minutes=90), "CANCELLED"),
    ]


async def test_a_refused_mailbox_is_a_permanent_failure(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    channel = SmtpChannel("127.0.0.1", port, SENDER, timeout=5)
    n = Notice(at=T0, case="c1", kind="referral_received", to="nobody", key="k", subject="s", text="t")
    message = compose(
        n,
        alert_id=1,
        token="t",
        base_url="http://x",
        board_url="http://board",
        address_of=address_of,
        organizer=SENDER,
    )
    result = await deliver(channel, message, RetryPolicy(attempts=3, base_delay=0.01))
    assert not result.ok and result.permanent and result.attempts == 1
    assert inbox.messages == []
    with pytest.raises(PermanentDeliveryError):
        await channel.send(message)


async def test_no_smtp_server_is_a_transient_failure() -> None:
    channel = SmtpChannel("127.0.0.1", free_port(), SENDER, timeout=2)
    n = Notice(at=T0, case="c1", kind="referral_received", to="th1", key="k", subject="s", text="t")
    message = compose(
        n,
        alert_id=1,
        token="t",
        base_url="http://x",
        board_url="http://board",
        address_of=address_of,
        organizer=SENDER,
    )
    result = await deliver(channel, message, RetryPolicy(attempts=2, base_delay=0.01))
    assert not result.ok and not result.permanent and result.attempts == 2


async def test_the_file_sink_writes_messages_a_mail_program_opens(tmp_path: Path) -> None:
    sink = FileMailSink(tmp_path / "outbox", SENDER)
    n = meeting_notices()[0]
    await sink.send(
        compose(
            n,
            alert_id=7,
            token="t",
            base_url="http://x",
            board_url="http://board",
            address_of=address_of,
            organizer=SENDER,
        )
    )
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and "startgesprek_invite" in files[0].name
    msg = email.message_from_bytes(files[0].read_bytes())
    assert msg["To"] == "th-WBW-0@thuisbest.invalid"
    assert str(calendar_of(msg)["METHOD"]) == "REQUEST"
