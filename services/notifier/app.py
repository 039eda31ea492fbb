"""Notifier service: turns case events and decisions into durable alerts, delivered until acknowledged."""

from __future__ import annotations

import asyncio
import html
import logging
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.kafka import KafkaMessage
from pydantic import TypeAdapter

from services.notifier.channels import (
    Channel,
    FileMailSink,
    RetryPolicy,
    SmtpChannel,
    WebhookChannel,
    address_book,
)
from services.notifier.dispatcher import Dispatcher
from services.notifier.engine import NotificationEngine
from services.notifier.metrics import NotifierMetrics
from services.notifier.rules import load_rules
from services.notifier.store import AlertRow, NotifierStore
from shared.bus import consume, subscriber_options
from shared.clock import Clock, SystemClock
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DECISIONS,
    TOPIC_TIMEOUT_ADDRESS,
    TimeoutAddressRecorded,
    case_event_adapter,
    decision_adapter,
)
from shared.http import problem_response
from shared.service import Runtime, make_app
from shared.settings import ServiceSettings
from shared.types import is_case_id

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)
address_adapter: TypeAdapter[TimeoutAddressRecorded] = TypeAdapter(TimeoutAddressRecorded)


def notification_view(row: AlertRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.due_at.strftime("%Y-%m-%dT%H:%M"),
        "case": row.case,
        "kind": row.kind,
        "to": row.recipient,
        "channel": row.channel,
        "level": row.level,
        "status": row.status,
        "sent_at": row.sent_at.isoformat(timespec="seconds") if row.sent_at else None,
        "acked_by": row.acked_by,
    }


def channels_for(settings: ServiceSettings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if settings.smtp_host:
        channels["email"] = SmtpChannel(settings.smtp_host, settings.smtp_port, settings.mail_from)
    else:
        folder = settings.mail_dir or Path("mail")
        channels["email"] = FileMailSink(folder, settings.mail_from)
    if settings.webhook_url:
        if settings.webhook_secret.startswith("change-me"):
            log.warning("THUISBEST_WEBHOOK_SECRET is still the default: receivers cannot trust the signature")
        channels["webhook"] = WebhookChannel(settings.webhook_url, settings.webhook_secret)
    return channels


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    clock = clock or SystemClock()
    rt = Runtime("notifier", settings, MIGRATIONS)
    engine = NotificationEngine(rt.network, load_rules(settings.rules_file))  # a bad file stops the start
    metrics = NotifierMetrics(rt.registry)
    stop = asyncio.Event()
    holder: dict[str, Any] = {}

    def store() -> NotifierStore:
        return holder["store"]  # type: ignore[no-any-return]

    async def process(event: Any) -> None:
        await store().process(event, engine, clock.now())

    options = subscriber_options(settings, "notifier")

    @rt.broker.subscriber(settings.topic(TOPIC_CASE_EVENTS), **options)
    async def on_case_event(msg: KafkaMessage) -> None:
        await consume(msg, case_event_adapter, rt.dead, process)

    @rt.broker.subscriber(settings.topic(TOPIC_DECISIONS), **options)
    async def on_decision(msg: KafkaMessage) -> None:
        await consume(msg, decision_adapter, rt.dead, process)

    @rt.broker.subscriber(settings.topic(TOPIC_TIMEOUT_ADDRESS), **options)
    async def on_timeout_address(msg: KafkaMessage) -> None:
        await consume(msg, address_adapter, rt.dead, process)

    async def on_start() -> None:
        holder["store"] = NotifierStore(rt.pool, metrics=metrics)
        dispatcher = Dispatcher(
            holder["store"],
            channels_for(settings),
            address_of=address_book(rt.network),
            base_url=settings.base_url or f"http://{settings.http_host}:{settings.http_port or 8083}",
            organizer=parseaddr(settings.mail_from)[1] or settings.mail_from,
            retry=RetryPolicy(),
            metrics=metrics,
        )
        holder["dispatcher"] = asyncio.create_task(
            dispatcher.run(clock, stop, interval=settings.dispatch_poll_seconds)
        )
        rt.background.append(holder["dispatcher"])

    async def on_stop() -> None:
        # Let a run that is sending finish and record what it sent: cancelling it mid-send would
        # leave mail delivered but not marked, to be sent again after the restart.
        stop.set()
        task = holder.get("dispatcher")
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=settings.shutdown_grace_seconds)
            except TimeoutError:
                log.warning(
                    "dispatcher still sending after %s s; stopping it", settings.shutdown_grace_seconds
                )

    app = make_app(
        rt,
        title="ThuisBest notifier",
        description="Tells every party what is due, reminds, and escalates until someone acknowledges.",
        on_start=on_start,
        on_stop=on_stop,
    )

    @app.get("/v1/notifications", tags=["notifications"], summary="Notifications of a case")
    async def list_notifications(case: str) -> list[dict[str, Any]]:
        if not is_case_id(case):
            return []
        return [notification_view(row) for row in await store().alerts(case)]

    async def acknowledge(alert_id: int, token: str) -> JSONResponse:
        result = await store().ack(alert_id, token, clock.now()) if 0 < alert_id < 2**63 else None
        if result is None:
            return problem_response(
                [{"field": "token", "reason": "unknown notification or wrong token"}], 404
            )
        return JSONResponse(
            {"id": alert_id, "alert": result.alert, "acked_by": result.acked_by, "first": result.first}
        )

    @app.post("/v1/notifications/{alert_id}/ack", tags=["notifications"], summary="Acknowledge an alert")
    async def ack_post(alert_id: int, token: str) -> JSONResponse:
        return await acknowledge(alert_id, token)

    @app.get("/v1/notifications/{alert_id}/ack", tags=["notifications"], summary="Acknowledge (mail link)")
    async def ack_link(alert_id: int, token: str) -> HTMLResponse:
        # Opening the link only asks: mail scanners that follow links must not acknowledge for a person.
        action = html.escape(f"/v1/notifications/{alert_id}/ack/confirm?{urlencode({'token': token})}")
        return HTMLResponse(
            "<p>Acknowledge this alert? It then stops repeating and escalating.</p>"
            f'<form method="post" action="{action}"><button type="submit">Acknowledge</button></form>'
        )

    @app.post(
        "/v1/notifications/{alert_id}/ack/confirm", tags=["notifications"], summary="Acknowledge (mail page)"
    )
    async def ack_confirm(alert_id: int, token: str) -> HTMLResponse:
        answer = await acknowledge(alert_id, token)
        if answer.status_code != 200:
            return HTMLResponse("<p>This link is not valid.</p>", status_code=404)
        return HTMLResponse("<p>Thank you: the alert is acknowledged and will not be repeated.</p>")

    @app.get(
        "/v1/cases/{case}", tags=["notifications"], summary="Where message links lead: the case's alerts"
    )
    async def case_alerts(case: str) -> dict[str, Any]:
        return {"case": case, "notifications": await list_notifications(case)}

    @app.get("/v1/dead-letters", tags=["ops"], summary="Notifications given up after all retries")
    async def dead_letters() -> list[dict[str, Any]]:
        return [
            {
                "id": d.id,
                "alert_id": d.alert_id,
                "case": d.case,
                "kind": d.kind,
                "to": d.recipient,
                "channel": d.channel,
                "attempts": d.attempts,
                "reason": d.reason,
                "at": d.at.isoformat(timespec="seconds"),
            }
            for d in await store().dead_letters()
        ]

    @app.post("/v1/dead-letters/{dead_id}/requeue", tags=["ops"], summary="Try a dead letter again")
    async def requeue(dead_id: int) -> JSONResponse:
        if not await store().requeue(dead_id, clock.now()):
            return problem_response([{"field": "dead_id", "reason": "unknown or already requeued"}], 404)
        return JSONResponse({"id": dead_id, "requeued": True})

    return app
