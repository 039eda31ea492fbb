"""HTTP edges every service shares: one problem format for every refusal, documented in OpenAPI,
and the actor of a request."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from shared.actor import Actor
from shared.auth import challenge
from shared.errors import Problem, Refused, Unauthenticated
from shared.types import error_place, error_reason


class ProblemItem(BaseModel):
    field: str
    reason: str


class ProblemBody(BaseModel):
    """Every refusal: a summary and each problem with the field it concerns and the reason."""

    detail: str
    problems: list[ProblemItem]


STATUS_TEXT = {
    401: "No valid bearer token (see the WWW-Authenticate header)",
    403: "The person's role may not do this",
    404: "Unknown, or not within the person's scope",
    413: "The request body is too large",
    415: "Write requests take application/json only",
    409: "Conflicts with what was accepted before",
    422: "Refused: every problem named by field and reason",
    503: "The database or broker is temporarily unavailable; retry",
}


def problems_documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer with these problem statuses."""
    return {status: {"model": ProblemBody, "description": STATUS_TEXT[status]} for status in statuses}


def problem_response(problems: Iterable[Problem], status: int = 422) -> JSONResponse:
    body = ProblemBody(
        detail="the request was refused",
        problems=[ProblemItem(field=p.field, reason=p.reason) for p in problems],
    )
    return JSONResponse(body.model_dump(), status_code=status)


def validation_problems(exc: ValidationError) -> list[Problem]:
    return [Problem(error_place(err["loc"]) or "(top level)", error_reason(err)) for err in exc.errors()]


def request_problems(exc: RequestValidationError) -> list[Problem]:
    """FastAPI's validation errors as problems: `body.` and a union's tag are left out of the field."""
    body = exc.body if isinstance(exc.body, dict) else {}
    tag = body.get("type") if isinstance(body.get("type"), str) else None
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if p not in ("body", "query", "path")]
        if loc and tag is not None and loc[0] == tag:
            loc = loc[1:]
        field, reason = error_place(loc) or "body", error_reason(err)
        if err["type"] == "json_invalid":
            field, reason = "body", f"not valid JSON: {err.get('ctx', {}).get('error', reason)}"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            ctx = err.get("ctx", {})
            field = str(ctx.get("discriminator", "type")).strip("'")
            reason = f"must be one of {ctx['expected_tags']}" if "expected_tags" in ctx else "required"
        elif err["type"] in ("model_attributes_type", "dict_type") and not loc:
            reason = "must be a JSON object"
        problems.append(Problem(field, reason))
    return problems


ExtraProblems = Callable[[dict[str, Any]], list[Problem]]


def install_problem_handlers(app: FastAPI, extra: Mapping[str, ExtraProblems] | None = None) -> None:
    """Refusals from use cases and from request validation answer in the one problem format.

    `extra` maps a route's path to a function that finds more problems in a body that failed
    validation (e.g. unknown references), so that one answer names every problem."""
    extra = dict(extra or {})

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refused)
        answer = problem_response(exc.problems, exc.status)
        if isinstance(exc, Unauthenticated):
            # RFC 6750: no error code when no credentials were sent at all.
            given = "authorization" in request.headers
            error = challenge("invalid_token", exc.problems[0].reason) if given else challenge("")
            answer.headers["WWW-Authenticate"] = error
        return answer

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        found = request_problems(exc)
        route = request.scope.get("route")
        more = extra.get(getattr(route, "path", ""))
        if more is not None and isinstance(exc.body, dict):
            named = {p.field for p in found}
            found += [p for p in more(exc.body) if p.field not in named]
        return problem_response(found, 422)

    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RequestValidationError, invalid)


def problems_in_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents its own validation error body for 422; ours is the problem format."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["ProblemBody"] = problem
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422")
            if answer is not None:
                answer.update(description=STATUS_TEXT[422], content=ref)
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema


def from_state(name: str) -> Callable[[Request], Any]:
    """A dependency giving what the app factory put on `app.state` (a service's use cases)."""

    def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return get


async def current_actor(request: Request) -> Actor:
    """The person asking, from the bearer token, with their role and regions from the network."""
    client = request.client.host if request.client else None
    runtime = request.app.state.runtime
    try:
        actor: Actor = await runtime.auth.actor(request.headers.get("authorization"), client)
    except Refused as refusal:  # audited too: who tried what, from where
        anonymous = Actor(id="(no valid token)", role="", address=client)
        case = request.path_params.get("case") or request.query_params.get("case")
        action = f"{request.method} {request.url.path}"
        await runtime.trail.record(anonymous, action, case, "refused", f"{refusal.status}: {refusal}")
        raise
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]
