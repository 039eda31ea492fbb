"""Messages from notices (links, urgency, calendars), webhook signatures and delivery retries, without I/O."""

from __future__ import annotations

import email
from datetime import datetime
from typing import cast

from icalendar import Calendar, Event

from services.notifier.channels import (
    DeliveryError,
    Message,
    PermanentDeliveryError,
    RetryPolicy,
    compose,
    deliver,
    email_message,
    sign,
    verify_signature,
)
from services.notifier.engine import Meeting, Notice

AT = datetime(2026, 1, 5, 10, 0)


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


def message(n: Notice) -> Message:
    return compose(
        n,
        alert_id=42,
        token="tok",
        base_url="http://localhost:8003/",
        address_of=address_of,
        organizer="notifier@thuisbest.invalid",
    )


def test_compose_adds_case_and_ack_links_and_marks_urgency() -> None:
    m = message(notice())
    assert m.ack_url == "http://localhost:8003/v1/notifications/42/ack?token=tok"
    assert m.case_url == "http://localhost:8003/v1/cases/c1"
    assert m.ack_url in m.text and m.case_url in m.text
    assert m.subject.startswith("[URGENT] ")
    mail = email_message(m, "notifier@thuisbest.invalid")
    assert mail["X-Priority"] == "1" and mail["To"] == "th1@thuisbest.invalid"


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


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"case":"c1"}'
    header = sign(body, "s3cret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, header, "s3cret")
    assert not verify_signature(body + b" ", header, "s3cret")
    assert not verify_signature(body, header, "other")
    assert not verify_signature(body, None, "s3cret")


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
