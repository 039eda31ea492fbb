"""The embedded default's own token issuer: a signing key in the data dir, its public JWKS beside
it for the services, and tokens for the people of the loaded network (`thuisbest token`).

Production uses the municipality's or provider's identity provider instead (Keycloak, Entra ID):
the services only ever see the public keys. The board signs its signed-in people's API tokens with
this key on the embedded default (`board_signing_key_file`), and `thuisbest login` its one-time
sign-in links."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "urn:thuisbest:embedded"
AUDIENCE = "thuisbest-api"
SIGNIN_AUDIENCE = "thuisbest-board-signin"  # a one-time sign-in link of the board, nothing else
KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"


class Issuer:
    def __init__(self, folder: Path, key: ec.EllipticCurvePrivateKey) -> None:
        self.folder, self._key = folder, key
        public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        thumb = json.dumps({k: public[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
        self.kid = hashlib.sha256(thumb.encode()).hexdigest()[:16]
        self.public_jwk = public | {"kid": self.kid, "use": "sig", "alg": "ES256"}

    @property
    def jwks_file(self) -> Path:
        return self.folder / JWKS_FILE

    @classmethod
    def ensure(cls, folder: Path) -> Issuer:
        """The issuer of `folder`: its key when there is one, else a new key (mode 0600)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / KEY_FILE
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path}: not an EC private key")
            issuer = cls(folder, loaded)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            issuer = cls(folder, key)
        issuer.jwks_file.write_text(json.dumps({"keys": [issuer.public_jwk]}, indent=1))
        return issuer

    @classmethod
    def load(cls, folder: Path) -> Issuer:
        if not (folder / KEY_FILE).exists():
            raise FileNotFoundError(f"no signing key in {folder}: run `thuisbest up` with this data dir")
        return cls.ensure(folder)

    def token(
        self,
        person: str,
        *,
        minutes: float = 60,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": person,
            "iat": now,
            "nbf": now,
            "exp": now + int(minutes * 60),
            "jti": uuid.uuid4().hex,
        } | extra
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})
