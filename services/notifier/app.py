"""Notifier service: turns case events and decisions into durable alerts, delivered until acknowledged."""

from __future__ import annotations

import asyncio
import html
import logging
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

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
from services.notifier.store import NotifierStore
from services.notifier.usecases import (
    Acknowledged,
    DeadLetterView,
    NotificationView,
    Notifier,
    Requeued,
)
from shared.aio import within
from shared.bus import subscribe
from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DECISIONS,
    TOPIC_TIMEOUT_ADDRESS,
    CaseEventV1,
    DecisionV1,
    TimeoutAddressRecorded,
)
from shared.http import ActorDep, from_state, problems_documented
from shared.service import Runtime, make_app
from shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


class CaseNotifications(BaseModel):
    case: str
    notifications: list[NotificationView]


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


NotifierDep = Annotated[Notifier, Depends(from_state("notifier"))]
router = APIRouter()


@router.get(
    "/v1/notifications",
    tags=["notifications"],
    summary="Notifications of a case",
    response_model=list[NotificationView],
)
async def list_notifications(case: str, actor: ActorDep, notifier: NotifierDep) -> list[NotificationView]:
    return await notifier.notifications_of(case, actor)


@router.post(
    "/v1/notifications/{alert_id}/ack",
    tags=["notifications"],
    summary="Acknowledge an alert",
    response_model=Acknowledged,
    responses=problems_documented(404, 422),
)
async def ack_post(alert_id: int, token: str, actor: ActorDep, notifier: NotifierDep) -> Acknowledged:
    return await notifier.acknowledge(alert_id, token, actor)


@router.get(
    "/v1/notifications/{alert_id}/ack",
    tags=["notifications"],
    summary="Acknowledge (mail link): a page that asks first",
    response_class=HTMLResponse,
)
async def ack_link(alert_id: int, token: str) -> HTMLResponse:
    # Opening the link only asks: mail scanners that follow links must not acknowledge for a person.
    action = html.escape(f"/v1/notifications/{alert_id}/ack/confirm?{urlencode({'token': token})}")
    return HTMLResponse(
        "<p>Acknowledge this alert? It then stops repeating and escalating.</p>"
        f'<form method="post" action="{action}"><button type="submit">Acknowledge</button></form>'
    )


@router.post(
    "/v1/notifications/{alert_id}/ack/confirm",
    tags=["notifications"],
    summary="Acknowledge (mail page)",
    response_class=HTMLResponse,
    responses={404: {"description": "The link is not valid", "content": {"text/html": {}}}},
)
async def ack_confirm(alert_id: int, token: str, actor: ActorDep, notifier: NotifierDep) -> HTMLResponse:
    try:
        await notifier.acknowledge(alert_id, token, actor)
    except NotFound:
        return HTMLResponse("<p>This link is not valid.</p>", status_code=404)
    return HTMLResponse("<p>Thank you: the alert is acknowledged and will not be repeated.</p>")


@router.get(
    "/v1/cases/{case}",
    tags=["notifications"],
    summary="Where message links lead: the case's alerts",
    response_model=CaseNotifications,
)
async def case_alerts(case: str, actor: ActorDep, notifier: NotifierDep) -> CaseNotifications:
    return CaseNotifications(case=case, notifications=await notifier.notifications_of(case, actor))


@router.get(
    "/v1/dead-letters",
    tags=["ops"],
    summary="Notifications given up after all retries",
    response_model=list[DeadLetterView],
)
async def dead_letters(actor: ActorDep, notifier: NotifierDep) -> list[DeadLetterView]:
    return await notifier.dead_letters(actor)


@router.post(
    "/v1/dead-letters/{dead_id}/requeue",
    tags=["ops"],
    summary="Try a dead letter again",
    response_model=Requeued,
    responses=problems_documented(404, 422),
)
async def requeue(dead_id: int, actor: ActorDep, notifier: NotifierDep) -> Requeued:
    return await notifier.requeue(dead_id, actor)


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    clock = clock or SystemClock()
    rt = Runtime("notifier", settings, MIGRATIONS)
    engine = NotificationEngine(rt.network, load_rules(settings.rules_file))  # a bad file stops the start
    metrics = NotifierMetrics(rt.registry)
    stop = asyncio.Event()
    holder: dict[str, Any] = {}

    async def on_case_event(event: CaseEventV1) -> None:
        await app.state.notifier.take_event(event)

    async def on_decision(decision: DecisionV1) -> None:
        await app.state.notifier.take_event(decision)

    async def on_timeout_address(event: TimeoutAddressRecorded) -> None:
        await app.state.notifier.take_event(event)

    subscribe(rt.broker, settings, TOPIC_CASE_EVENTS, "notifier", on_case_event)
    subscribe(rt.broker, settings, TOPIC_DECISIONS, "notifier", on_decision)
    subscribe(rt.broker, settings, TOPIC_TIMEOUT_ADDRESS, "notifier", on_timeout_address)

    async def on_start() -> None:
        store = NotifierStore(rt.pool, metrics=metrics)
        app.state.notifier = Notifier(store, engine, clock)
        dispatcher = Dispatcher(
            store,
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
                await within(asyncio.shield(task), settings.shutdown_grace_seconds)
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

    app.include_router(router)
    return app
