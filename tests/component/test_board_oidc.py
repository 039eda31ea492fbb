"""Signing in to the board with OpenID Connect: the authorization code flow with PKCE (S256) against
a small provider served over real HTTP in this process. The provider refuses a code whose verifier
does not match its challenge, so a sign-in that works proves the board's PKCE; then the board
calls the services with the provider's access token and renews it with the refresh token."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from services.board.app import create_app
from shared.issuer import ISSUER, Issuer
from shared.settings import ServiceSettings
from tests.component.conftest import NOW, running
from tests.component.test_board import NOBODY_WAITING, Fake
from tools.embedded import free_port

pytestmark = pytest.mark.asyncio
CLIENT = "thuisbest-board"


@dataclass
class Provider:
    """Signs in `person` at once (no login page), issues tokens signed by the test issuer."""

    issuer: Issuer
    person: str = "coord"
    expires_in: int = 300
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (challenge, redirect)
    refreshed: int = 0
    issued: list[str] = field(default_factory=list)

    def app(self, base: str) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, str]:
            return {
                "issuer": ISSUER,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
            }

        @app.get("/authorize")
        async def authorize(request: Request) -> RedirectResponse:
            q = request.query_params
            assert q["response_type"] == "code" and q["client_id"] == CLIENT
            assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) >= 43
            code = secrets.token_urlsafe(16)
            self.codes[code] = (q["code_challenge"], q["redirect_uri"])
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")

        @app.post("/token")
        async def token(
            grant_type: str = Form(),
            code: str = Form(""),
            code_verifier: str = Form(""),
            redirect_uri: str = Form(""),
            refresh_token: str = Form(""),
        ) -> JSONResponse:
            if grant_type == "refresh_token":
                if refresh_token != "refresh-1":
                    return JSONResponse({"error": "invalid_grant"}, 400)
                self.refreshed += 1
                return JSONResponse(self.tokens())
            challenge, redirect = self.codes.pop(code, ("", ""))
            digest = hashlib.sha256(code_verifier.encode()).digest()
            if not challenge or base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
            assert redirect == redirect_uri
            return JSONResponse(self.tokens())

        return app

    def tokens(self) -> dict[str, Any]:
        access = self.issuer.token(self.person, minutes=self.expires_in / 60)
        self.issued.append(access)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": "refresh-1",
        }


@contextlib.contextmanager
def serving(provider: Provider) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(provider.app(base), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test provider did not start"
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(5)


def signing_in_at(base: str, settings: ServiceSettings) -> ServiceSettings:
    """The board's settings with the provider at `base` (the other services faked at *.test)."""
    return settings.model_copy(
        update={
            "oidc_client_id": CLIENT,
            "oidc_discovery_url": f"{base}/.well-known/openid-configuration",
            "board_url": "http://board.test",
            "scheduler_url": "http://scheduler.test",
        }
    )


async def test_the_code_flow_with_pkce_signs_in_and_renews_the_token(
    service_settings: ServiceSettings, issuer: Issuer
) -> None:
    provider = Provider(issuer, expires_in=30)  # within the renewal margin: renewed on first use
    fake = Fake({("scheduler.test", "GET", "/v1/waiting-list"): (200, NOBODY_WAITING)})
    with serving(provider) as base:
        settings = signing_in_at(base, service_settings)
        factory = functools.partial(create_app, transport=httpx.MockTransport(fake.handle))
        async with running(factory, settings, NOW) as r, httpx.AsyncClient() as browser:
            r.http.headers.pop("authorization")
            start = await r.http.get("/aanmelden", params={"next": "/wachtlijst"})
            assert start.status_code == 303
            to_provider = start.headers["location"]
            assert to_provider.startswith(f"{base}/authorize?")
            query = parse_qs(urlsplit(to_provider).query)
            assert query["redirect_uri"] == ["http://board.test/aanmelden/terug"]
            assert "code_verifier" not in query  # only its hash travels through the browser

            back = await browser.get(to_provider)  # the provider signs the person in, sends them back
            assert back.status_code == 307
            callback = urlsplit(back.headers["location"])
            arrived = await r.http.get(f"{callback.path}?{callback.query}")
            assert arrived.status_code == 303 and arrived.headers["location"] == "/wachtlijst"
            assert "HttpOnly" in arrived.headers["set-cookie"]

            page = await r.http.get("/wachtlijst")
            assert page.status_code == 200 and "Annemiek Vermeulen" in page.text
            used = fake.seen[-1].headers["authorization"].removeprefix("Bearer ")
            assert provider.refreshed == 1 and used == provider.issued[-1]  # renewed, then used

            replay = await r.http.get(f"{callback.path}?{callback.query}")
            assert replay.status_code == 400  # a state (and its code) works once
            rows = await r.db("SELECT person, outcome FROM audit WHERE action = 'sign_in' ORDER BY id")
            assert [(row["person"], row["outcome"]) for row in rows] == [
                ("coord", "allowed"),
                ("(not signed in)", "refused"),
            ]


async def test_a_provider_that_refuses_the_code_signs_nobody_in(
    service_settings: ServiceSettings, issuer: Issuer
) -> None:
    provider = Provider(issuer)
    with serving(provider) as base:
        settings = signing_in_at(base, service_settings)
        async with running(create_app, settings, NOW) as r, httpx.AsyncClient() as browser:
            r.http.headers.pop("authorization")
            start = await r.http.get("/aanmelden")
            back = await browser.get(start.headers["location"])
            callback = urlsplit(back.headers["location"])
            state = parse_qs(callback.query)["state"][0]
            # A code the provider never issued (or a verifier that does not match): refused.
            answer = await r.http.get("/aanmelden/terug", params={"code": "forged", "state": state})
            assert answer.status_code == 400 and "set-cookie" not in answer.headers
            assert "Aanmelden is niet gelukt" in answer.text
