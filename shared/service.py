"""The shell every service shares: database and migrations, broker, outbox relay, health, metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from shared.access import Gate
from shared.aio import within
from shared.audit import AuditTrail, audit_router
from shared.auth import Authenticator
from shared.bus import TRANSIENT, DeadLetters, OutboxRelay, dead_letter_middleware, make_broker
from shared.db import create_pool, migrate
from shared.errors import Problem
from shared.events import TOPIC_DEAD_LETTER, MessageDeadLettered
from shared.health import install_health
from shared.http import (
    ExtraProblems,
    current_actor,
    install_problem_handlers,
    problem_response,
    problems_documented,
    problems_in_openapi,
)
from shared.limits import BodyLimits, JsonWritesOnly
from shared.network import Network, NetworkIndex, load_network
from shared.settings import ServiceSettings

PLATFORM_MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)
POOL_CLOSE_SECONDS = 10.0


DOCS_ASSETS = Path(str(files("fastapi_offline").joinpath("static")))  # Swagger UI and ReDoc, MIT


class PrometheusText(PlainTextResponse):
    media_type = "text/plain"


def install_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` from assets this service serves itself: they work in a
    network that reaches no CDN."""
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # the default validator is a remote site
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title}: API",
            redoc_js_url="/docs-assets/redoc.standalone.js",
            redoc_favicon_url="/docs-assets/favicon.png",
            with_google_fonts=False,
        )


class Runtime:
    """What a service holds while it runs; built in the app factory, started in the lifespan."""

    def __init__(self, name: str, settings: ServiceSettings, migrations: Path) -> None:
        self.name = name
        self.settings = settings
        self.migrations = migrations
        self.registry = CollectorRegistry()
        self.broker = make_broker(settings, name, self.registry)
        self.dead = DeadLetters(self.broker, self.registry, name, settings.topic(TOPIC_DEAD_LETTER))
        self.broker.add_middleware(dead_letter_middleware(self.dead))
        self.broker.publisher(self.dead.topic, schema=MessageDeadLettered, title=TOPIC_DEAD_LETTER)
        self.network: Network = load_network(settings.network_file)
        self.index = NetworkIndex(self.network)
        self.auth = Authenticator(settings, self.index)  # no signing keys configured: no start
        self._pool: asyncpg.Pool | None = None
        self._trail: AuditTrail | None = None
        self._relay: OutboxRelay | None = None
        self.background: list[asyncio.Task[Any]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "service not started"
        return self._pool

    @property
    def trail(self) -> AuditTrail:
        assert self._trail is not None, "service not started"
        return self._trail

    @property
    def gate(self) -> Gate:
        return Gate(self.trail)

    @property
    def relay(self) -> OutboxRelay:
        assert self._relay is not None, "service not started"
        return self._relay

    async def start_storage(self) -> None:
        self._pool = await create_pool(self.settings.database_url)
        await migrate(self._pool, "platform", PLATFORM_MIGRATIONS)
        await migrate(self._pool, self.name, self.migrations)
        self._trail = AuditTrail(self._pool, self.name)
        await self._trail.keep_for(self.settings.audit_retention_days)
        self._relay = OutboxRelay(
            self._pool, self.broker, self.registry, self.name, self.settings.outbox_poll_seconds
        )

    async def start_bus(self) -> None:
        await self.broker.start()
        self.relay.start()

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        for task in self.background:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._relay:
            await self._relay.stop()
        await self.broker.stop()
        if self._pool:
            # A graceful close waits for every connection to come back; one that never does must
            # not keep the service from stopping.
            try:
                await within(self._pool.close(), POOL_CLOSE_SECONDS)
            except TimeoutError:
                log.warning(
                    "%s: database connections still in use after %s s; closing them",
                    self.name,
                    POOL_CLOSE_SECONDS,
                )
                self._pool.terminate()

    def asyncapi(self) -> dict[str, Any]:
        spec = AsyncAPI(self.broker, title=f"ThuisBest {self.name}", version="1.0.0")
        return spec.to_specification().to_jsonable()  # type: ignore[no-any-return]


def make_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    extra_problems: Mapping[str, ExtraProblems] | None = None,
    form_paths: Iterable[str] = (),
) -> FastAPI:
    """The app of a service: lifespan, problem answers, health, metrics, audit trail, and the
    refusal of non-JSON writes except on paths matching a `form_paths` pattern (a page's own
    confirmation form)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start_storage()
        if on_start:
            await on_start()
        await runtime.start_bus()
        log.info("%s started", runtime.name)
        try:
            yield
        finally:
            if on_stop:
                await on_stop()
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own assets: no CDN
        redoc_url=None,
    )
    app.state.runtime = runtime

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The database or broker is away: a clear 503 the caller may retry, not a bare 500.
        log.warning("%s: dependency unavailable: %s", runtime.name, exc)
        reason = f"temporarily unavailable ({type(exc).__name__}); retry"
        return problem_response([Problem("service", reason)], 503)

    for error in TRANSIENT:
        app.add_exception_handler(error, unavailable)
    install_problem_handlers(app, extra_problems)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = problems_in_openapi(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    install_health(app, runtime)
    install_docs(app)

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics",
        response_class=PrometheusText,
        responses={
            200: {
                "content": {PrometheusText.media_type: {"schema": {"type": "string"}}},
                "description": "Prometheus text exposition format (version 0.0.4)",
            },
            **problems_documented(401, 403),  # when metrics_require_token is set
        },
    )
    async def metrics(request: Request) -> Response:
        if runtime.settings.metrics_require_token:
            actor = await current_actor(request)
            await runtime.gate.role(actor, "read_metrics")
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(audit_router)
    app.add_middleware(JsonWritesOnly, form_paths=form_paths)
    app.add_middleware(BodyLimits, max_bytes=runtime.settings.max_body_bytes)

    if runtime.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=runtime.settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
        )

    @app.get("/asyncapi.json", tags=["ops"], summary="AsyncAPI description of this service's topics")
    async def asyncapi() -> dict[str, Any]:
        return runtime.asyncapi()

    return app


DEFAULT_PORTS = {"intake": 8081, "scheduler": 8082, "notifier": 8083, "board": 8080}


def serve(name: str, factory: Callable[[ServiceSettings], FastAPI]) -> None:
    """Entry point of `python -m services.<name>`: settings from the environment, then uvicorn."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(levelname)s %(message)s")
    settings = ServiceSettings()
    port = settings.http_port or DEFAULT_PORTS[name]
    uvicorn.run(factory(settings), host=settings.http_host, port=port, log_level="warning")
