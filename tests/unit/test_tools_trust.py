"""The embedded default's secrets (tools/trust.py) and the PostgreSQL password verifier: made once
with mode 0600, reused, tightened when loosened, and handed to the services as settings they read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from shared.auth import TokenVerifier
from shared.issuer import ISSUER
from shared.settings import ServiceSettings
from tools.embedded import scram_verifier
from tools.trust import (
    AUTH_DIR,
    IDENTITY_KEYS,
    POSTGRES_PASSWORD,
    SECRETS_DIR,
    WEBHOOK_SECRET,
    EmbeddedTrust,
    NoIssuer,
    bearer,
    load_issuer,
    private_file,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_are_made_once_private_and_reused(tmp_path: Path) -> None:
    first = EmbeddedTrust.ensure(tmp_path)
    folder = tmp_path / SECRETS_DIR
    for name in (IDENTITY_KEYS, WEBHOOK_SECRET, POSTGRES_PASSWORD):
        assert mode(folder / name) == 0o600, name
    assert mode(folder) == 0o700
    assert mode(tmp_path / AUTH_DIR / "signing-key.pem") == 0o600

    again = EmbeddedTrust.ensure(tmp_path)
    assert again.issuer.kid == first.issuer.kid
    assert (again.webhook_secret, again.postgres_password) == (first.webhook_secret, first.postgres_password)
    assert len({first.webhook_secret, first.postgres_password}) == 2
    assert len(first.webhook_secret) >= 32 and not first.webhook_secret.startswith("change-me")
    shown = repr(first)
    assert first.webhook_secret not in shown and first.postgres_password not in shown


def test_identity_key_file_has_one_key_of_32_bytes_in_the_format_intake_reads(tmp_path: Path) -> None:
    trust = EmbeddedTrust.ensure(tmp_path)
    lines = trust.identity_key_file.read_text().splitlines()
    assert len(lines) == 1
    key_id, _, key = lines[0].partition(":")
    assert key_id.startswith("embedded-") and ":" not in key
    assert len(base64.b64decode(key, validate=True)) == 32


def test_a_loosened_secret_is_tightened_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "s" / "secret"
    assert private_file(path, lambda: "one") == "one"
    path.chmod(0o644)
    assert private_file(path, lambda: "two") == "one"
    assert mode(path) == 0o600


def test_the_services_read_the_env_and_accept_the_issuers_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust = EmbeddedTrust.ensure(tmp_path)
    env = trust.service_env()
    assert set(env) <= {f"THUISBEST_{name.upper()}" for name in ServiceSettings.model_fields}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ServiceSettings()
    assert settings.embedded and settings.auth_issuer == ISSUER
    assert settings.identity_key_file == trust.identity_key_file
    assert settings.webhook_secret == trust.webhook_secret
    token = bearer(trust.issuer, "coord")["Authorization"].removeprefix("Bearer ")
    assert TokenVerifier(settings).claims(token)["sub"] == "coord"


def test_load_issuer_makes_nothing_and_says_to_run_up(tmp_path: Path) -> None:
    with pytest.raises(NoIssuer, match="thuisbest up"):
        load_issuer(tmp_path)
    assert not (tmp_path / AUTH_DIR / "signing-key.pem").exists()
    made = EmbeddedTrust.ensure(tmp_path)
    assert load_issuer(tmp_path).kid == made.issuer.kid


def test_scram_verifier_answers_the_rfc_7677_exchange() -> None:
    """The verifier of "pencil" with the RFC's salt yields the RFC's server signature and accepts its
    client proof: PostgreSQL, which checks the same way, accepts the password."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    method, rest = scram_verifier("pencil", salt=salt, iterations=4096).split("$", 1)
    params, keys = rest.split("$")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    assert (method, params) == ("SCRAM-SHA-256", "4096:W22ZaJ0SNY7soEsUEjb6gQ==")
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = ",".join(
        ["n=user", "r=rOprNGfwEbeRWgbNEkqO", f"r={nonce}", "s=W22ZaJ0SNY7soEsUEjb6gQ==", "i=4096"]
        + ["c=biws", f"r={nonce}"]
    ).encode()
    server_signature = hmac.new(server_key, auth_message, "sha256").digest()
    assert base64.b64encode(server_signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_signature = hmac.new(stored_key, auth_message, "sha256").digest()
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


@pytest.mark.parametrize("password", ["", "wachtwoord met é", "tab\there"])
def test_scram_verifier_refuses_passwords_saslprep_would_change(password: str) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        scram_verifier(password)
