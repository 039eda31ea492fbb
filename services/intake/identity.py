"""Intake's identity store keys: who a youth is (name, BSN, birth date, addresses), sealed with
AES-256-GCM before it reaches the database, and keyed hashes that find a BSN without revealing it.

The keys never reach the database: they come from a file of `key-id:base64-of-32-bytes` lines
(`THUISBEST_IDENTITY_KEY_FILE`). The first key seals, every key opens, so a new key can be put
first and the old ones removed once intake has re-sealed every row with the new one (on start).
Each sealed value is bound to its case (associated data), so it cannot be moved to another case.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict

NONCE_BYTES = 12  # 96 bits, random per sealing (AES-GCM's recommended nonce size)
KEY_BYTES = 32  # AES-256
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
HASH_INFO = b"thuisbest-intake identity hash v1"  # HKDF info: the hash key is not the sealing key


class IdentityKeyError(ValueError):
    """The identity keys cannot be used; the message names the file and line, never a key."""


class IdentityUnreadable(RuntimeError):
    """A sealed value that no key of the ring opens (wrong key, or tampered with or moved)."""


# What the family tells intake after the referral: not part of the referral as referred.
LATER_IDENTITY = frozenset({"named_timeout_address"})


class Identity(BaseModel):
    """Who the youth of a case is: kept sealed, read only on intake's audited endpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    birth_date: date
    timeout_address: str | None = None  # as the referral named it
    name: str | None = None
    bsn: str | None = None
    address: str | None = None
    # The time-out address the family named later (PATHWAY-V2 `timeout_address`, the latest one).
    # It replaces the referral's, which stays as referred: a repeat of the referral is still that
    # referral, also once its digest is re-keyed from this identity.
    named_timeout_address: str | None = None

    @property
    def current_timeout_address(self) -> str | None:
        """The time-out address that holds now: the one named last."""
        return self.named_timeout_address if self.named_timeout_address is not None else self.timeout_address

    def as_referred(self) -> dict[str, Any]:
        """The identity the referral came with (JSON-able), without what was named later."""
        return self.model_dump(mode="json", exclude=set(LATER_IDENTITY))


@dataclass(frozen=True)
class IdentityKey:
    id: str
    secret: bytes = field(repr=False)
    # The HMAC key derived from this key (HKDF-SHA256), for BSN look-ups and request digests.
    hash_key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HASH_INFO).derive(self.secret)
        object.__setattr__(self, "hash_key", derived)


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes  # nonce followed by the ciphertext and its tag


class KeyRing:
    """The identity keys in file order: the first seals and hashes, every one opens."""

    def __init__(self, keys: list[IdentityKey], source: str = "identity keys") -> None:
        if not keys:
            raise IdentityKeyError(f"{source}: no key (expected lines `key-id:base64 of 32 bytes`)")
        self.keys = {key.id: key for key in keys}
        self.current = keys[0]
        self.source = source

    @classmethod
    def parse(cls, text: str, source: str) -> KeyRing:
        keys: list[IdentityKey] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{source}, line {number}"
            key_id, colon, encoded = line.partition(":")
            key_id, encoded = key_id.strip(), encoded.strip()
            if not colon or not KEY_ID.fullmatch(key_id):
                raise IdentityKeyError(
                    f"{where}: expected `key-id:base64 of 32 bytes` with a key id of letters, digits, . _ -"
                )
            if any(key.id == key_id for key in keys):
                raise IdentityKeyError(f"{where}: key id {key_id!r} appears twice")
            try:
                secret = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise IdentityKeyError(f"{where}: key {key_id!r} is not valid base64") from None
            if len(secret) != KEY_BYTES:
                raise IdentityKeyError(
                    f"{where}: key {key_id!r} is {len(secret)} bytes, an AES-256 key is {KEY_BYTES}"
                )
            keys.append(IdentityKey(key_id, secret))
        return cls(keys, source)

    @classmethod
    def from_file(cls, path: Path | None) -> KeyRing:
        if path is None:
            raise IdentityKeyError(
                "no identity keys: set THUISBEST_IDENTITY_KEY_FILE to a file of `key-id:base64 of 32 bytes`"
                " lines (`thuisbest up` writes one for the embedded default); intake keeps names, BSNs,"
                " birth dates and addresses only encrypted"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise IdentityKeyError(f"{path}: cannot read the identity keys: {reason}") from None
        return cls.parse(text, str(path))

    def seal(self, case: str, identity: Identity) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        plain = identity.model_dump_json().encode()
        blob = nonce + AESGCM(self.current.secret).encrypt(nonce, plain, _bound_to(case))
        return Sealed(self.current.id, blob)

    def open(self, case: str, sealed: Sealed) -> Identity:
        key = self.keys.get(sealed.key_id)
        if key is None:
            raise IdentityUnreadable(
                f"the identity of case {case!r} is sealed with key {sealed.key_id!r}, which is not in"
                f" {self.source}: put that key back (after the new one) until intake has re-sealed it"
            )
        nonce, body = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            plain = AESGCM(key.secret).decrypt(nonce, body, _bound_to(case))
        except InvalidTag:
            raise IdentityUnreadable(f"the identity of case {case!r} does not open with its key") from None
        return Identity.model_validate_json(plain)

    def bsn_hash(self, bsn: str) -> bytes:
        """The keyed hash a BSN is found by (with the sealing key's hash key)."""
        return _hmac(self.current.hash_key, bsn.encode())

    def bsn_hashes(self, bsn: str) -> list[bytes]:
        """The BSN's hash under every key: rows not yet re-hashed after a rotation are found too."""
        return [_hmac(key.hash_key, bsn.encode()) for key in self.keys.values()]

    def digest(self, data: Any) -> str:
        """A keyed digest of JSON-able data, tagged with the key id (`k1:hex`): a database reader
        cannot confirm a guessed birth date or BSN with it."""
        text = _canonical(data).encode()
        return f"{self.current.id}:{_hmac(self.current.hash_key, text).hex()}"

    def digest_matches(self, data: Any, stored: str) -> bool:
        key_id, _, _ = stored.partition(":")
        key = self.keys.get(key_id)
        if key is None:
            return False
        expected = f"{key.id}:{_hmac(key.hash_key, _canonical(data).encode()).hex()}"
        return hmac.compare_digest(expected, stored)


def _bound_to(case: str) -> bytes:
    """The associated data of a case's sealed identity: its case id."""
    return case.encode()


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
