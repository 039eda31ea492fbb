"""Scheduler service: case events from Kafka and capacity over HTTP into the planner's use cases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from prometheus_client import Gauge

from services.scheduler.core.waitlist import WAIT_CODES
from services.scheduler.usecases import Planner
from services.scheduler.views import (
    BedsView,
    CapacityAccepted,
    CapacityDryRun,
    Explanation,
    PlanView,
    PromiseAccepted,
    StaffChangeAccepted,
    WaitingListView,
)
from shared.bus import subscribe
from shared.clock import Clock, SystemClock
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DECISIONS,
    CaseEventV1,
    DecisionV1,
    PlacementPlanned,
    StartgesprekCancelled,
    StartgesprekPlanned,
)
from shared.http import ActorDep, CasePath, from_state, problems_documented
from shared.inputs import CapacityRequest, StaffChangeRequest
from shared.service import Runtime, make_app
from shared.settings import ServiceSettings
from shared.types import CaseId, Day

MIGRATIONS = Path(__file__).parent / "migrations"


PlannerDep = Annotated[Planner, Depends(from_state("planner"))]
router = APIRouter()

MAX_BED_DAYS = 120
FromQuery = Annotated[
    Day | None, Query(alias="from", description="The first night shown, YYYY-MM-DD (default: today)")
]
DaysQuery = Annotated[int, Query(ge=1, le=MAX_BED_DAYS, description="How many nights from `from`")]
DryRunQuery = Annotated[
    bool, Query(description="true: answer what the change would do (200) and change nothing")
]
CODES_TEXT = "\n".join(f"- `{code}`: {meaning}" for code, meaning in WAIT_CODES.items())


@router.get(
    "/v1/plan",
    tags=["plan"],
    summary="The current plan of the cases of your regions: stays, meetings, waiting, rejected",
    description="Coordinators and MST supervisors; each sees the cases whose home region they serve.",
    response_model=PlanView,
    responses=problems_documented(401, 403, 503),
)
async def get_plan(
    actor: ActorDep,
    planner: PlannerDep,
    case: Annotated[CaseId | None, Query(description="only this case's part of the plan")] = None,
) -> PlanView:
    return await planner.plan_for(actor, case)


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


@router.get(
    "/v1/beds",
    tags=["board"],
    summary="Beds per group and night: capacity, occupation and who is on them",
    description=(
        "Coordinators and MST supervisors: every group located in a region they serve, ordered by "
        "location then group, for the nights [from, from + days) of the published plan. Each night "
        "lists its stays (`stay`: under way, `planned`: starting after today, `timeout`); a stay's "
        "case is shown only when the person serves the case's home region, else `case` is null (the "
        "bed is taken, the case not revealed). Each case shown is audited."
    ),
    response_model=BedsView,
    responses=problems_documented(401, 403, 422, 503),
)
async def get_beds(
    actor: ActorDep, planner: PlannerDep, from_: FromQuery = None, days: DaysQuery = 56
) -> Response:
    beds = await planner.beds_for(actor, from_, days)
    # Serialised once, as built: 8 weeks x 9 groups are some thousand small objects, and the
    # response_model's check of them again would double the handler's time.
    return Response(beds.model_dump_json(by_alias=True), media_type="application/json")


@router.get(
    "/v1/waiting-list",
    tags=["board"],
    summary="The open cases of your regions that have not started, most urgent and longest waiting first",
    description=(
        "Coordinators and MST supervisors: the cases whose home region they serve, waiting or planned "
        "to start after today, crisis before urgent before normal, then by days waiting (longest "
        "first). `code` says why a case has not started:\n" + CODES_TEXT
    ),
    response_model=WaitingListView,
    responses=problems_documented(401, 403, 503),
)
async def get_waiting_list(actor: ActorDep, planner: PlannerDep) -> WaitingListView:
    return await planner.waiting_list_for(actor)


@router.post(
    "/v1/capacity",
    tags=["plan"],
    summary="A group has this many beds on nights in [from, until)",
    description=(
        "Coordinators of the group's region only. Accepted with 202; the plan follows at the next "
        "re-plan. With `dry_run=true`: 200 with what the change would do to the published plan if "
        "made now (the cases of your regions that would move, be cancelled, placed or restaffed, and "
        "how many of other regions), and nothing is changed."
    ),
    status_code=202,
    response_model=None,
    responses={
        202: {"model": CapacityAccepted, "description": "The change is accepted"},
        200: {"model": CapacityDryRun, "description": "dry_run=true: what the change would do"},
        **problems_documented(401, 403, 413, 415, 422, 503),
    },
)
async def post_capacity(
    body: CapacityRequest,
    actor: ActorDep,
    planner: PlannerDep,
    response: Response,
    dry_run: DryRunQuery = False,
) -> CapacityAccepted | CapacityDryRun:
    if dry_run:
        response.status_code = 200
        return await planner.capacity_dry_run(body, actor)
    await planner.change_capacity(body, actor)
    return CapacityAccepted(group=body.group, beds=body.beds)


@router.post(
    "/v1/staff-changes",
    tags=["plan"],
    summary="A therapist, trajectbegeleider or MST supervisor is absent in [from, until) or has left",
    description=(
        "Coordinators of a region the person serves. The person takes no new case and attends no "
        "meeting in [from, until) (`until` null: for good). A therapist or trajectbegeleider who has "
        "left, or is absent more than 5 working days, hands each running case over to a successor who "
        "serves the region, has room and is preferably in the same team; everyone involved is told. "
        "Accepted with 202, with the handovers made."
    ),
    status_code=202,
    response_model=StaffChangeAccepted,
    responses=problems_documented(401, 403, 413, 415, 422, 503),
)
async def post_staff_change(
    body: StaffChangeRequest, actor: ActorDep, planner: PlannerDep
) -> StaffChangeAccepted:
    decisions = await planner.change_staff(body, actor)
    therapist = planner.net.people[body.person].role == "mst_therapist"  # else a trajectbegeleider
    return StaffChangeAccepted(
        person=body.person,
        handed_over={
            d.case: (d.mst_therapist if therapist else None) or d.trajectbegeleider
            for d in decisions
            if isinstance(d, PlacementPlanned) and d.change == "handover"
        },
        meetings_planned_again=sum(
            isinstance(d, StartgesprekPlanned | StartgesprekCancelled) for d in decisions
        ),
    )


@router.post(
    "/v1/cases/{case}/promise",
    tags=["plan"],
    summary="Promise a case's expected placement now, before its start comes within the promise horizon",
    description=(
        "Coordinators of the case's home region; 404 for anyone else. A placement is promised "
        "(announced to family, referrer and staff) a week before its start; a coordinator may promise "
        "an expected one sooner. Accepted with 202: the next re-plan (within seconds) plans the case "
        "once more and announces its placement. 409 when the case has no expected placement (already "
        "promised, waiting without a bed, or ended)."
    ),
    status_code=202,
    response_model=PromiseAccepted,
    responses=problems_documented(401, 403, 404, 409, 422, 503),
)
async def post_promise(case: CasePath, actor: ActorDep, planner: PlannerDep) -> PromiseAccepted:
    return await planner.promise(case, actor)


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
