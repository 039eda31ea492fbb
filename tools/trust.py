"""The embedded default's secrets in its data dir: the token issuer, intake's identity keys, the
notifier's webhook secret and the PostgreSQL password; made once (mode 0600), reused on restart.

Layout of a data dir (`thuisbest up --data-dir DIR`):

    DIR/auth/signing-key.pem       the issuer's private key (shared/issuer.py)
    DIR/auth/jwks.json             its public key, which the services verify tokens with
    DIR/secrets/identity.keys      intake's AES-256-GCM keys, `key-id:base64 of 32 bytes` a line
    DIR/secrets/webhook-secret     the notifier's HMAC secret for webhook calls
    DIR/secrets/postgres-password  the embedded PostgreSQL's password (TCP on 127.0.0.1 only)
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from shared.issuer import ISSUER, Issuer

AUTH_DIR = "auth"
SECRETS_DIR = "secrets"
IDENTITY_KEYS = "identity.keys"
WEBHOOK_SECRET = "webhook-secret"
POSTGRES_PASSWORD = "postgres-password"


class NoIssuer(LookupError):
    """The data dir has no signing key: `thuisbest up` has not run with it."""


def private_file(path: Path, make: Callable[[], str]) -> str:
    """The text of `path`; written first with `make()` (mode 0600) when it does not exist.

    A file another tool loosened is tightened to 0600 again: these are secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        return path.read_text(encoding="utf-8")
    text = make()
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return text


def new_identity_key() -> str:
    """One key line of intake's identity key file: a dated key id and 32 random bytes."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return f"embedded-{date.today():%Y%m%d}:{key}\n"


def new_password() -> str:
    return secrets.token_urlsafe(32)  # URL-safe: it goes into the services' database URL as is


@dataclass(frozen=True)
class EmbeddedTrust:
    """What `thuisbest up` hands the services and the embedded PostgreSQL, from one data dir."""

    data_dir: Path
    issuer: Issuer
    identity_key_file: Path
    webhook_secret: str = field(repr=False)
    postgres_password: str = field(repr=False)

    @classmethod
    def ensure(cls, data_dir: Path) -> EmbeddedTrust:
        folder = data_dir / SECRETS_DIR
        keys = folder / IDENTITY_KEYS
        private_file(keys, new_identity_key)
        return cls(
            data_dir=data_dir,
            issuer=Issuer.ensure(data_dir / AUTH_DIR),
            identity_key_file=keys,
            webhook_secret=private_file(folder / WEBHOOK_SECRET, new_password).strip(),
            postgres_password=private_file(folder / POSTGRES_PASSWORD, new_password).strip(),
        )

    def service_env(self) -> dict[str, str]:
        """The THUISBEST_* variables that make a service trust this issuer and hold these secrets."""
        return {
            "THUISBEST_EMBEDDED": "true",
            "THUISBEST_AUTH_ISSUER": ISSUER,
            "THUISBEST_AUTH_JWKS_FILE": str(self.issuer.jwks_file),
            "THUISBEST_IDENTITY_KEY_FILE": str(self.identity_key_file),
            "THUISBEST_WEBHOOK_SECRET": self.webhook_secret,
        }


def load_issuer(data_dir: Path) -> Issuer:
    """The issuer of a data dir `thuisbest up` made; NoIssuer when there is none (nothing is created)."""
    try:
        return Issuer.load(data_dir / AUTH_DIR)
    except FileNotFoundError:
        raise NoIssuer(
            f"no signing key in {data_dir / AUTH_DIR}: run `thuisbest up --data-dir {data_dir}` first"
        ) from None


def bearer(issuer: Issuer, person: str, minutes: float = 60) -> dict[str, str]:
    """The Authorization header of a request made as `person`."""
    return {"Authorization": f"Bearer {issuer.token(person, minutes=minutes)}"}
