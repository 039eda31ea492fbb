"""HTTP edges every service shares: one problem format for every refusal, documented in OpenAPI,
and the actor of a request."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.actor import Actor
from shared.auth import challenge
from shared.errors import Problem, Refused, Unauthenticated
from shared.types import CASE_ID_PATTERN, error_place, error_reason

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/ProblemBody"
MAX_PROBLEMS = 20  # an answer lists this many problems at most; `detail` gives the count
MAX_REASON = 300  # characters of one reason (a reason may quote what was sent)
MAX_FIELD = 120


class ProblemItem(BaseModel):
    field: str
    reason: str


class ProblemBody(BaseModel):
    """Every refusal (RFC 9457 problem details): the status and a summary, and each problem with
    the field it concerns and the reason."""

    type: str = Field("about:blank", description="about:blank: the status and title say it all")
    title: str = Field(description="The HTTP status phrase")
    status: int
    detail: str = Field(description="The problems in one line (how many when they are many)")
    problems: list[ProblemItem] = Field(max_length=MAX_PROBLEMS)


STATUS_TEXT = {
    400: "The request is not well formed",
    401: "No valid bearer token (see the WWW-Authenticate header)",
    403: "The person's role may not do this",
    404: "Unknown, or not within the person's scope",
    405: "The route does not take this method",
    413: "The request body is too large (or has too many values)",
    415: "Write requests take application/json only",
    409: "Conflicts with what was accepted before",
    422: "Refused: every problem named by field and reason",
    503: "The database or broker is temporarily unavailable; retry",
}


def problem_schema() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}


def problems_documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer with these problem statuses."""
    return {status: {"description": STATUS_TEXT[status], "content": problem_schema()} for status in statuses}


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem_response(
    problems: Iterable[Problem], status: int = 422, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A refusal as RFC 9457 problem details; a long list is cut to its first MAX_PROBLEMS."""
    found = list(problems)
    listed = [ProblemItem(field=_clip(p.field, MAX_FIELD), reason=_clip(p.reason, MAX_REASON)) for p in found]
    if len(found) == 1:
        detail = f"{listed[0].field}: {listed[0].reason}"
    else:
        detail = f"{len(found)} problems" + (
            f", the first {MAX_PROBLEMS} listed" if len(found) > MAX_PROBLEMS else ""
        )
    body = ProblemBody(
        title=HTTPStatus(status).phrase, status=status, detail=detail, problems=listed[:MAX_PROBLEMS]
    )
    return ProblemResponse(body.model_dump(), status_code=status, headers=headers)


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

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's own refusals (no such route, a method the route does not take) too.
        assert isinstance(exc, StarletteHTTPException)
        field = {404: "path", 405: "method"}.get(exc.status_code, "request")
        return problem_response([Problem(field, str(exc.detail))], exc.status_code, exc.headers)

    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


def problems_in_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Every refusal documented in the problem format: FastAPI's own 422 body is replaced, and a
    route that takes a body also documents the 413 of the body limits (shared/limits.py)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["ProblemBody"] = problem
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("413", problems_documented(413)[413])
            for status, answer in responses.items():
                if status.isdigit() and int(status) >= 400 and PROBLEM_JSON not in answer.get("content", {}):
                    if "text/html" in answer.get("content", {}):
                        continue  # a page's own answer (the notifier's acknowledge link)
                    answer.update(description=STATUS_TEXT.get(int(status), ""), content=problem_schema())
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema


CasePath = Annotated[
    str, Path(min_length=1, max_length=36, pattern=CASE_ID_PATTERN, description="A case id (pseudonymous)")
]
CaseQuery = Annotated[
    str, Query(min_length=1, max_length=36, pattern=CASE_ID_PATTERN, description="A case id (pseudonymous)")
]
LinkToken = Annotated[str, Query(min_length=1, max_length=200, description="The link's single-use token")]


def from_state(name: str) -> Callable[[Request], Any]:
    """A dependency giving what the app factory put on `app.state` (a service's use cases)."""

    def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return get


# Declares the bearer scheme in /openapi.json, so that Swagger UI offers "Authorize"; the header
# itself is read and checked in `current_actor` (auto_error off: our 401 names the reason).
BEARER = HTTPBearer(auto_error=False, description="A token of the identity provider (`thuisbest token`)")


async def current_actor(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None
) -> Actor:
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
