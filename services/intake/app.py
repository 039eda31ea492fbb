"""Intake service: referrals and later case events over HTTP, decisions from Kafka, all through use cases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import Gauge
from pydantic import BaseModel

from services.intake.domain import STATUSES, CaseView
from services.intake.identity import KeyRing
from services.intake.rules import reference_problems
from services.intake.usecases import Intake, RecordedEvent, Registration, TimeoutAddress
from shared.bus import subscribe
from shared.clock import Clock, SystemClock
from shared.errors import Problem
from shared.events import TOPIC_CASE_EVENTS, TOPIC_DECISIONS, CaseEventV1, DecisionV1
from shared.http import ActorDep, CasePath, from_state, problems_documented
from shared.inputs import LaterEventRequest, ReferralRequest
from shared.service import Runtime, make_app
from shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class RegistrationOut(BaseModel):
    case: str
    status: str


class RecordedOut(BaseModel):
    case: str
    event: str
    at: str


class TimeoutAddressOut(BaseModel):
    case: str
    address: str | None  # the one named last (with the referral or later); null: none named


IntakeDep = Annotated[Intake, Depends(from_state("intake"))]
router = APIRouter()


@router.post(
    "/v1/referrals",
    tags=["cases"],
    summary="Register a referral (idempotent on `case`)",
    status_code=201,
    response_model=RegistrationOut,
    responses={
        200: {"model": RegistrationOut, "description": "A repeat of a referral already registered"},
        **problems_documented(401, 403, 409, 413, 415, 422, 503),
    },
)
async def post_referral(
    body: ReferralRequest, response: Response, actor: ActorDep, intake: IntakeDep
) -> Registration:
    registration = await intake.register_referral(body, actor)
    if not registration.created:
        response.status_code = 200
    return registration


@router.post(
    "/v1/cases/{case}/events",
    tags=["cases"],
    summary="Record a later event of a case",
    status_code=202,
    response_model=RecordedOut,
    responses=problems_documented(401, 403, 404, 409, 413, 415, 422, 503),
)
async def post_event(
    case: CasePath, body: LaterEventRequest, actor: ActorDep, intake: IntakeDep
) -> RecordedEvent:
    return await intake.record_event(case, body, actor)


@router.get(
    "/v1/cases/{case}",
    tags=["cases"],
    summary="The case's status, stay, meetings and wait",
    response_model=CaseView,
    responses=problems_documented(401, 403, 404, 503),
)
async def get_case(case: CasePath, actor: ActorDep, intake: IntakeDep) -> CaseView:
    return await intake.read_case(case, actor)


@router.get(
    "/v1/cases/{case}/timeout-address",
    tags=["cases"],
    summary="The family's time-out address (the case's therapist and that therapist's supervisor only)",
    response_model=TimeoutAddressOut,
    responses=problems_documented(401, 403, 404, 503),
)
async def get_timeout_address(case: CasePath, actor: ActorDep, intake: IntakeDep) -> TimeoutAddress:
    return await intake.read_timeout_address(case, actor)


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    clock = clock or SystemClock()
    keys = KeyRing.from_file(settings.identity_key_file)  # no keys: no start (family data stays sealed)
    rt = Runtime("intake", settings, MIGRATIONS)
    net = rt.index
    cases_by_status = Gauge(
        "thuisbest_cases", "Cases by status (refreshed on scrape)", ["status"], registry=rt.registry
    )
    rt.broker.publisher(settings.topic(TOPIC_CASE_EVENTS), schema=CaseEventV1, title=TOPIC_CASE_EVENTS)

    async def on_start() -> None:
        intake = Intake(rt.pool, rt.relay, net, clock, settings, rt.registry, rt.gate, keys)
        await intake.seal_identities()  # before any request: every row sealed with the first key
        app.state.intake = intake

    async def on_decision(decision: DecisionV1) -> None:
        await app.state.intake.apply_decision(decision)

    subscribe(rt.broker, settings, TOPIC_DECISIONS, "intake", on_decision)

    def unknown_references(body: dict[str, Any]) -> list[Problem]:
        if hasattr(app.state, "intake"):
            app.state.intake.count_invalid()
        return reference_problems(body, net)

    app = make_app(
        rt,
        title="ThuisBest intake",
        description=(
            "Referrals and case events in; cases kept and published. Case ids are pseudonymous: who"
            " the youth is (name, BSN, birth date, addresses) stays here, sealed, read on audited"
            " endpoints only. Every endpoint takes a bearer token."
        ),
        on_start=on_start,
        extra_problems={"/v1/referrals": unknown_references},
    )
    app.include_router(router)

    @app.middleware("http")
    async def refresh_gauges(request: Request, call_next: Any) -> Any:
        if request.url.path == "/metrics":
            counts = await app.state.intake.count_by_status()
            for status in STATUSES:
                cases_by_status.labels(status).set(counts.get(status, 0))
        return await call_next(request)

    return app
