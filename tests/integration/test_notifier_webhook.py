"""Signed webhooks against a real HTTP server on 127.0.0.1 that checks them as a receiver would
(services/notifier/README.md); replays refused; retries, then a dead letter in PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.notifier.channels import (
    SIGNATURE_HEADER,
    Message,
    RetryPolicy,
    WebhookChannel,
    compose,
    deliver,
)
from services.notifier.dispatcher import Dispatcher
from services.notifier.engine import Notice
from services.notifier.metrics import NotifierMetrics
from services.notifier.store import NotifierStore
from shared.db import create_pool

pytestmark = pytest.mark.integration

SECRET = "webhook-secret"
AT = datetime(2026, 1, 5, 10, 0)


TOLERANCE = 300  # seconds


def thuisbest_signature_ok(body: bytes, header: str | None, secret: str, now: float) -> bool:
    """The receiver's check from services/notifier/README.md, written apart from the notifier's code."""
    if not header:
        return False
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        fields.setdefault(name, []).append(value)
    if len(fields.get("t", [])) != 1 or not fields["t"][0].isdigit():
        return False
    timestamp = int(fields["t"][0])
    if abs(now - timestamp) > TOLERANCE:
        return False  # too old (a replay) or from the future
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, mac) for mac in fields.get("v1", []))


class Receiver:
    """A tiny webhook endpoint: answers with the queued status codes (then 200), keeps what it got,
    and refuses (401) what does not verify against its own clock, shifted by `late` seconds."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[bytes, str | None, bool]] = []
        self.lock = threading.Lock()
        self.late = 0.0


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            header = self.headers.get(SIGNATURE_HEADER)
            valid = thuisbest_signature_ok(body, header, SECRET, time.time() + state.late)
            with state.lock:
                state.received.append((body, header, valid))
                status = state.statuses.pop(0) if state.statuses else 200
            if not valid:
                status = 401
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hooks/thuisbest"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def notice(key: str = "k1", channel: str = "webhook") -> Notice:
    return Notice(
        at=AT,
        case="c1",
        kind="timeout_assigned",
        to="th-WBW-0",
        channel=channel,
        key=key,
        alert=f"a-{key}",
        subject="Time-out c1",
        text="Case c1 gets a time-out.",
        urgent=True,
    )


def address_of(person: str) -> str:
    return f"{person}@thuisbest.invalid"


def composed() -> Message:
    """The webhook message of `notice()` as the dispatcher composes it (alert 5, link token "tok")."""
    return compose(
        notice(),
        alert_id=5,
        token="tok",
        base_url="http://ui",
        board_url="http://board",
        address_of=address_of,
        organizer="n@x",
    )


async def test_a_signed_post_carries_the_notice_and_verifies(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    message = composed()
    sent_at = int(time.time())
    await WebhookChannel(url, SECRET, timeout=5).send(message)
    [(body, header, valid)] = state.received
    assert valid and header is not None
    stamp = int(header.split(",")[0].removeprefix("t="))
    assert abs(stamp - sent_at) <= 2
    payload = json.loads(body)
    assert payload["case"] == "c1" and payload["kind"] == "timeout_assigned" and payload["urgent"] is True
    assert payload["ack_url"] == "http://ui/v1/notifications/5/ack?token=tok"


async def test_a_replayed_delivery_is_refused_once_its_timestamp_is_old(
    receiver: tuple[Receiver, str],
) -> None:
    state, url = receiver
    message = composed()
    await WebhookChannel(url, SECRET, timeout=5).send(message)
    [(body, header, valid)] = state.received
    assert valid and header is not None
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: header}
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.post(url, content=body, headers=headers)).status_code == 200  # within 5 min
        state.late = TOLERANCE + 1  # the same delivery, sent again five minutes later
        assert (await client.post(url, content=body, headers=headers)).status_code == 401
        # A fresh timestamp on the old MAC does not help: the MAC covers the timestamp.
        fresh = f"t={int(time.time() + state.late)},v1={header.rpartition('v1=')[2]}"
        answer = await client.post(url, content=body, headers=headers | {SIGNATURE_HEADER: fresh})
        assert answer.status_code == 401
        tampered = body.replace(b'"urgent":true', b'"urgent":false')
        state.late = 0
        assert (await client.post(url, content=tampered, headers=headers)).status_code == 401


async def test_a_sender_whose_clock_is_off_by_more_than_five_minutes_is_refused(
    receiver: tuple[Receiver, str],
) -> None:
    state, url = receiver
    message = composed()
    slow = WebhookChannel(url, SECRET, timeout=5, clock=lambda: time.time() - TOLERANCE - 60)
    result = await deliver(slow, message, RetryPolicy(3, 0.01))
    assert not result.ok and result.permanent and [valid for _, _, valid in state.received] == [False]


async def test_a_wrong_secret_is_refused_permanently(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    message = composed()
    result = await deliver(WebhookChannel(url, "wrong", timeout=5), message, RetryPolicy(3, 0.01))
    assert not result.ok and result.permanent and result.attempts == 1
    assert [valid for _, _, valid in state.received] == [False]


async def test_server_errors_are_retried_with_backoff(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.statuses = [503, 500]
    message = composed()
    result = await deliver(WebhookChannel(url, SECRET, timeout=5), message, RetryPolicy(4, 0.01))
    assert result.ok and result.attempts == 3 and len(state.received) == 3


@pytest.fixture
async def store(fresh_db: str) -> AsyncIterator[NotifierStore]:
    pool = await create_pool(fresh_db)
    store = NotifierStore(pool)
    await store.migrate()
    try:
        yield store
    finally:
        await pool.close()


async def test_retries_then_dead_letter_then_requeue(
    store: NotifierStore, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    registry = CollectorRegistry()
    metrics = NotifierMetrics(registry)
    await store.record([notice("k1"), notice("k2")], now=AT)
    state.statuses = [500] * 3 + [502] * 3  # k1 and k2 each fail three times (in either order)
    dispatcher = Dispatcher(
        store,
        {"webhook": WebhookChannel(url, SECRET, timeout=5)},
        address_of=address_of,
        base_url="http://ui",
        board_url="http://board",
        retry=RetryPolicy(attempts=3, base_delay=0.01),
        metrics=metrics,
    )
    result = await dispatcher.run_once(AT)
    assert (result.sent, result.dead) == (0, 2)
    assert len(state.received) == 6 and all(valid for _, _, valid in state.received)
    dead = await store.dead_letters()
    assert sorted(d.kind for d in dead) == ["timeout_assigned"] * 2
    assert all(d.attempts == 3 and "HTTP 5" in d.reason for d in dead)
    assert {r.status for r in await store.alerts("c1")} == {"dead"}
    assert registry.get_sample_value("thuisbest_notification_dead_letters_total", {"channel": "webhook"}) == 2
    assert (
        registry.get_sample_value("thuisbest_notification_delivery_failures_total", {"channel": "webhook"})
        == 6
    )

    # a dead row stays dead on the next run; ops requeue one, and it goes out
    assert (await dispatcher.run_once(AT + timedelta(minutes=5))).sent == 0
    assert await store.requeue(dead[0].id, AT + timedelta(hours=1))
    assert not await store.requeue(dead[0].id, AT + timedelta(hours=1))
    assert (await dispatcher.run_once(AT + timedelta(hours=1))).sent == 1
    assert len(await store.dead_letters()) == 1
    assert len(await store.dead_letters(include_requeued=True)) == 2
    assert (
        registry.get_sample_value(
            "thuisbest_notifications_sent_total", {"kind": "timeout_assigned", "channel": "webhook"}
        )
        == 1
    )


async def test_a_notice_for_a_channel_not_configured_is_dead_lettered(store: NotifierStore) -> None:
    await store.record([notice("k1", channel="sms")], now=AT)
    dispatcher = Dispatcher(store, {}, address_of=address_of, base_url="http://ui", board_url="http://board")
    assert (await dispatcher.run_once(AT)).dead == 1
    [dead] = await store.dead_letters()
    assert "no channel 'sms'" in dead.reason
