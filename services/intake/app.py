"""Intake service: takes referrals and later case events over HTTP, keeps the case, publishes it (outbox)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaMessage
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

from services.intake.rules import reference_problems, referral_problems, to_case_event
from services.intake.store import CaseRepository, case_view
from shared.bus import Outgoing, add_to_outbox, consume, first_time, subscriber_options
from shared.clock import Clock, SystemClock
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DECISIONS,
    TOPIC_TIMEOUT_ADDRESS,
    CaseEventV1,
    Decision,
    TimeoutAddressRecorded,
    decision_adapter,
)
from shared.http import problem_response, read_json_object, validation_problems
from shared.inputs import (
    CaseEvent,
    CloseEvent,
    DischargeEvent,
    MachtigingEvent,
    MeetingHeldEvent,
    ReferralEvent,
    TimeoutRequestEvent,
    WithdrawEvent,
)
from shared.network import NetworkIndex
from shared.service import Runtime, make_app
from shared.settings import ServiceSettings
from shared.types import fmt_local, is_case_id

MIGRATIONS = Path(__file__).parent / "migrations"
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks of reporting systems differ a little
LATER_EVENTS: dict[str, type[CaseEvent]] = {
    "machtiging": MachtigingEvent,
    "discharge": DischargeEvent,
    "timeout_request": TimeoutRequestEvent,
    "meeting_held": MeetingHeldEvent,
    "withdraw": WithdrawEvent,
    "close": CloseEvent,
}


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    clock = clock or SystemClock()
    rt = Runtime("intake", settings, MIGRATIONS)
    net = NetworkIndex(rt.network)
    referrals = Counter(
        "thuisbest_referrals", "Referrals received, by outcome", ["outcome"], registry=rt.registry
    )
    cases_by_status = Gauge(
        "thuisbest_cases", "Cases by status (refreshed on scrape)", ["status"], registry=rt.registry
    )
    topic_events = settings.topic(TOPIC_CASE_EVENTS)
    topic_address = settings.topic(TOPIC_TIMEOUT_ADDRESS)
    rt.broker.publisher(topic_events, schema=CaseEventV1, title=TOPIC_CASE_EVENTS)
    rt.broker.publisher(topic_address, schema=TimeoutAddressRecorded, title=TOPIC_TIMEOUT_ADDRESS)

    @rt.broker.subscriber(settings.topic(TOPIC_DECISIONS), **subscriber_options(settings, "intake"))
    async def on_decision(msg: KafkaMessage) -> None:
        await consume(msg, decision_adapter, rt.dead, apply_decision)

    async def apply_decision(decision: Decision) -> None:
        async with rt.pool.acquire() as conn, conn.transaction():
            if await first_time(conn, "intake.decisions", decision.event_id):
                await CaseRepository(conn).apply_decision(decision)

    app = make_app(
        rt,
        title="ThuisBest intake",
        description="Referrals and case events in; cases kept and published. Case ids are pseudonymous.",
    )

    @app.post("/v1/referrals", tags=["cases"], summary="Register a referral (idempotent on `case`)")
    async def post_referral(request: Request) -> JSONResponse:
        body = await read_json_object(request)
        if isinstance(body, JSONResponse):
            referrals.labels("invalid").inc()
            return body
        if body.get("type", "referral") != "referral":
            return problem_response([{"field": "type", "reason": "must be 'referral' or absent"}])
        if "at" in body:
            reason = "unknown key (intake records the time it receives the referral)"
            return problem_response([{"field": "at", "reason": reason}])
        data = body | {"at": fmt_local(clock.now()), "type": "referral"}
        try:
            ref = ReferralEvent.model_validate(data)
        except ValidationError as exc:
            referrals.labels("invalid").inc()
            found = validation_problems(exc)
            named = {p["field"] for p in found}
            found += [
                {"field": p.field, "reason": p.reason}
                for p in reference_problems(body, net)
                if p.field not in named
            ]
            return problem_response(found)
        problems = referral_problems(ref, net)
        if problems:
            referrals.labels("rejected").inc()
            return problem_response([{"field": p.field, "reason": p.reason} for p in problems])
        # A repeat is the same referral however it is spelled (defaults written out or left away).
        same = ref.model_dump(mode="json", exclude={"at"})
        digest = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()
        async with rt.pool.acquire() as conn:
            async with conn.transaction():
                repo = CaseRepository(conn)
                created = await repo.add_referral(ref, digest)
                if created:
                    await repo.add_event(ref.case, "referral", ref.at, body)
                    await repo.log_access("referrer:" + ref.referrer, ref.case, "create")
                    out = [Outgoing(topic_events, to_case_event(ref, net))]
                    if ref.timeout_address:
                        address = TimeoutAddressRecorded(
                            case=ref.case, occurred_at=ref.at, address=ref.timeout_address
                        )
                        out.append(Outgoing(topic_address, address))
                    await add_to_outbox(conn, out)
            if not created:
                if await CaseRepository(conn).request_hash(ref.case) != digest:
                    referrals.labels("conflict").inc()
                    return problem_response(
                        [{"field": "case", "reason": "already used for a different referral"}], 409
                    )
                row = await CaseRepository(conn).get(ref.case)
        if created:
            rt.relay.kick()
            referrals.labels("registered").inc()
            return JSONResponse({"case": ref.case, "status": "registered"}, status_code=201)
        referrals.labels("repeat").inc()
        assert row is not None
        return JSONResponse({"case": ref.case, "status": case_view(row, clock.now().date())["status"]})

    @app.post("/v1/cases/{case}/events", tags=["cases"], summary="Record a later event of a case")
    async def post_event(case: str, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        if isinstance(body, JSONResponse):
            return body
        kind = body.get("type")
        model = LATER_EVENTS.get(kind) if isinstance(kind, str) else None
        if model is None:
            reason = f"must be one of {', '.join(LATER_EVENTS)}"
            return problem_response([{"field": "type", "reason": reason}])
        if "case" in body:
            return problem_response([{"field": "case", "reason": "unknown key (the case is in the URL)"}])
        now = clock.now()
        try:  # the case id in the URL is checked here too (CaseId): nothing odd reaches the database
            event = model.model_validate({"at": fmt_local(now)} | body | {"case": case})
        except ValidationError as exc:
            return problem_response(validation_problems(exc))
        if event.at > now + FUTURE_TOLERANCE:
            return problem_response(
                [{"field": "at", "reason": "in the future: report an event once it happened"}]
            )
        async with rt.pool.acquire() as conn, conn.transaction():
            repo = CaseRepository(conn)
            row = await repo.get(case, for_update=True)
            if row is None:
                return problem_response([{"field": "case", "reason": f"unknown case {case!r}"}], 404)
            if event.at < row["received_at"]:
                return problem_response([{"field": "at", "reason": "before the referral of the case"}])
            if row["closed"] in ("closed", "withdrawn") and event.type != "meeting_held":
                return problem_response([{"field": "case", "reason": f"the case is {row['closed']}"}], 409)
            await repo.add_event(case, event.type, event.at, body)
            await repo.log_access("api", case, f"event:{event.type}")
            if event.type == "close":
                await repo.set_closed(case, "closed")
            elif event.type == "withdraw":
                await repo.set_closed(case, "withdrawn")
            await add_to_outbox(conn, [Outgoing(topic_events, to_case_event(event, net))])
        rt.relay.kick()
        return JSONResponse({"case": case, "event": event.type, "at": fmt_local(event.at)}, status_code=202)

    @app.get("/v1/cases/{case}", tags=["cases"], summary="The case's status, stay, meetings and wait")
    async def get_case(case: str, request: Request) -> JSONResponse:
        if not is_case_id(case):
            return problem_response([{"field": "case", "reason": f"unknown case {case!r}"}], 404)
        async with rt.pool.acquire() as conn:
            repo = CaseRepository(conn)
            row = await repo.get(case)
            if row is None:
                return problem_response([{"field": "case", "reason": f"unknown case {case!r}"}], 404)
            await repo.log_access(request.headers.get("x-user", "api"), case, "read")
        return JSONResponse(case_view(row, clock.now().date()))

    @app.middleware("http")
    async def refresh_gauges(request: Request, call_next: Any) -> Any:
        if request.url.path == "/metrics":
            async with rt.pool.acquire() as conn:
                counts = await CaseRepository(conn).count_by_status(clock.now().date())
            for status in (
                "registered",
                "waiting",
                "planned",
                "placed",
                "home",
                "timeout",
                "closed",
                "withdrawn",
            ):
                cases_by_status.labels(status).set(counts.get(status, 0))
        return await call_next(request)

    return app
