"""Scheduler service: case events from Kafka and capacity over HTTP into the planner's use cases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import Gauge

from services.scheduler.usecases import Planner
from services.scheduler.views import CapacityAccepted, Explanation, PlanView
from shared.bus import subscribe
from shared.clock import Clock, SystemClock
from shared.events import TOPIC_CASE_EVENTS, TOPIC_DECISIONS, CaseEventV1, DecisionV1
from shared.http import ActorDep, CasePath, from_state, problems_documented
from shared.inputs import CapacityRequest
from shared.service import Runtime, make_app
from shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


PlannerDep = Annotated[Planner, Depends(from_state("planner"))]
router = APIRouter()


@router.get(
    "/v1/plan",
    tags=["plan"],
    summary="The current plan of the cases of your regions: stays, meetings, waiting, rejected",
    description="Coordinators and MST supervisors; each sees the cases whose home region they serve.",
    response_model=PlanView,
    responses=problems_documented(401, 403, 503),
)
async def get_plan(actor: ActorDep, planner: PlannerDep) -> PlanView:
    return await planner.plan_for(actor)


@router.get(
    "/v1/cases/{case}/explanation",
    tags=["plan"],
    summary="Why this case is planned as it is",
    description="Coordinators and MST supervisors of the case's home region; 404 for anyone else.",
    response_model=Explanation,
    responses=problems_documented(401, 403, 404, 422, 503),
)
async def explain(case: CasePath, actor: ActorDep, planner: PlannerDep) -> Explanation:
    return await planner.explain(case, actor)


@router.post(
    "/v1/capacity",
    tags=["plan"],
    summary="A group has this many beds on nights in [from, until)",
    description="Coordinators of the group's region only.",
    status_code=202,
    response_model=CapacityAccepted,
    responses=problems_documented(401, 403, 413, 415, 422, 503),
)
async def post_capacity(body: CapacityRequest, actor: ActorDep, planner: PlannerDep) -> CapacityAccepted:
    await planner.change_capacity(body, actor)
    return CapacityAccepted(group=body.group, beds=body.beds)


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    clock = clock or SystemClock()
    rt = Runtime("scheduler", settings, MIGRATIONS)
    beds = Gauge(
        "thuisbest_beds",
        "Beds today by region, group kind and state (occupied/free)",
        ["region", "group_kind", "state"],
        registry=rt.registry,
    )
    waiting = Gauge("thuisbest_waiting_list_length", "Cases waiting for a placement", registry=rt.registry)
    rt.broker.publisher(settings.topic(TOPIC_DECISIONS), schema=DecisionV1, title=TOPIC_DECISIONS)

    async def on_case_event(event: CaseEventV1) -> None:
        await app.state.planner.record_case_event(event)

    subscribe(rt.broker, settings, TOPIC_CASE_EVENTS, "scheduler", on_case_event)

    async def on_start() -> None:
        app.state.planner = p = Planner(rt.pool, rt.relay, rt.network, clock, settings, rt.registry, rt.gate)
        await p.load()
        p.dirty.set()  # catch up with the clock at once
        app.state.health.add_check("replan", p.replan_problem)  # a failed re-plan: degraded
        rt.background.append(asyncio.create_task(p.run(settings.replan_debounce_seconds)))

    app = make_app(
        rt,
        title="ThuisBest scheduler",
        description="Plans beds, time-outs, MST therapists, trajectbegeleiders and startgesprekken.",
        on_start=on_start,
    )
    app.include_router(router)

    @app.middleware("http")
    async def refresh_gauges(request: Request, call_next: Any) -> Any:
        if request.url.path == "/metrics" and hasattr(app.state, "planner"):
            today = clock.now().date().isoformat()
            plan = app.state.planner.plan()
            occupied: dict[str, int] = {}
            for stay in plan.stays:
                if stay.start <= today < stay.end:
                    occupied[stay.group] = occupied.get(stay.group, 0) + 1
            totals: dict[tuple[str, str, str], int] = {}
            for gid, info in app.state.planner.net.groups.items():
                used = occupied.get(gid, 0)
                for state, n in (("occupied", used), ("free", max(info.group.beds - used, 0))):
                    key = (info.region, info.group.kind, state)
                    totals[key] = totals.get(key, 0) + n
            for (region, kind, state), n in totals.items():
                beds.labels(region, kind, state).set(n)
            waiting.set(len(plan.waiting))
            app.state.planner.refresh_gauges(clock.now().date())
        return await call_next(request)

    return app
