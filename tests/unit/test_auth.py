"""Bearer tokens: verified against a JWKS file, a JWKS URL or an issuer's discovery document; every
bad token is a 401 reason, never an exception escaping; the person's role comes from the network."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shared.auth import Authenticator, AuthNotConfigured
from shared.errors import Forbidden, Unauthenticated
from shared.issuer import ISSUER, Issuer
from shared.network import NetworkIndex, load_network
from shared.settings import DEMO_NETWORK, ServiceSettings

NET = NetworkIndex(load_network(DEMO_NETWORK))


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer.ensure(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="module")
def idp(issuer: Issuer) -> Iterator[str]:
    """A minimal OpenID Connect issuer over real HTTP: discovery document and JWKS."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            documents = {
                "/.well-known/openid-configuration": {"issuer": base, "jwks_uri": base + "/keys"},
                "/keys": {"keys": [issuer.public_jwk]},
            }
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def authenticator(**settings: object) -> Authenticator:
    return Authenticator(ServiceSettings(**settings), NET)  # type: ignore[arg-type]


async def test_a_good_token_names_a_person_whose_role_and_regions_come_from_the_network(
    issuer: Issuer,
) -> None:
    auth = authenticator(auth_jwks_file=issuer.jwks_file, auth_issuer=ISSUER)
    token = issuer.token("coord-WBO", role="privacy_officer", regions=["ZL"])  # claims it cannot grant
    actor = await auth.actor(f"Bearer {token}", "10.0.0.7")
    assert (actor.id, actor.role, actor.regions, actor.address) == (
        "coord-WBO",
        "coordinator",
        {"WBO"},
        "10.0.0.7",
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "a bearer token is required"),
        ("Basic abc", "must be 'Bearer <token>'"),
        ("Bearer ", "must be 'Bearer <token>'"),
        ("Bearer xyz", "not a valid token"),
        ("Bearer a.b.c", "not a valid token"),
    ],
)
async def test_malformed_authorization_is_refused_with_a_reason(
    issuer: Issuer, header: str | None, reason: str
) -> None:
    auth = authenticator(auth_jwks_file=issuer.jwks_file, auth_issuer=ISSUER)
    with pytest.raises(Unauthenticated) as refused:
        await auth.actor(header, None)
    assert refused.value.problems[0].reason == reason


async def test_expired_foreign_and_forged_tokens_are_refused(issuer: Issuer, tmp_path: Path) -> None:
    auth = authenticator(auth_jwks_file=issuer.jwks_file, auth_issuer=ISSUER)
    forger = Issuer.ensure(tmp_path / "forger")
    forged = forger.token("coord")
    cases = {
        issuer.token("coord", minutes=-5): "the token has expired",
        issuer.token("coord", audience="another-app"): "the token is not meant for this service",
        issuer.token("coord", issuer="https://evil.example"): "the token is from another issuer",
        forged: "the token's signature does not verify",  # another key: its kid is unknown here
        issuer.token("coord", sub=""): "the token names no person (claim 'sub')",
    }
    reasons = {}
    for token, expected in cases.items():
        with pytest.raises(Unauthenticated) as refused:
            await auth.actor(f"Bearer {token}", None)
        reasons[expected] = refused.value.problems[0].reason
    assert reasons["the token has expired"] == "the token has expired"
    assert reasons["the token is not meant for this service"] == "the token is not meant for this service"
    assert reasons["the token is from another issuer"] == "the token is from another issuer"
    assert reasons["the token names no person (claim 'sub')"] == "the token names no person (claim 'sub')"
    assert reasons["the token's signature does not verify"] in (
        "the token's signature does not verify",
        "not a valid token",
    )


async def test_a_token_signed_with_the_right_kid_but_another_key_does_not_verify(
    issuer: Issuer, tmp_path: Path
) -> None:
    auth = authenticator(auth_jwks_file=issuer.jwks_file, auth_issuer=ISSUER)
    forger = Issuer.ensure(tmp_path / "forger")
    forger.kid = issuer.kid  # claims to be signed by the trusted key
    with pytest.raises(Unauthenticated) as refused:
        await auth.actor(f"Bearer {forger.token('coord')}", None)
    assert refused.value.problems[0].reason == "the token's signature does not verify"


async def test_a_person_outside_the_network_is_forbidden(issuer: Issuer) -> None:
    auth = authenticator(auth_jwks_file=issuer.jwks_file, auth_issuer=ISSUER)
    with pytest.raises(Forbidden):
        await auth.actor(f"Bearer {issuer.token('mallory')}", None)


async def test_the_person_claim_is_a_setting(issuer: Issuer) -> None:
    auth = authenticator(
        auth_jwks_file=issuer.jwks_file, auth_issuer=ISSUER, auth_person_claim="preferred_username"
    )
    actor = await auth.actor(f"Bearer {issuer.token('f3a9-uuid', preferred_username='sup0')}", None)
    assert actor.id == "sup0" and actor.role == "mst_supervisor"


async def test_keys_come_from_a_jwks_url_or_the_issuers_discovery_document(issuer: Issuer, idp: str) -> None:
    by_url = authenticator(auth_jwks_url=idp + "/keys", auth_issuer=idp)
    by_discovery = authenticator(auth_issuer=idp)
    for auth in (by_url, by_discovery):
        actor = await auth.actor(f"Bearer {issuer.token('ops', issuer=idp)}", None)
        assert actor.role == "ops"
    with pytest.raises(Unauthenticated):  # same key, but the embedded issuer's name
        await by_discovery.actor(f"Bearer {issuer.token('ops')}", None)


def test_no_keys_configured_stops_the_service_with_a_clear_error() -> None:
    with pytest.raises(AuthNotConfigured, match="THUISBEST_AUTH_JWKS_FILE"):
        authenticator()
