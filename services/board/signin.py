"""How a person signs in to the board, and the API tokens the board then calls the services with.

Production: the OpenID Connect authorization code flow with PKCE (S256) against `auth_issuer`
(Authlib's OAuth 2 client); the board keeps the provider's access and refresh token in the
session and refreshes the access token before it runs out. The access token's audience is the
services' (`auth_audience`), so the board forwards it as it is.

The embedded default has no identity provider: `thuisbest login PERSON` signs a one-time
sign-in link (10 minutes, audience `thuisbest-board-signin`) with the embedded issuer's key, and
the board, holding that key (`board_issuer_dir`), signs a short API token per signed-in person.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

from authlib.deprecate import AuthlibDeprecationWarning

from services.board.sessions import Pending, Session, SessionStore
from shared.auth import TokenVerifier, discovery_document, discovery_url
from shared.errors import Unauthenticated
from shared.issuer import SIGNIN_AUDIENCE, Issuer
from shared.network import NetworkIndex
from shared.settings import ServiceSettings

with warnings.catch_warnings():
    # Authlib 1.9.10 would rather use the `httpx2` fork; the httpx the services use works the same.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

API_TOKEN_MINUTES = 15
REFRESH_BEFORE_SECONDS = 60  # refresh an access token this long before it runs out
CALLBACK_PATH = "/aanmelden/terug"


class Tokens(Protocol):
    async def api_token(self, session: Session) -> str:
        """A bearer token for the services, as the session's person."""
        ...


class EmbeddedTokens:
    """Signs short API tokens with the embedded issuer's key; re-signs when one is half used."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self._cache: dict[str, tuple[float, str]] = {}

    async def api_token(self, session: Session) -> str:
        now = time.monotonic()
        found = self._cache.get(session.person)
        if found is None or now - found[0] > API_TOKEN_MINUTES * 30:
            found = (now, self.issuer.token(session.person, minutes=API_TOKEN_MINUTES))
            self._cache[session.person] = found
        return found[1]


class SigninLinks:
    """One-time sign-in links of the embedded default: checked, then used up."""

    def __init__(self, settings: ServiceSettings, net: NetworkIndex, store: SessionStore) -> None:
        self.verifier = TokenVerifier(settings.model_copy(update={"auth_audience": SIGNIN_AUDIENCE}))
        self.claim = settings.auth_person_claim
        self.net, self.store = net, store

    async def _checked(self, token: str) -> tuple[str, str]:
        """The person a link signs in and the link's id (Unauthenticated when the link is bad or
        expired); not used up."""
        try:
            claims = await self.verifier.verify(token)
        except Exception as exc:  # noqa: BLE001 (every PyJWT failure means the same to the person)
            raise Unauthenticated.one("token", f"the sign-in link is not valid ({exc})") from exc
        person = claims.get(self.claim)
        if not isinstance(person, str) or person not in self.net.people:
            raise Unauthenticated.one("token", "the sign-in link names nobody of this network")
        jti = claims.get("jti")
        if not isinstance(jti, str):
            raise Unauthenticated.one("token", "the sign-in link has no id")
        return person, jti

    async def person(self, token: str) -> str:
        """The person a link signs in; the link is not used up."""
        person, _ = await self._checked(token)
        return person

    async def use(self, token: str) -> str:
        """The person of a link, using the link up: a second use is refused."""
        person, jti = await self._checked(token)
        if not await self.store.use_link(jti, person):
            raise Unauthenticated.one("token", "the sign-in link was used before")
        return person


@dataclass(frozen=True)
class Provider:
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None


class OidcSignin:
    """The authorization code flow with PKCE against the configured issuer; also the `Tokens` source."""

    def __init__(self, settings: ServiceSettings, store: SessionStore, board_url: str) -> None:
        if not settings.auth_issuer or not settings.oidc_client_id:
            raise ValueError(
                "OpenID Connect sign-in needs THUISBEST_AUTH_ISSUER and THUISBEST_OIDC_CLIENT_ID"
            )
        self.settings, self.store = settings, store
        self.redirect_uri = board_url.rstrip("/") + CALLBACK_PATH
        self.verifier = TokenVerifier(settings)
        self._provider: Provider | None = None
        self._lock = asyncio.Lock()

    async def provider(self) -> Provider:
        if self._provider is None:
            url = self.settings.oidc_discovery_url or discovery_url(self.settings.auth_issuer)
            document = await asyncio.to_thread(discovery_document, url)
            self._provider = Provider(
                document["authorization_endpoint"],
                document["token_endpoint"],
                document.get("end_session_endpoint"),
            )
        return self._provider

    def client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.settings.oidc_client_id,
            client_secret=self.settings.oidc_client_secret or None,
            scope=self.settings.oidc_scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post" if self.settings.oidc_client_secret else "none",
        )

    async def start(self, return_to: str, now: Any) -> str:
        """Where to send the person: the provider's authorization endpoint, with state and PKCE."""
        provider = await self.provider()
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        async with self.client() as client:
            url, state = client.create_authorization_url(
                provider.authorization_endpoint, code_verifier=verifier, nonce=nonce
            )
        await self.store.begin_signin(state, Pending(verifier, nonce, return_to), now)
        return str(url)

    async def finish(self, state: str, code: str, now: Any) -> tuple[str, dict[str, Any], str]:
        """The person, their tokens and where they were going; Unauthenticated when it fails."""
        pending = await self.store.finish_signin(state, now)
        if pending is None:
            raise Unauthenticated.one("state", "this sign-in is unknown or took longer than 10 minutes")
        provider = await self.provider()
        async with self.client() as client:
            try:
                token = await client.fetch_token(
                    provider.token_endpoint, code=code, code_verifier=pending.code_verifier
                )
            except Exception as exc:  # noqa: BLE001 (any refusal of the provider: sign in again)
                raise Unauthenticated.one(
                    "code", f"the identity provider refused the sign-in ({exc})"
                ) from exc
        person = await self._person(str(token["access_token"]))
        return person, dict(token), pending.return_to

    async def _person(self, access_token: str) -> str:
        try:
            claims = await self.verifier.verify(access_token)
        except Exception as exc:  # noqa: BLE001
            raise Unauthenticated.one(
                "access_token", f"the provider's token is not valid here ({exc})"
            ) from exc
        person = claims.get(self.settings.auth_person_claim)
        if not isinstance(person, str):
            raise Unauthenticated.one("access_token", "the provider's token names no person")
        return person

    async def api_token(self, session: Session) -> str:
        tokens = session.tokens or {}
        expires_at = float(tokens.get("expires_at") or 0)
        if expires_at - time.time() > REFRESH_BEFORE_SECONDS:
            return str(tokens["access_token"])
        refresh = tokens.get("refresh_token")
        if not refresh:
            raise Unauthenticated.one("session", "the sign-in has run out: sign in again")
        async with self._lock:
            provider = await self.provider()
            async with self.client() as client:
                try:
                    fresh = dict(await client.refresh_token(provider.token_endpoint, refresh_token=refresh))
                except Exception as exc:  # noqa: BLE001
                    raise Unauthenticated.one("session", f"the sign-in could not be renewed ({exc})") from exc
            fresh.setdefault("refresh_token", refresh)
            await self.store.set_tokens(session, fresh)
        return str(fresh["access_token"])
