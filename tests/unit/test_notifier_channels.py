"""Messages from notices (links, urgency, calendars, in the reader's language), webhook signatures and
delivery retries, without I/O."""

from __future__ import annotations

import email
import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import cast

import httpx
from icalendar import Calendar, Event

from services.notifier.channels import (
    SIGNATURE_HEADER,
    DeliveryError,
    Message,
    PermanentDeliveryError,
    RetryPolicy,
    WebhookChannel,
    compose,
    deliver,
    email_message,
    sign,
    verify_signature,
)
from services.notifier.engine import Meeting, Notice
from shared.network import NetworkIndex, load_network

AT = datetime(2026, 1, 5, 10, 0)
DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "demo-network.json"
BOARD = "https://board.example/"


def address_of(person: str) -> str:
    return f"{person}@thuisbest.invalid"


def notice(**kw: object) -> Notice:
    fields: dict[str, object] = dict(
        at=AT,
        case="c1",
        kind="timeout_assigned",
        to="th1",
        key="k",
        alert="a",
        subject="Time-out c1",
        text="Case c1 gets a time-out.",
        urgent=True,
    )
    fields.update(kw)
    return Notice(**fields)  # type: ignore[arg-type]


def message(n: Notice, **kw: object) -> Message:
    return compose(
        n,
        alert_id=42,
        token="tok",
        base_url="http://localhost:8003/",
        board_url=BOARD,
        address_of=address_of,
        organizer="notifier@thuisbest.invalid",
        **kw,  # type: ignore[arg-type]
    )


def test_compose_links_the_board_and_the_single_use_ack_and_marks_urgency_in_dutch() -> None:
    m = message(notice())
    assert m.ack_url == "http://localhost:8003/v1/notifications/42/ack?token=tok"
    assert m.case_url == "https://board.example/casussen/c1"  # the board's page, not the notifier's JSON
    assert m.alerts_url == "https://board.example/meldingen"
    assert m.ack_url in m.text and m.case_url in m.text and m.alerts_url in m.text
    assert "/v1/cases/" not in m.text
    assert m.subject == "[SPOED] Time-out c1" and m.language == "nl"
    assert "Bevestig deze melding (de link werkt één keer)" in m.text
    mail = email_message(m, "notifier@thuisbest.invalid")
    assert mail["X-Priority"] == "1" and mail["To"] == "th1@thuisbest.invalid"
    assert mail["Content-Language"] == "nl"


def test_an_english_reader_gets_the_links_in_english() -> None:
    m = message(notice(language="en"))
    assert m.subject == "[URGENT] Time-out c1" and m.language == "en"
    assert f"Acknowledge this alert (the link works once): {m.ack_url}" in m.text
    assert f"All your open alerts: {m.alerts_url}" in m.text
    assert "Bevestig" not in m.text and "meldingen" in m.alerts_url


def calendar_event(m: Message) -> Event:
    parsed = email.message_from_bytes(bytes(email_message(m, "notifier@thuisbest.invalid")))
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return cast(Event, Calendar.from_ical(payload).walk("VEVENT")[0])


def test_the_calendar_names_people_and_place_in_the_organisers_language() -> None:
    index = NetworkIndex(load_network(DEMO))
    meeting = Meeting(datetime(2026, 1, 8, 13, 30), datetime(2026, 1, 8, 15), "L01", ("th-WBW-0", "tb-WBW-0"))
    invite = notice(kind="startgesprek_invite", urgent=False, meeting=meeting, language="en")
    dutch = calendar_event(message(invite, index=index))
    assert str(dutch["SUMMARY"]) == "Startgesprek casus c1" and str(dutch["LOCATION"]) == "Ossendrecht"
    description = str(dutch["DESCRIPTION"])
    assert "Lotte Smit (MST-therapeut), Luuk de Wit (trajectbegeleider)" in description
    assert "https://board.example/casussen/c1" in description
    assert sorted(str(a.params["CN"]) for a in dutch.get("ATTENDEE")) == ["Lotte Smit", "Luuk de Wit"]
    english = calendar_event(message(invite, index=index, organizer_language="en"))
    assert "Lotte Smit (MST therapist)" in str(english["DESCRIPTION"])
    assert str(english["SUMMARY"]) == "Startgesprek (start meeting) case c1"


def test_an_invitation_mail_carries_a_request_calendar() -> None:
    meeting = Meeting(datetime(2026, 1, 8, 13, 30), datetime(2026, 1, 8, 15), "L01", ("th1", "tb1"), 2)
    m = message(notice(kind="startgesprek_invite", urgent=False, meeting=meeting))
    parsed = email.message_from_bytes(bytes(email_message(m, "notifier@thuisbest.invalid")))
    parts = {p.get_content_type(): p for p in parsed.walk()}
    calendar_part = parts["text/calendar"]
    assert calendar_part.get_param("method") == "REQUEST"
    payload = calendar_part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    cal = Calendar.from_ical(payload)
    event = cast(Event, cal.walk("VEVENT")[0])
    assert str(event["UID"]) == "startgesprek-c1@thuisbest" and event.sequence == 2
    start = event.start
    assert isinstance(start, datetime) and str(start.tzinfo) == "Europe/Amsterdam"
    assert start.replace(tzinfo=None) == meeting.start


NOW = 1_767_600_000  # unix seconds


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    body = b'{"case":"c1"}'
    header = sign(body, "s3cret", NOW)
    mac = hmac.new(b"s3cret", f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={mac}"
    assert verify_signature(body, header, "s3cret", now=NOW)
    assert not verify_signature(body + b" ", header, "s3cret", now=NOW)
    assert not verify_signature(body, header, "other", now=NOW)
    assert not verify_signature(body, None, "s3cret", now=NOW)
    # another timestamp with the same MAC: the MAC does not verify
    assert not verify_signature(body, header.replace(f"t={NOW}", f"t={NOW + 1}"), "s3cret", now=NOW)


def test_a_signature_older_or_newer_than_five_minutes_is_refused() -> None:
    body = b'{"case":"c1"}'
    header = sign(body, "s3cret", NOW)
    assert verify_signature(body, header, "s3cret", now=NOW + 300)
    assert not verify_signature(body, header, "s3cret", now=NOW + 301)  # a replay
    assert not verify_signature(body, header, "s3cret", now=NOW - 301)  # from the future


def test_a_rotated_secret_may_sign_twice_and_a_malformed_header_is_refused() -> None:
    body = b"{}"
    old, new = sign(body, "old", NOW), sign(body, "new", NOW)
    both = f"{new},v1={old.rpartition('v1=')[2]}"
    assert verify_signature(body, both, "old", now=NOW) and verify_signature(body, both, "new", now=NOW)
    for header in ("", "v1=abc", "t=x,v1=abc", f"t={NOW},t={NOW},v1=abc", "sha256=abc"):
        assert not verify_signature(body, header, "old", now=NOW), header


async def test_the_webhook_channel_signs_with_its_clock() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    message = compose(
        notice(),
        alert_id=3,
        token="tok",
        base_url="http://x",
        board_url="http://board",
        address_of=address_of,
        organizer="n@x",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        await WebhookChannel("http://hook", "s3cret", client=client, clock=lambda: NOW + 0.9).send(message)
    [request] = seen
    header = request.headers[SIGNATURE_HEADER]
    assert header.startswith(f"t={NOW},") and verify_signature(request.content, header, "s3cret", now=NOW)
    assert request.headers["X-ThuisBest-Delivery"] == "3"


class Flaky:
    name = "email"

    def __init__(self, failures: int, error: type[DeliveryError] = DeliveryError) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def send(self, message: Message) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")


async def test_deliver_retries_with_exponential_backoff_then_succeeds() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    channel = Flaky(failures=3)
    result = await deliver(
        channel, message(notice()), RetryPolicy(attempts=5, base_delay=0.5, factor=2), sleep=sleep
    )
    assert result.ok and result.attempts == 4
    assert waits == [0.5, 1.0, 2.0]


async def test_deliver_gives_up_after_the_last_attempt() -> None:
    failures: list[str] = []

    async def sleep(seconds: float) -> None:
        pass

    result = await deliver(
        Flaky(failures=99),
        message(notice()),
        RetryPolicy(attempts=3, base_delay=1),
        sleep=sleep,
        on_failure=failures.append,
    )
    assert not result.ok and result.attempts == 3 and result.error == "failure 3"
    assert failures == ["email"] * 3


async def test_a_permanent_error_is_not_retried() -> None:
    channel = Flaky(failures=99, error=PermanentDeliveryError)
    result = await deliver(channel, message(notice()), RetryPolicy(attempts=5, base_delay=0))
    assert not result.ok and result.permanent and channel.calls == 1


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(attempts=10, base_delay=1, factor=3, max_delay=20)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 3, 9, 20, 20]
