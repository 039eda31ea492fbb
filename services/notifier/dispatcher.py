"""The dispatcher: claims the due alerts in PostgreSQL, sends them through their channels, records the result.

Escalation levels are rows of their own, stored up front with their due times, so climbing the
chain is just sending the next row when it falls due; an acknowledgement turns the remaining rows
into `acked`. Several dispatchers may run at once: a row is claimed with FOR UPDATE SKIP LOCKED
and a lease that outlasts the retries, so each row is sent by one of them only (a dispatcher that
dies mid-send leaves the row to be claimed again when the lease ends: at least once, not twice
in normal operation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.aio import wait_set
from shared.clock import Clock
from shared.network import NetworkIndex

from .channels import Channel, DeliveryResult, RetryPolicy, compose, deliver
from .metrics import NotifierMetrics
from .repository import Claimed
from .store import NotifierStore
from .texts import DEFAULT_LANGUAGE, Language

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    sent: int = 0
    dead: int = 0

    def __add__(self, other: RunResult) -> RunResult:
        return RunResult(self.sent + other.sent, self.dead + other.dead)


class Dispatcher:
    def __init__(
        self,
        store: NotifierStore,
        channels: Mapping[str, Channel],
        *,
        address_of: Callable[[str], str],
        base_url: str,
        board_url: str,
        index: NetworkIndex | None = None,
        organizer: str = "notifier@thuisbest.invalid",
        organizer_language: Language = DEFAULT_LANGUAGE,
        retry: RetryPolicy | None = None,
        concurrency: int = 8,
        metrics: NotifierMetrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        link_valid: timedelta = timedelta(days=14),
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.address_of = address_of
        self.base_url = base_url  # this service: the acknowledge link
        self.board_url = board_url  # the board: the case and the reader's alerts
        self.index = index  # names of people and places, for the calendar
        self.organizer = organizer
        self.organizer_language = organizer_language
        self.retry = retry or RetryPolicy()
        self.link_valid = link_valid  # how long the acknowledge link of a message works
        # A batch is what goes out at once: every claimed row starts sending right away, so the
        # lease (one delivery with all its retries) covers each of them.
        self.batch = concurrency
        self.metrics = metrics
        self._sleep = sleep
        self._gate = asyncio.Semaphore(concurrency)
        # The claim must outlast every retry of one delivery, with room for slow servers.
        self.lease = timedelta(seconds=self.retry.budget + 60 * self.retry.attempts + 60)

    async def run_once(self, now: datetime, clock: Clock | None = None) -> RunResult:
        """Send everything due at `now` (batch by batch, until nothing due is left unclaimed).

        With a `clock`, each batch is claimed at the time it starts, so its lease is not already
        running out when an earlier batch took long."""
        total = RunResult()
        while True:
            if clock is not None:
                now = clock.now()
            claimed = await self.store.claim_due(
                now, limit=self.batch, lease=self.lease, link_valid=self.link_valid
            )
            if not claimed:
                break
            results = await asyncio.gather(*(self._send(row, now) for row in claimed))
            total = sum(results, total)
            if len(claimed) < self.batch:
                break
        if self.metrics is not None:
            open_alerts, exhausted = await self.store.escalation_counts()
            self.metrics.open_alerts.set(open_alerts)
            self.metrics.escalations_exhausted.set(exhausted)
        return total

    async def run(self, clock: Clock, stop: asyncio.Event, *, interval: float = 5.0) -> None:
        """Poll every `interval` seconds until `stop` is set; a failed run is logged and retried."""
        while not stop.is_set():
            try:
                await self.run_once(clock.now(), clock)
            except Exception:  # the loop must outlive a database hiccup
                log.exception("notifier dispatcher run failed")
            await wait_set(stop, interval)

    async def _send(self, row: Claimed, now: datetime) -> RunResult:
        notice = row.notice
        channel = self.channels.get(notice.channel)
        async with self._gate:
            if channel is None:
                result = DeliveryResult(False, 0, f"no channel {notice.channel!r} configured", permanent=True)
            else:
                message = compose(
                    notice,
                    alert_id=row.id,
                    token=row.token,
                    base_url=self.base_url,
                    board_url=self.board_url,
                    address_of=self.address_of,
                    organizer=self.organizer,
                    index=self.index,
                    organizer_language=self.organizer_language,
                )
                result = await deliver(
                    channel, message, self.retry, sleep=self._sleep, on_failure=self._failed
                )
        if result.ok:
            await self.store.mark_sent(row.id, now, channel=notice.channel, attempts=result.attempts)
            if self.metrics is not None:
                self.metrics.sent.labels(notice.kind, notice.channel).inc()
                if notice.level > 0:  # level 0 is the first notice, not an escalation
                    self.metrics.escalations.labels(notice.kind, str(notice.level)).inc()
            return RunResult(sent=1)
        log.warning(
            "notification %s (%s to %s) dead-lettered: %s", row.id, notice.kind, notice.to, result.error
        )
        await self.store.mark_dead(
            row.id, now, channel=notice.channel, attempts=result.attempts, reason=result.error or "unknown"
        )
        if self.metrics is not None:
            self.metrics.dead_letters.labels(notice.channel).inc()
        return RunResult(dead=1)

    def _failed(self, channel: str) -> None:
        if self.metrics is not None:
            self.metrics.failures.labels(channel).inc()
