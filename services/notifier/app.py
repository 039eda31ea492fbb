"""Notifier service: turns case events and decisions into durable alerts, delivered until acknowledged.

Every route but the mail's acknowledge link takes a bearer token; that link is its own credential
(single use, it expires) and asks before it acknowledges, so that a mail scanner following links
acknowledges nothing.
"""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request
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
    OwnAlertView,
    Requeued,
)
from shared.aio import within
from shared.bus import subscribe
from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.events import TOPIC_CASE_EVENTS, TOPIC_DECISIONS, CaseEventV1, DecisionV1
from shared.http import ActorDep, CasePath, CaseQuery, LinkToken, from_state, problems_documented
from shared.service import DEFAULT_PORTS, Runtime, make_app
from shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"
BOARD_PORT = 8080  # the board's port when the settings name no board_url
log = logging.getLogger(__name__)
WEAK_SECRET_PREFIX = "change-me"
# A page that carries a link's token in its URL: not cached, and not sent on as a Referer.
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class NotifierNotConfigured(RuntimeError):
    """The settings are not fit to run outside the embedded default."""


class CaseNotifications(BaseModel):
    case: str
    notifications: list[NotificationView]


def check_secrets(settings: ServiceSettings) -> None:
    """Refuse to start with a webhook secret anyone could know: receivers trust the signature."""
    if settings.embedded:
        return
    secret = settings.webhook_secret
    if not secret or secret.startswith(WEAK_SECRET_PREFIX):
        raise NotifierNotConfigured(
            "THUISBEST_WEBHOOK_SECRET is "
            + ("empty" if not secret else f"still a placeholder ({WEAK_SECRET_PREFIX}...)")
            + ": set a secret of your own (webhook receivers verify the signature with it), or"
            " THUISBEST_EMBEDDED=true for the embedded default on one machine"
        )


def channels_for(settings: ServiceSettings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if settings.smtp_host:
        channels["email"] = SmtpChannel(settings.smtp_host, settings.smtp_port, settings.mail_from)
    else:
        folder = settings.mail_dir or Path("mail")
        channels["email"] = FileMailSink(folder, settings.mail_from)
    if settings.webhook_url:
        if not settings.webhook_secret or settings.webhook_secret.startswith(WEAK_SECRET_PREFIX):
            log.warning("THUISBEST_WEBHOOK_SECRET is not set or a placeholder: receivers cannot trust it")
        channels["webhook"] = WebhookChannel(settings.webhook_url, settings.webhook_secret)
    return channels


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=PAGE_HEADERS)


def link_not_valid() -> HTMLResponse:
    return page(
        "Link not valid",
        "<p>This link is not valid: it was used before, it has expired, or it never existed."
        " Acknowledge the alert in ThuisBest instead.</p>",
        404,
    )


NotifierDep = Annotated[Notifier, Depends(from_state("notifier"))]
router = APIRouter()


@router.get(
    "/v1/notifications",
    tags=["notifications"],
    summary="Notifications of a case",
    description="For whoever may read the case (`read_case`); 404 for anyone else, as for an unknown case.",
    response_model=list[NotificationView],
    responses=problems_documented(401, 403, 404, 422, 503),
)
async def list_notifications(
    case: CaseQuery, actor: ActorDep, notifier: NotifierDep
) -> list[NotificationView]:
    return await notifier.notifications_of(case, actor)


@router.get(
    "/v1/alerts/mine",
    tags=["notifications"],
    summary="My alerts: the open alerts and escalations sent to me",
    description=(
        "For everyone who gets alerts (`read_own_alerts`): the signed-in person's own alerts, sent or"
        " escalated to them and not acknowledged; with `all=true` also those acknowledged in the last"
        " 14 days. Open first, urgent first, then the most escalated, then the newest. Acknowledge"
        " one with `POST /v1/notifications/{id}/ack`."
    ),
    response_model=list[OwnAlertView],
    responses=problems_documented(401, 403, 422, 503),
)
async def my_alerts(
    actor: ActorDep,
    notifier: NotifierDep,
    include_acknowledged: Annotated[
        bool, Query(alias="all", description="Also the alerts acknowledged in the last 14 days")
    ] = False,
) -> list[OwnAlertView]:
    return await notifier.own_alerts(actor, include_acknowledged=include_acknowledged)


@router.post(
    "/v1/notifications/{alert_id}/ack",
    tags=["notifications"],
    summary="Acknowledge an alert: it stops repeating and escalating, for everyone",
    description=(
        "For the alert's recipients and everyone its escalation chain reaches above them; 404 for"
        " anyone else, as for an unknown notification."
    ),
    response_model=Acknowledged,
    responses=problems_documented(401, 403, 404, 422, 503),
)
async def ack_post(alert_id: int, actor: ActorDep, notifier: NotifierDep) -> Acknowledged:
    return await notifier.acknowledge(alert_id, actor)


@router.get(
    "/v1/notifications/{alert_id}/ack",
    tags=["notifications"],
    summary="Acknowledge (mail link): a page that asks first",
    response_class=HTMLResponse,
    responses={
        404: {
            "description": "The link is not valid",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **problems_documented(422, 503),
    },
)
async def ack_link(alert_id: int, token: LinkToken, notifier: NotifierDep) -> HTMLResponse:
    # Opening the link only asks: mail scanners that follow links must not acknowledge for a person.
    if not await notifier.link_works(alert_id, token):
        return link_not_valid()
    action = html.escape(f"/v1/notifications/{alert_id}/ack/confirm?{urlencode({'token': token})}")
    return page(
        "Acknowledge this alert?",
        "<p>It then stops repeating and escalating, for everyone it goes to.</p>"
        f'<form method="post" action="{action}"><button type="submit">Acknowledge</button></form>',
    )


@router.post(
    "/v1/notifications/{alert_id}/ack/confirm",
    tags=["notifications"],
    summary="Acknowledge (the mail link's page): the link works once, until it expires",
    response_class=HTMLResponse,
    responses={
        404: {
            "description": "The link is not valid",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **problems_documented(413, 422, 503),
    },
)
async def ack_confirm(
    alert_id: int, token: LinkToken, request: Request, notifier: NotifierDep
) -> HTMLResponse:
    address = request.client.host if request.client else None
    try:
        await notifier.acknowledge_by_link(alert_id, token, address)
    except NotFound:
        return link_not_valid()
    return page("Acknowledged", "<p>Thank you: the alert is acknowledged and will not be repeated.</p>")


@router.get(
    "/v1/cases/{case}",
    tags=["notifications"],
    summary="Where message links lead: the case's alerts",
    description="For whoever may read the case (`read_case`); 404 for anyone else, as for an unknown case.",
    response_model=CaseNotifications,
    responses=problems_documented(401, 403, 404, 422, 503),
)
async def case_alerts(case: CasePath, actor: ActorDep, notifier: NotifierDep) -> CaseNotifications:
    return CaseNotifications(case=case, notifications=await notifier.notifications_of(case, actor))


@router.get(
    "/v1/dead-letters",
    tags=["ops"],
    summary="Notifications given up after all retries (ops)",
    response_model=list[DeadLetterView],
    responses=problems_documented(401, 403, 503),
)
async def dead_letters(actor: ActorDep, notifier: NotifierDep) -> list[DeadLetterView]:
    return await notifier.dead_letters(actor)


@router.post(
    "/v1/dead-letters/{dead_id}/requeue",
    tags=["ops"],
    summary="Try a dead letter again (ops)",
    response_model=Requeued,
    responses=problems_documented(401, 403, 404, 413, 415, 422, 503),
)
async def requeue(dead_id: int, actor: ActorDep, notifier: NotifierDep) -> Requeued:
    return await notifier.requeue(dead_id, actor)


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    check_secrets(settings)
    clock = clock or SystemClock()
    rt = Runtime("notifier", settings, MIGRATIONS)
    intake_url = settings.intake_url or f"http://{settings.http_host}:{DEFAULT_PORTS['intake']}"
    # Mail links to the board's pages of a case and of the reader's alerts.
    board_url = settings.board_url or f"http://{settings.http_host}:{BOARD_PORT}"
    # A bad rules file stops the start.
    engine = NotificationEngine(rt.network, load_rules(settings.rules_file), intake_url=intake_url)
    metrics = NotifierMetrics(rt.registry)
    stop = asyncio.Event()
    holder: dict[str, Any] = {}

    async def on_case_event(event: CaseEventV1) -> None:
        await app.state.notifier.take_event(event)

    async def on_decision(decision: DecisionV1) -> None:
        await app.state.notifier.take_event(decision)

    subscribe(rt.broker, settings, TOPIC_CASE_EVENTS, "notifier", on_case_event)
    subscribe(rt.broker, settings, TOPIC_DECISIONS, "notifier", on_decision)

    async def on_start() -> None:
        store = NotifierStore(rt.pool, metrics=metrics)
        app.state.notifier = Notifier(store, engine, clock, rt.gate, rt.index)
        dispatcher = Dispatcher(
            store,
            channels_for(settings),
            address_of=address_book(rt.network),
            base_url=settings.base_url or f"http://{settings.http_host}:{settings.http_port or 8083}",
            board_url=board_url,
            index=rt.index,
            organizer=parseaddr(settings.mail_from)[1] or settings.mail_from,
            retry=RetryPolicy(),
            metrics=metrics,
            link_valid=timedelta(days=settings.ack_token_days),
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
        form_paths=[r"/v1/notifications/\d+/ack/confirm"],  # the mail link's page posts a form
    )

    app.include_router(router)
    return app
