"""The board: pages for placement coordinators and MST supervisors (Bedden, Wachtlijst, Casus, Nieuwe
aanmelding, Meldingen, Capaciteit, Personeel), server-rendered, live through server-sent events.

It keeps no case data of its own: every page reads the other services' APIs with the signed-in
person's token, so intake, the scheduler and the notifier keep deciding who may see and do what.
It keeps sessions (PostgreSQL) and records sign-ins in its audit trail.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from faststream.middlewares import AckPolicy
from pydantic import BaseModel

from services.board import i18n, texts
from services.board.backend import Backend, BackendError, Problem
from services.board.live import Live
from services.board.pages import Pages
from services.board.sessions import COOKIE, Session, SessionStore
from services.board.signin import EmbeddedTokens, OidcSignin, SigninLinks, Tokens
from shared.access import POLICY, may_ever
from shared.actor import Actor
from shared.clock import Clock, SystemClock
from shared.errors import Unauthenticated
from shared.events import TOPIC_CASE_EVENTS, TOPIC_DECISIONS
from shared.inputs import LATER_EVENTS, CloseReason
from shared.issuer import Issuer
from shared.kinds import KINDS, WEEKDAYS
from shared.network import Person
from shared.service import Runtime, make_app
from shared.settings import ServiceSettings
from shared.types import is_case_id

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
STATIC = Path(__file__).parent / "static"
PORT = 8080
LANGUAGE_COOKIE = "thuisbest_lang"
BED_WEEKS = 8
FORM_EVENTS = tuple(LATER_EVENTS)  # every later event intake takes has its form on the case page
DONE = {
    "event": i18n.N_("Recorded. The plan follows in a moment."),
    "ack": i18n.N_("Acknowledged: the alert stops repeating and escalating."),
    "capacity": i18n.N_("Capacity change announced; the scheduler plans again."),
    "promise": i18n.N_("Promised: the placement is announced to everyone involved in a moment."),
    "staff_change": i18n.N_("Staff change recorded; the scheduler hands the running cases over."),
    "signed_out": i18n.N_("You are signed out."),
}


class SignInFirst(Exception):
    """No live session: the person signs in first (and comes back to `path`)."""

    def __init__(self, path: str) -> None:
        self.path = path


@dataclass
class Visit:
    """A request of a signed-in person."""

    session: Session
    person: Person
    actor: Actor
    language: str
    token: str
    path: str
    # When the request began, before any service was asked: a page's live stream tells every
    # change since (Live.events), so a decision that came by while the page was made is not missed.
    began: float = field(default_factory=time.time)

    @property
    def csrf(self) -> str:
        return self.session.csrf


async def signed_in(request: Request) -> Visit:
    """The request's visit (SignInFirst when there is no live session): see `visit` in create_app."""
    found: Visit = await request.app.state.visit(request)
    return found


VisitDep = Annotated[Visit, Depends(signed_in)]


def local_path(value: str | None, default: str = "/") -> str:
    """A path on this board to go back to; anything else (another site, `//host`) is the default."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def form_referral(form: dict[str, str]) -> dict[str, Any]:
    """The referral request body from the form: a field per JSON name, empty fields left out."""
    body: dict[str, Any] = {}
    for key in ("case", "kind", "birth_date", "home_region", "referrer", "urgency", "earliest_start"):
        body[key] = form.get(key, "").strip()
    for key in ("timeout_address", "name", "bsn", "address"):
        if form.get(key, "").strip():
            body[key] = form[key].strip()
    for key in ("stay_days", "program_weeks", "nights_per_week"):
        number = form.get(key, "").strip()
        if number:
            body[key] = int(number) if number.isdigit() else number  # intake names what is wrong
    if form.get("current_therapist", "").strip():
        body["current_therapist"] = form["current_therapist"].strip()
    nights = [n for n in re.split(r"[,\s]+", form.get("preferred_nights", "")) if n]
    if nights:
        body["preferred_nights"] = nights
    conflicts = [c.strip() for c in form.get("conflicts_with", "").replace(";", ",").split(",") if c.strip()]
    if conflicts:
        body["conflicts_with"] = conflicts
    valid_from = form.get("machtiging_valid_from", "").strip()
    valid_until = form.get("machtiging_valid_until", "").strip()
    if valid_from or valid_until:
        body["machtiging"] = {"valid_from": valid_from or None, "valid_until": valid_until or None}
    return body


def form_field(problem_field: str) -> str:
    """The form field an intake problem is about: `machtiging.valid_from` -> `machtiging_valid_from`,
    `preferred_nights[1]` -> `preferred_nights`."""
    head, _, rest = problem_field.partition(".")
    head = head.partition("[")[0]
    if head == "machtiging":
        return "machtiging_valid_from" if rest.startswith("valid_from") else "machtiging_valid_until"
    return head


EVENT_ENVELOPE = frozenset({"type", "case", "at"})  # what intake stamps itself, not the form's fields
YES, NO = frozenset({"yes", "true"}), frozenset({"no", "false"})
_LEFT_OUT = object()  # a field the form left empty: not sent (intake names a required one)


def _without_none(annotation: Any) -> Any:
    """A field's type without its None: `Outcome | None` -> `Outcome`."""
    args = get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _nested(annotation: Any) -> type[BaseModel] | None:
    plain = _without_none(annotation)
    return plain if isinstance(plain, type) and issubclass(plain, BaseModel) else None


def event_fields(event_type: str) -> list[str]:
    """The form fields of a later event's form, named as intake names its problems: a field per JSON
    field, `outcome.at_home` for a field of a nested object."""
    event = LATER_EVENTS.get(event_type)
    if event is None:
        return []

    def names(model: type[BaseModel], prefix: str) -> list[str]:
        found: list[str] = []
        for key, info in model.model_fields.items():
            if not prefix and key in EVENT_ENVELOPE:
                continue
            nested = _nested(info.annotation)
            found += names(nested, f"{prefix}{key}.") if nested else [prefix + key]
        return found

    return names(event, "")


def _form_value(form: dict[str, str], name: str, annotation: Any) -> Any:
    """The JSON value of a form field of this type: a number, yes/no as true/false, a nested object
    from its own fields; `_LEFT_OUT` when empty. Anything else goes as typed: intake names what is wrong."""
    nested = _nested(annotation)
    if nested is not None:
        found = {
            key: value
            for key, info in nested.model_fields.items()
            if (value := _form_value(form, f"{name}.{key}", info.annotation)) is not _LEFT_OUT
        }
        return found or _LEFT_OUT
    raw = form.get(name, "").strip()
    plain = _without_none(annotation)
    if not raw:
        return _LEFT_OUT
    if plain is int and raw.isdigit():
        return int(raw)
    if plain is bool and raw.lower() in YES | NO:
        return raw.lower() in YES
    return raw


def form_event(form: dict[str, str]) -> dict[str, Any]:
    """A later event's request body from the case page's form of that event (empty fields left out)."""
    kind = form.get("type", "")
    body: dict[str, Any] = {"type": kind}
    event = LATER_EVENTS.get(kind)
    for key, info in ({} if event is None else event.model_fields).items():
        if key in EVENT_ENVELOPE:
            continue
        value = _form_value(form, key, info.annotation)
        if value is not _LEFT_OUT:
            body[key] = value
    return body


def case_plan(plan: dict[str, Any] | None, case: str) -> dict[str, Any] | None:
    """The scheduler's plan of one case (None when the person may not read plans): its placement's
    stay (with its kind and part-time nights), its meetings by start, its handovers by time."""
    if plan is None:
        return None

    def mine(key: str) -> list[dict[str, Any]]:
        return [item for item in plan.get(key) or [] if item.get("case") == case]

    stays = [s for s in mine("stays") if s.get("type") == "placement"]
    return {
        "stay": stays[0] if stays else None,
        "meetings": sorted(mine("meetings"), key=lambda m: str(m.get("start"))),
        "handovers": sorted(mine("handovers"), key=lambda h: str(h.get("at"))),
    }


def staff_body(form: dict[str, str]) -> dict[str, Any]:
    """`POST /v1/staff-changes` from the form: `until` left out when empty (absent until further
    notice, or for good); other empty fields too, so that the scheduler names them."""
    body = {key: form.get(key, "").strip() for key in ("person", "from", "until", "status")}
    return {key: value for key, value in body.items() if value}


def may(actor: Actor, action: str) -> bool:
    """Whether the role table lets the person's role ever do `action`: to offer a page or a button
    (the service still decides); False for an action the table does not name."""
    return action in POLICY and may_ever(actor, action)


def errors_by_field(error: BackendError, fields: set[str], rename: Any = None) -> dict[str, list[str]]:
    """Problems next to the field they name; those about no field of the form under "form"."""
    found: dict[str, list[str]] = {}
    for p in error.problems:
        name = rename(p.field) if rename else p.field
        found.setdefault(name if name in fields else "form", []).append(
            p.reason if name in fields else f"{p.field}: {p.reason}"
        )
    return found


def client(request: Request) -> str | None:
    return request.client.host if request.client else None


def stranger(request: Request) -> Actor:
    """Who is refused a sign-in: nobody known yet, only the address."""
    return Actor(id="(not signed in)", role="anonymous", address=client(request))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def bed_weeks(group: dict[str, Any]) -> list[list[dict[str, Any] | None]]:
    """A group's days as weeks of seven (Monday first), None where the window has no day."""
    days = {d["date"]: d for d in group.get("days", [])}
    if not days:
        return []
    first = week_start(date.fromisoformat(min(days)))
    last = date.fromisoformat(max(days))
    weeks: list[list[dict[str, Any] | None]] = []
    monday = first
    while monday <= last:
        weeks.append([days.get((monday + timedelta(days=i)).isoformat()) for i in range(7)])
        monday += timedelta(days=7)
    return weeks


def create_app(
    settings: ServiceSettings | None = None,
    clock: Clock | None = None,
    transport: Any = None,
) -> FastAPI:
    settings = settings or ServiceSettings()
    clock = clock or SystemClock()
    rt = Runtime("board", settings, MIGRATIONS)
    net = rt.index
    host = "127.0.0.1" if settings.http_host in ("", "0.0.0.0") else settings.http_host  # noqa: S104
    board_url = (settings.board_url or f"http://{host}:{settings.http_port or PORT}").rstrip("/")
    secure_cookies = board_url.startswith("https://")
    backend = Backend(settings, transport)
    live = Live()
    pages = Pages(net)
    oidc_configured = bool(settings.oidc_client_id)
    if not oidc_configured and settings.board_issuer_dir is None:
        raise RuntimeError(
            "the board cannot sign anyone in: set THUISBEST_OIDC_CLIENT_ID (with THUISBEST_AUTH_ISSUER) for"
            " OpenID Connect, or THUISBEST_BOARD_ISSUER_DIR on the embedded default (`thuisbest up` does)"
        )
    holder: dict[str, Any] = {}

    def store() -> SessionStore:
        return holder["store"]  # type: ignore[no-any-return]

    def tokens() -> Tokens:
        return holder["tokens"]  # type: ignore[no-any-return]

    def now_utc() -> datetime:
        return datetime.now(UTC)

    async def heard(body: dict[str, Any]) -> None:
        case = body.get("case")
        if isinstance(case, str):
            live.changed(case)

    for topic in (TOPIC_CASE_EVENTS, TOPIC_DECISIONS):
        # No consumer group: every board instance hears every change, from now on (nothing to commit).
        rt.broker.subscriber(
            settings.topic(topic), auto_offset_reset="latest", ack_policy=AckPolicy.ACK_FIRST
        )(heard)

    async def on_start() -> None:
        holder["store"] = SessionStore(
            rt.pool,
            lifetime=timedelta(hours=settings.board_session_hours),
            idle=timedelta(minutes=settings.board_idle_minutes),
        )
        if oidc_configured:
            holder["oidc"] = holder["tokens"] = OidcSignin(settings, store(), board_url)
        else:
            assert settings.board_issuer_dir is not None
            holder["tokens"] = EmbeddedTokens(Issuer.load(settings.board_issuer_dir))
            holder["links"] = SigninLinks(settings, net, store())
        rt.background.append(asyncio.create_task(purge_now_and_then()))

    async def purge_now_and_then() -> None:
        while True:
            try:
                await store().purge(now_utc())
            except Exception:  # noqa: BLE001 (the database may be away for a moment)
                log.warning("could not purge ended sessions", exc_info=True)
            await asyncio.sleep(600)

    async def on_stop() -> None:
        await backend.close()

    app = make_app(
        rt,
        title="ThuisBest board",
        description="The coordinators' and supervisors' pages, over the other services' APIs.",
        on_start=on_start,
        on_stop=on_stop,
        form_paths=[r"/(?!v1/).*"],  # the pages post forms; the JSON API (audit) takes JSON only
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # --- who is asking ------------------------------------------------------------------------

    def language_of(request: Request, session: Session | None = None) -> str:
        chosen = session.language if session and session.language else request.cookies.get(LANGUAGE_COOKIE)
        return i18n.choose(chosen, request.headers.get("accept-language"))

    async def visit(request: Request) -> Visit:
        session = await store().get(request.cookies.get(COOKIE), now_utc())
        person = net.people.get(session.person) if session else None
        if session is None or person is None:
            raise SignInFirst(local_path(str(request.url.path) + _query(request)))
        try:
            token = await tokens().api_token(session)
        except Unauthenticated:
            await store().end(session)
            raise SignInFirst(local_path(str(request.url.path))) from None
        return Visit(
            session, person, Actor.of(person), language_of(request, session), token, request.url.path
        )

    app.state.visit = visit

    def _query(request: Request) -> str:
        return f"?{request.url.query}" if request.url.query else ""

    async def posted(request: Request, v: Visit) -> dict[str, str]:
        """The posted form, after its CSRF token is checked (a 403 page when it does not match)."""
        form = await request.form()
        # A field posted more than once (checkboxes of one name) comes as its values joined by commas.
        fields = {
            k: ",".join(values)
            for k in form.keys()  # noqa: SIM118 (a form's keys, once each)
            if (values := [str(value) for value in form.getlist(k) if isinstance(value, str)])
        }
        offered = fields.pop("csrf", None) or request.headers.get("x-csrf-token")
        if not v.session.csrf_ok(offered):
            raise BackendError(
                "board", 403, [Problem("csrf", "the form is out of date: open the page again")]
            )
        return fields

    def render(v: Visit | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        language = v.language if v else context.pop("language", i18n.DEFAULT)
        return pages.html(
            language,
            template,
            status,
            visit=v,
            coordinator=v is not None and may_ever(v.actor, "change_capacity"),
            promises=v is not None and may_ever(v.actor, "promise_placement"),
            rendered=f"{v.began if v else time.time():.3f}",  # see Visit.began
            planner=v is not None and may_ever(v.actor, "read_plan"),
            refers=v is not None and may_ever(v.actor, "refer"),
            alerted=v is not None and may_ever(v.actor, "read_own_alerts"),
            staffing=v is not None and may(v.actor, "report_staff_change"),
            **({"done_text": None} | context),
        )

    def gettext(v: Visit) -> Any:
        return pages.gettext(v.language)

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        target = "/aanmelden?" + urlencode({"next": exc.path})
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(BackendError)
    async def backend_error(request: Request, exc: BackendError) -> Response:
        session = await store().get(request.cookies.get(COOKIE), now_utc())
        if exc.status == 401:
            return await sign_in_first(request, SignInFirst(local_path(str(request.url.path))))
        language = language_of(request, session)
        status = exc.status if exc.status in (403, 404, 409, 422) else 503
        return pages.html(language, "error.html", status, visit=None, code=status, problems=exc.problems)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        log.error("page %s failed", request.url.path, exc_info=exc)
        problem = [Problem("board", "this page failed; the error is in the board's log")]
        return pages.html(language_of(request), "error.html", 500, code=500, problems=problem)

    router = APIRouter(include_in_schema=False)

    # --- signing in ---------------------------------------------------------------------------

    @router.get("/")
    async def home(v: VisitDep) -> RedirectResponse:
        # Coordinators and supervisors start at the waiting list; everyone else at their alerts.
        planner = may_ever(v.actor, "read_plan")
        return RedirectResponse("/wachtlijst" if planner else "/meldingen", status_code=303)

    @router.get("/aanmelden")
    async def signin(request: Request, next: str = "/", gedaan: str = "") -> Response:
        target = local_path(next)
        if oidc_configured:
            url = await holder["oidc"].start(target, now_utc())
            return RedirectResponse(url, status_code=303)
        language = language_of(request)
        done = DONE.get(gedaan)
        return pages.html(
            language, "signin.html", visit=None, done_text=done, planner=False, coordinator=False
        )

    @router.get("/aanmelden/link")
    async def signin_link(request: Request, token: str = "") -> HTMLResponse:
        # Opening the link only asks: a mail scanner that follows it must not use it up.
        language = language_of(request)
        try:
            person = await holder["links"].person(token)
        except (Unauthenticated, KeyError):
            return pages.html(language, "signin_link.html", 400, visit=None, person=None, token="")
        return pages.html(
            language, "signin_link.html", visit=None, person=net.people[person], token=token, done=None
        )

    @router.post("/aanmelden/link")
    async def signin_link_use(request: Request) -> Response:
        form = await request.form()
        token = str(form.get("token") or "")
        language = language_of(request)
        try:
            person = await holder["links"].use(token)
        except (Unauthenticated, KeyError):
            await rt.trail.record(
                stranger(request), "sign_in", None, "refused", "a one-time link not valid or used before"
            )
            return pages.html(language, "signin_link.html", 400, visit=None, person=None, token="")
        return await start_session(request, person, None, "/", "one-time link")

    @router.get("/aanmelden/terug")
    async def signin_back(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
        if not oidc_configured:
            return RedirectResponse("/aanmelden", status_code=303)
        language = language_of(request)
        if error or not state or not code:
            return pages.html(language, "signin_failed.html", 400, visit=None, reason=error or "no code")
        try:
            person, provider_tokens, target = await holder["oidc"].finish(state, code, now_utc())
        except Unauthenticated as exc:
            await rt.trail.record(stranger(request), "sign_in", None, "refused", str(exc)[:200])
            return pages.html(language, "signin_failed.html", 400, visit=None, reason=str(exc))
        if person not in net.people:
            detail = f"{person[:60]!r} is not of this network"
            await rt.trail.record(stranger(request), "sign_in", None, "refused", detail)
            return pages.html(language, "signin_failed.html", 403, visit=None, reason="unknown person")
        return await start_session(request, person, provider_tokens, target, "openid connect")

    async def start_session(
        request: Request, person: str, provider_tokens: dict[str, Any] | None, target: str, how: str
    ) -> Response:
        cookie, _ = await store().create(
            person, now_utc(), language=request.cookies.get(LANGUAGE_COOKIE), tokens=provider_tokens
        )
        await rt.trail.record(Actor.of(net.people[person], client(request)), "sign_in", None, "allowed", how)
        answer = RedirectResponse(local_path(target), status_code=303)
        answer.set_cookie(
            COOKIE,
            cookie,
            max_age=int(settings.board_session_hours * 3600),
            httponly=True,
            samesite="lax",  # a link from a mail opens the page signed in; other sites cannot post
            secure=secure_cookies,
            path="/",
        )
        return answer

    @router.post("/afmelden")
    async def signout(request: Request, v: VisitDep) -> Response:
        await posted(request, v)
        await store().end(v.session)
        await rt.trail.record(v.actor, "sign_out", None, "allowed", "")
        answer = RedirectResponse("/aanmelden?gedaan=signed_out", status_code=303)
        answer.delete_cookie(COOKIE, path="/")
        return answer

    @router.post("/taal")
    async def choose_language(request: Request) -> Response:
        form = await request.form()
        language = str(form.get("language") or "")
        back = local_path(str(form.get("back") or ""))
        session = await store().get(request.cookies.get(COOKIE), now_utc())
        if language not in i18n.LANGUAGES:
            language = i18n.DEFAULT
        if session is not None:
            if not session.csrf_ok(str(form.get("csrf") or "")):
                raise BackendError("board", 403, [Problem("csrf", "the form is out of date")])
            await store().set_language(session, language)
        answer = RedirectResponse(back, status_code=303)
        answer.set_cookie(
            LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="lax", secure=secure_cookies
        )
        return answer

    # --- pages --------------------------------------------------------------------------------

    @router.get("/bedden")
    async def beds(v: VisitDep, vanaf: str = "", gedaan: str = "") -> HTMLResponse:
        try:
            first = week_start(date.fromisoformat(vanaf)) if vanaf else week_start(clock.now().date())
        except ValueError:
            first = week_start(clock.now().date())
        data = await backend.get(
            "scheduler", "/v1/beds", v.token, **{"from": first.isoformat()}, days=7 * BED_WEEKS
        )
        groups = data["groups"]
        today = data["today"]  # the scheduler's day, by which a stay is under way or planned
        for group in groups:
            group.setdefault("day_places", False)  # fields of PATHWAY-V2: absent from an older scheduler
            group.setdefault("part_time", False)
            for day in group.get("days", []):
                day.setdefault("in_use", True)
                for entry in day.get("entries", []):
                    entry.setdefault("nights", None)
            group["weeks"] = bed_weeks(group)
            days = [d for d in group.get("days", []) if d["in_use"]]  # a day group: its working days
            shown = [d for d in days if d["date"] >= today] or days
            group["least_free"] = min((d["free"] for d in shown), default=0)
            group["free_today"] = next((d["free"] for d in days if d["date"] == today), None)
            group["busy"] = any(d.get("entries") for d in days) or group["least_free"] == 0
        return render(
            v,
            "beds.html",
            groups=groups,
            first=first,
            today=today,
            earlier=(first - timedelta(weeks=BED_WEEKS)).isoformat(),
            later=(first + timedelta(weeks=BED_WEEKS)).isoformat(),
            weekdays=[first + timedelta(days=i) for i in range(7)],
            week_nights=list(WEEKDAYS[:3]),  # the legend's example of a part-time pattern
            done_text=DONE.get(gedaan),
        )

    @router.get("/wachtlijst")
    async def waiting_list(v: VisitDep, gedaan: str = "") -> HTMLResponse:
        data = await backend.get("scheduler", "/v1/waiting-list", v.token)
        return render(
            v, "waiting.html", entries=data["entries"], today=data["today"], done_text=DONE.get(gedaan)
        )

    @router.post("/wachtlijst/{case}/toezeggen")
    async def promise(case: str, request: Request, v: VisitDep) -> Response:
        """A coordinator promises a case's expected placement now (the scheduler's role table decides)."""
        await posted(request, v)
        if not is_case_id(case):
            raise BackendError("scheduler", 404, [Problem("case", f"unknown case {case!r}")])
        await backend.post("scheduler", f"/v1/cases/{case}/promise", v.token, None)
        return RedirectResponse("/wachtlijst?gedaan=promise", status_code=303)

    async def case_page(v: Visit, case: str, status: int = 200, **extra: Any) -> HTMLResponse:
        if not is_case_id(case):
            raise BackendError("intake", 404, [Problem("case", f"unknown case {case!r}")])
        # The scheduler's plan says what intake's case does not: the kennismakingsgesprek, the
        # part-time nights, the handovers. Asked for this case only (`case`; a scheduler that
        # answers the whole plan is filtered here), and only by who may read plans.
        reads_plans = may_ever(v.actor, "read_plan")
        view, explanation, notifications, plan = await asyncio.gather(
            backend.get("intake", f"/v1/cases/{case}", v.token),
            _optional(backend.get("scheduler", f"/v1/cases/{case}/explanation", v.token)),
            _optional(backend.get("notifier", "/v1/notifications", v.token, case=case)),
            _optional(backend.get("scheduler", "/v1/plan", v.token, case=case)) if reads_plans else _none(),
        )
        planned = case_plan(plan, case)
        stay = view.get("stay") or {}
        plan_stay = (planned or {}).get("stay") or {}
        return render(
            v,
            "case.html",
            status,
            case=view,
            spec=KINDS.get(str(view.get("kind"))),
            # The plan's meetings name each meeting (intake's may not); without the plan, intake's.
            meetings=planned["meetings"] if planned else view.get("meetings") or [],
            nights=stay.get("nights") or plan_stay.get("nights") or [],
            handovers=view.get("handovers") or (planned or {}).get("handovers") or [],
            close_reasons=[(code, gettext(v)(texts.CLOSE_REASON[code])) for code in get_args(CloseReason)],
            explanation=(explanation or {}).get("explanation"),
            notifications=notifications or [],
            errors=extra.pop("errors", {}),
            values=extra.pop("values", {}),
            today=clock.now().date().isoformat(),
            **extra,
        )

    @router.get("/casussen/{case}")
    async def case_detail(case: str, v: VisitDep, gedaan: str = "") -> HTMLResponse:
        return await case_page(v, case, done_text=DONE.get(gedaan))

    @router.post("/casussen/{case}/gebeurtenis")
    async def case_event(case: str, request: Request, v: VisitDep) -> Response:
        form = await posted(request, v)
        body = form_event(form)
        if body["type"] not in FORM_EVENTS or not is_case_id(case):
            raise BackendError("board", 422, [Problem("type", "not an event the board reports")])
        try:
            await backend.post("intake", f"/v1/cases/{case}/events", v.token, body)
        except BackendError as exc:
            if exc.status not in (409, 422):
                raise
            errors = {body["type"]: errors_by_field(exc, set(event_fields(body["type"])))}
            return await case_page(v, case, 422, errors=errors, values={body["type"]: form}, done_text=None)
        return RedirectResponse(f"/casussen/{case}?gedaan=event", status_code=303)

    def referral_choices(v: Visit) -> dict[str, Any]:
        """The selects of the referral form as (JSON value, name shown) pairs."""
        say = gettext(v)
        referrers = [
            (p.id, net.person_name(p.id))
            for p in net.by_role["referrer"]
            if (v.actor.role != "referrer" or p.id == v.person.id)
            and any(v.actor.serves(r) for r in p.regions)
        ]
        return {
            "regions": [(r.code, r.name) for r in net.network.regions if v.actor.serves(r.code)],
            "referrers": referrers,
            "kinds": [(name, spec.title(v.language)) for name, spec in KINDS.items()],
            "urgencies": [(u, say(text)) for u, text in texts.URGENCY.items()],
            "therapists": [
                (p.id, net.person_name(p.id))
                for p in net.by_role["mst_therapist"]
                if any(v.actor.serves(r) for r in p.regions)
            ],
            "weekdays": i18n.weekday_names(v.language),
            # Which forms of care the kind-specific fields are for, from the kinds table.
            "in_weeks": ", ".join(s.title(v.language) for s in KINDS.values() if s.stay_in_weeks),
            "in_days": ", ".join(s.title(v.language) for s in KINDS.values() if not s.stay_in_weeks),
            "part_time_kinds": ", ".join(s.title(v.language) for s in KINDS.values() if s.part_time),
            "nights_range": (
                min((s.nights_per_week[0] for s in KINDS.values() if s.nights_per_week), default=1),
                max((s.nights_per_week[1] for s in KINDS.values() if s.nights_per_week), default=7),
            ),
        }

    @router.get("/aanmelding")
    async def referral_form(v: VisitDep) -> HTMLResponse:
        today = clock.now().date()
        values = {
            "case": f"C-{today:%Y%m%d}-{secrets.token_hex(2).upper()}",
            "earliest_start": today.isoformat(),
            "urgency": "normal",
            "kind": next(iter(KINDS)),
        }
        if v.actor.role == "referrer":
            values["referrer"] = v.person.id
        if len(v.actor.regions) == 1:
            values["home_region"] = next(iter(v.actor.regions))
        return render(v, "referral.html", values=values, errors={}, **referral_choices(v))

    @router.post("/aanmelding")
    async def referral_post(request: Request, v: VisitDep) -> Response:
        form = await posted(request, v)
        body = form_referral(form)
        try:
            await backend.post("intake", "/v1/referrals", v.token, body)
        except BackendError as exc:
            if exc.status not in (403, 409, 422):
                raise
            fields = set(form) | {"machtiging_valid_from", "machtiging_valid_until", "conflicts_with"}
            fields |= {"program_weeks", "nights_per_week", "preferred_nights", "current_therapist"}
            errors = errors_by_field(exc, fields, form_field)
            return render(v, "referral.html", 422, values=form, errors=errors, **referral_choices(v))
        return RedirectResponse(f"/casussen/{body['case']}", status_code=303)

    @router.get("/meldingen")
    async def alerts(v: VisitDep, gedaan: str = "") -> HTMLResponse:
        items = await backend.get("notifier", "/v1/alerts/mine", v.token)
        return render(v, "alerts.html", alerts=items, done_text=DONE.get(gedaan))

    @router.post("/meldingen/{alert_id}/bevestigen")
    async def acknowledge(alert_id: int, request: Request, v: VisitDep) -> Response:
        await posted(request, v)
        await backend.post("notifier", f"/v1/notifications/{alert_id}/ack", v.token, None)
        return RedirectResponse("/meldingen?gedaan=ack", status_code=303)

    def capacity_groups(v: Visit) -> list[tuple[str, str]]:
        """The groups a coordinator may announce capacity for: those of their regions, by name."""
        return [(gid, net.group_name(gid)) for gid, info in net.groups.items() if v.actor.serves(info.region)]

    @router.get("/capaciteit")
    async def capacity(v: VisitDep) -> HTMLResponse:
        today = clock.now().date()
        values = {"from": today.isoformat(), "until": (today + timedelta(days=7)).isoformat()}
        return render(
            v, "capacity.html", groups_options=capacity_groups(v), values=values, errors={}, preview=None
        )

    def capacity_body(form: dict[str, str]) -> dict[str, Any]:
        beds_text = form.get("beds", "").strip()
        return {
            "group": form.get("group", ""),
            "beds": int(beds_text) if beds_text.isdigit() else beds_text,
            "from": form.get("from", ""),
            "until": form.get("until", ""),
        }

    @router.post("/capaciteit")
    async def capacity_post(request: Request, v: VisitDep) -> Response:
        form = await posted(request, v)
        body = capacity_body(form)
        confirmed = form.get("confirm") == "yes"
        try:
            if confirmed:
                await backend.post("scheduler", "/v1/capacity", v.token, body)
            else:
                preview = await backend.post("scheduler", "/v1/capacity", v.token, body, dry_run="true")
        except BackendError as exc:
            if exc.status not in (403, 422):
                raise
            errors = errors_by_field(exc, {"group", "beds", "from", "until"})
            options = capacity_groups(v)
            return render(
                v,
                "capacity.html",
                exc.status,
                groups_options=options,
                values=form,
                errors=errors,
                preview=None,
            )
        if confirmed:
            return RedirectResponse(f"/bedden?vanaf={body['from']}&gedaan=capacity", status_code=303)
        return render(
            v,
            "capacity.html",
            groups_options=capacity_groups(v),
            values=form,
            errors={},
            preview=preview,
            body=body,
        )

    def staff_people(v: Visit) -> list[tuple[str, str]]:
        """The people whose absence a coordinator may report: the staff (therapists, trajectbegeleiders,
        supervisors) serving one of their regions, by name and role."""
        say = gettext(v)
        found = [
            (p.id, f"{net.person_name(p.id)} ({say(texts.ROLE.get(p.role, p.role))})")
            for p in net.network.people
            if net.staff_change_problem(p.id) is None and any(v.actor.serves(r) for r in p.regions)
        ]
        return sorted(found, key=lambda item: item[1])

    def staff_page(v: Visit, status: int = 200, **context: Any) -> HTMLResponse:
        say = gettext(v)
        return render(
            v,
            "staff.html",
            status,
            people=staff_people(v),
            statuses=[(code, say(text)) for code, text in texts.STAFF_STATUS.items()],
            **({"values": {"from": clock.now().date().isoformat()}, "errors": {}, "result": None} | context),
        )

    @router.get("/personeel")
    async def staff(v: VisitDep) -> HTMLResponse:
        return staff_page(v)

    @router.post("/personeel")
    async def staff_post(request: Request, v: VisitDep) -> Response:
        """A coordinator reports a staff change; the scheduler decides who may, and hands cases over."""
        form = await posted(request, v)
        body = staff_body(form)
        try:
            result = await backend.post("scheduler", "/v1/staff-changes", v.token, body)
        except BackendError as exc:
            if exc.status not in (403, 404, 409, 422):
                raise
            errors = errors_by_field(exc, {"person", "from", "until", "status"})
            return staff_page(v, exc.status, values=form, errors=errors)
        # Shown at once, not redirected: the handovers made are in the answer only.
        return staff_page(v, result=result, body=body, done_text=DONE["staff_change"])

    @router.get("/live")
    async def live_changes(
        request: Request, v: VisitDep, casus: str = "", sinds: float | None = None
    ) -> Response:
        case = casus or None
        if case is not None:  # a case's own stream: for who may read the case (404 otherwise)
            await backend.get("intake", f"/v1/cases/{case}", v.token)

        async def stream() -> Any:
            async for chunk in live.events(case, sinds):
                if await request.is_disconnected():
                    break
                yield chunk

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    app.include_router(router)
    app.state.live = live
    return app


async def _none() -> None:
    """A part of a page the person's role never sees: not asked."""


async def _optional(call: Any) -> Any:
    """A part of a page the person may not see (a referrer and the plan's explanation): left out."""
    try:
        return await call
    except BackendError as exc:
        if exc.status in (403, 404):
            return None
        raise
