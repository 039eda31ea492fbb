"""Delivery channels: SMTP e-mail (a meeting as an iCalendar invitation), an .eml folder sink, signed
webhooks; and delivery with retries and exponential backoff, after which the dispatcher dead-letters.

Webhook signatures (what a receiver checks; see README.md next to this module): every POST carries

    X-ThuisBest-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

The timestamp is signed with the body, so a receiver that refuses a `t` more than five minutes
from its own clock cannot be fed an old delivery again (a replay). `verify_signature` is that
check.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import smtplib
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

import httpx

from shared.clock import AMSTERDAM
from shared.network import Network, NetworkIndex
from shared.types import fmt_local

from .engine import Notice
from .ical import build_invitation
from .texts import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Language,
    Wording,
    footer,
    ical_description,
    ical_summary,
    urgent_prefix,
)

SIGNATURE_HEADER = "X-ThuisBest-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300  # a receiver refuses a signature timestamp further off than this
INVALID_DOMAIN = "thuisbest.invalid"


def address_book(network: Network) -> Callable[[str], str]:
    """Person id -> e-mail address: `Person.email` if set, else `<id>@thuisbest.invalid`."""
    known = {p.id: p.email for p in network.people if p.email}

    def address_of(person: str) -> str:
        return known.get(person) or f"{person}@{INVALID_DOMAIN}"

    return address_of


@dataclass(frozen=True)
class Message:
    """A notice made ready to send to one person: text with links, optionally a calendar."""

    alert_id: int
    case: str
    kind: str
    person: str
    address: str
    level: int
    at: datetime
    subject: str
    text: str
    urgent: bool
    ack_url: str
    case_url: str  # the case's page on the board
    ical: bytes | None = None
    ical_method: str | None = None
    alerts_url: str = ""  # the reader's alerts on the board
    language: str = DEFAULT_LANGUAGE


def language_of(notice: Notice) -> Language:
    return next((lang for lang in LANGUAGES if lang == notice.language), DEFAULT_LANGUAGE)


def compose(
    notice: Notice,
    *,
    alert_id: int,
    token: str,
    base_url: str,
    board_url: str,
    address_of: Callable[[str], str],
    organizer: str,
    index: NetworkIndex | None = None,
    organizer_language: Language = DEFAULT_LANGUAGE,
) -> Message:
    """The mail of a notice in its reader's language: subject and text, then the links (the case on the
    board, the reader's alerts there, the single-use acknowledge link at `base_url`, this service).

    A meeting's calendar is one event for all its attendees (one UID), so it speaks the
    organiser's language: its summary, description and location are the same in every copy."""
    lang = language_of(notice)
    base, board = base_url.rstrip("/"), board_url.rstrip("/")
    ack_url = f"{base}/v1/notifications/{alert_id}/ack?token={token}"
    case_url = f"{board}/casussen/{notice.case}"
    alerts_url = f"{board}/meldingen"
    subject = (urgent_prefix(lang) if notice.urgent else "") + notice.subject
    text = f"{notice.text}\n\n--\n{footer(notice.case, case_url, alerts_url, ack_url, lang)}\n"
    ical = None
    if notice.meeting is not None:
        wording = Wording(index) if index is not None else None
        attendees = [
            wording.with_role(p, organizer_language) if wording else p for p in notice.meeting.attendees
        ]
        ical = build_invitation(
            notice.case,
            notice.meeting,
            organizer=organizer,
            address_of=address_of,
            stamp=notice.at,
            summary=ical_summary(notice.case, organizer_language, notice.meeting.name),
            description=ical_description(
                notice.case, ", ".join(attendees), case_url, organizer_language, notice.meeting.name
            ),
            location=(
                wording.location(notice.meeting.place, organizer_language)
                if wording
                else notice.meeting.place
            ),
            name_of=wording.person if wording else None,
        )
    return Message(
        alert_id=alert_id,
        case=notice.case,
        kind=notice.kind,
        person=notice.to,
        address=address_of(notice.to),
        level=notice.level,
        at=notice.at,
        subject=subject,
        text=text,
        urgent=notice.urgent,
        ack_url=ack_url,
        case_url=case_url,
        ical=ical,
        ical_method=notice.meeting.method if notice.meeting else None,
        alerts_url=alerts_url,
        language=lang,
    )


class DeliveryError(Exception):
    """A failed attempt worth retrying (connection refused, 4xx/5xx transient reply)."""


class PermanentDeliveryError(DeliveryError):
    """A failure no retry will cure (mailbox refused, webhook says 4xx)."""


class Channel(Protocol):
    name: str

    async def send(self, message: Message) -> None:
        """Deliver or raise DeliveryError."""
        ...


def email_message(message: Message, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = message.address
    msg["Subject"] = message.subject
    msg["Date"] = format_datetime(message.at.replace(tzinfo=AMSTERDAM))
    # Stable per notice: a resend after a crash mid-send carries the same id, so mail clients drop it.
    msg["Message-ID"] = f"<notice-{message.alert_id}@thuisbest>"
    msg["X-ThuisBest-Notification"] = str(message.alert_id)
    if message.urgent:
        msg["Importance"] = "high"
        msg["X-Priority"] = "1"
    msg.set_content(message.text)
    msg["Content-Language"] = message.language  # a content header: it goes with the text part
    if message.ical is not None:
        msg.add_alternative(
            message.ical.decode("utf-8"),
            subtype="calendar",
            params={"method": message.ical_method or "REQUEST"},
        )
    return msg


class SmtpChannel:
    """E-mail through an SMTP relay; the blocking smtplib runs in a worker thread."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, email_message(message, self.sender))

    def _send(self, msg: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = f"recipient refused: {codes}"
            raise (PermanentDeliveryError if all(c >= 500 for c in codes) else DeliveryError)(error) from None
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise (PermanentDeliveryError if exc.smtp_code >= 500 else DeliveryError)(error) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from None


class FileMailSink:
    """The embedded default: each message as an .eml file in a folder, to open in any mail program."""

    name = "email"

    def __init__(self, folder: str | Path, sender: str = f"notifier@{INVALID_DOMAIN}") -> None:
        self.folder = Path(folder)
        self.sender = sender

    async def send(self, message: Message) -> None:
        data = bytes(email_message(message, self.sender))
        name = f"{message.at:%Y%m%dT%H%M}-{message.alert_id:08d}-{message.kind}-{message.person}.eml"
        await asyncio.to_thread(self._write, self.folder / _safe(name), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)  # a reader never sees half a message
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc.strerror}") from None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The `X-ThuisBest-Signature` value: `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver checks: the header parses, its timestamp is within `tolerance` seconds of
    `now` (default: this machine's clock), and one of its `v1` MACs is that of `t` and the body."""
    if not header:
        return False
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        fields.setdefault(name, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(body, secret, timestamp).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, mac) for mac in fields.get("v1", []))


def webhook_payload(message: Message) -> dict[str, object]:
    return {
        "id": message.alert_id,
        "case": message.case,
        "kind": message.kind,
        "to": message.person,
        "level": message.level,
        "at": fmt_local(message.at),
        "urgent": message.urgent,
        "subject": message.subject,
        "text": message.text,
        "case_url": message.case_url,
        "ack_url": message.ack_url,
    }


class WebhookChannel:
    """POST the notice as JSON, signed with HMAC-SHA256 over the time of sending and the body under a
    shared secret (`X-ThuisBest-Signature: t=...,v1=...`), so that a receiver can refuse both a
    forged and a replayed delivery. `X-ThuisBest-Delivery` names the notice: the same value on a
    retry, for a receiver that drops duplicates."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, self.secret, self.timeout = url, secret, timeout
        self._client = client
        self._clock = clock  # real seconds since the epoch: the receiver compares with its own clock

    async def send(self, message: Message) -> None:
        body = json.dumps(webhook_payload(message), sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self.secret, int(self._clock())),
            "X-ThuisBest-Delivery": str(message.alert_id),
        }
        try:
            if self._client is not None:
                response = await self._client.post(
                    self.url, content=body, headers=headers, timeout=self.timeout
                )
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise DeliveryError(f"webhook {self.url}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentDeliveryError(f"webhook {self.url}: HTTP {response.status_code}")


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; waits base_delay, base_delay*factor, ... (at most max_delay) between them."""

    attempts: int = 5
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0

    def delay(self, failed: int) -> float:
        """The wait after the `failed`-th failed attempt (1-based)."""
        return float(min(self.max_delay, self.base_delay * self.factor ** (failed - 1)))

    @property
    def budget(self) -> float:
        """Longest total wait of one delivery: the dispatcher's claim must outlast it."""
        return sum(self.delay(n) for n in range(1, self.attempts))


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    attempts: int
    error: str | None = None
    permanent: bool = False


async def deliver(
    channel: Channel,
    message: Message,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_failure: Callable[[str], None] | None = None,
) -> DeliveryResult:
    """Send with retries; a permanent error or the last failed attempt ends it (ok=False)."""
    error = ""
    for attempt in range(1, policy.attempts + 1):
        try:
            await channel.send(message)
            return DeliveryResult(True, attempt)
        except PermanentDeliveryError as exc:
            if on_failure:
                on_failure(channel.name)
            return DeliveryResult(False, attempt, str(exc), permanent=True)
        except DeliveryError as exc:
            error = str(exc)
            if on_failure:
                on_failure(channel.name)
            if attempt < policy.attempts:
                await sleep(policy.delay(attempt))
    return DeliveryResult(False, policy.attempts, error)
