"""Who is asking: OAuth2 bearer tokens (JWT) verified against an OpenID Connect issuer's keys.

The token names the person (claim `auth_person_claim`, default `sub`); what the person may do
comes from the network file (role and regions), never from the token. PyJWT does the
cryptography and the JWKS handling; this module only wires it to the settings and the network.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from typing import Any

import jwt

from shared.actor import Actor
from shared.errors import Forbidden, Unauthenticated
from shared.network import NetworkIndex
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)
CHALLENGE_REALM = "thuisbest-platform"


class AuthNotConfigured(RuntimeError):
    """The settings name no way to find the issuer's signing keys."""


class TokenVerifier:
    """Checks a token's signature, issuer, audience and times; answers the claims."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.issuer = settings.auth_issuer or None
        self.audience = settings.auth_audience
        self.algorithms = list(settings.auth_algorithms)
        self.leeway = settings.auth_leeway_seconds
        self._keys: jwt.PyJWKSet | None = None
        self._client: jwt.PyJWKClient | None = None
        if settings.auth_jwks_file is not None:
            self._keys = jwt.PyJWKSet.from_json(settings.auth_jwks_file.read_text())
        elif settings.auth_jwks_url:
            self._client = jwt.PyJWKClient(settings.auth_jwks_url, cache_keys=True, lifespan=300)
        elif self.issuer:
            self._client = jwt.PyJWKClient(_discover_jwks_uri(self.issuer), cache_keys=True, lifespan=300)
        else:
            raise AuthNotConfigured(
                "no signing keys: set THUISBEST_AUTH_JWKS_FILE, THUISBEST_AUTH_JWKS_URL or"
                " THUISBEST_AUTH_ISSUER (an OpenID Connect issuer); `thuisbest up` sets them for the"
                " embedded default"
            )

    def _key(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        if self._keys is not None:
            if kid is None and len(self._keys.keys) == 1:
                return self._keys.keys[0].key
            for key in self._keys.keys:
                if key.key_id == kid:
                    return key.key
            raise jwt.InvalidTokenError(f"no signing key {kid!r}")
        assert self._client is not None
        return self._client.get_signing_key_from_jwt(token).key

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims; jwt.PyJWTError (or PyJWKClientError) when the token is not good."""
        key = self._key(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=self.algorithms,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": ["exp", "iat"]},
        )
        return claims

    async def verify(self, token: str) -> dict[str, Any]:
        if self._client is not None:  # may fetch the issuer's keys over the network: not on the loop
            return await asyncio.to_thread(self.claims, token)
        return self.claims(token)


def discovery_url(issuer: str) -> str:
    """Where an OpenID Connect issuer publishes its discovery document."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def discovery_document(url: str) -> dict[str, Any]:
    """An OpenID Connect discovery document (blocking: call it off the event loop)."""
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (the configured issuer)
        document: dict[str, Any] = json.load(answer)
    return document


def _discover_jwks_uri(issuer: str) -> str:
    url = discovery_url(issuer)
    jwks_uri = discovery_document(url).get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise AuthNotConfigured(f"{url} names no jwks_uri")
    return jwks_uri


def challenge(error: str = "invalid_token", description: str = "") -> str:
    """The WWW-Authenticate header of a 401 (RFC 6750)."""
    if not error:
        return f'Bearer realm="{CHALLENGE_REALM}"'
    safe = description.replace('"', "'").replace("\\", "/")
    return f'Bearer realm="{CHALLENGE_REALM}", error="{error}", error_description="{safe}"'


class Authenticator:
    """Turns an Authorization header into the Actor of a person of the network."""

    def __init__(self, settings: ServiceSettings, net: NetworkIndex) -> None:
        self.verifier = TokenVerifier(settings)
        self.claim = settings.auth_person_claim
        self.net = net

    async def actor(self, authorization: str | None, address: str | None) -> Actor:
        if not authorization:
            raise Unauthenticated.one("authorization", "a bearer token is required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated.one("authorization", "must be 'Bearer <token>'")
        try:
            claims = await self.verifier.verify(token)
        except jwt.ExpiredSignatureError:
            raise Unauthenticated.one("authorization", "the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated.one("authorization", "the token is not meant for this service") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated.one("authorization", "the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated.one("authorization", "the token's signature does not verify") from None
        except jwt.PyJWKClientError as exc:
            log.warning("signing keys unavailable: %s", exc)
            raise Unauthenticated.one("authorization", "the token's signing key is not known") from None
        except (jwt.PyJWTError, ValueError):
            raise Unauthenticated.one("authorization", "not a valid token") from None
        person_id = claims.get(self.claim)
        if not isinstance(person_id, str) or not person_id:
            raise Unauthenticated.one("authorization", f"the token names no person (claim {self.claim!r})")
        person = self.net.people.get(person_id)
        if person is None:
            raise Forbidden.one("authorization", "this person is not in the care network")
        return Actor.of(person, address)
