"""Intake's identity keys (services/intake/identity.py): the key file, sealing bound to the case,
rotation, keyed hashes; and the identity fields a referral request takes."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.identity import Identity, IdentityKeyError, IdentityUnreadable, KeyRing, Sealed
from shared.inputs import ReferralRequest

K1, K2 = os.urandom(32), os.urandom(32)
YOUTH = Identity(
    birth_date=date(2012, 5, 1),
    timeout_address="Dorpsstraat 1, Goes",
    name="Sanne de Vries",
    bsn="111222333",
    address="Lindelaan 4, Middelburg",
)


def line(key_id: str, secret: bytes) -> str:
    return f"{key_id}:{base64.b64encode(secret).decode()}"


def ring(*keys: tuple[str, bytes]) -> KeyRing:
    return KeyRing.parse("\n".join(line(k, s) for k, s in keys), "test.keys")


def test_the_key_file_takes_comments_and_blank_lines_and_the_first_key_seals(tmp_path: Path) -> None:
    path = tmp_path / "identity.keys"
    path.write_text(f"# rotated in March\n\n  {line('k2', K2)}  \n{line('k1', K1)}\n")
    keys = KeyRing.from_file(path)
    assert keys.current.id == "k2" and set(keys.keys) == {"k1", "k2"}
    assert keys.seal("c-1", YOUTH).key_id == "k2"
    assert base64.b64encode(K2).decode() not in repr(keys.current)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key"),
        ("# only a comment\n", "no key"),
        (f"{base64.b64encode(K1).decode()}\n", "line 1: expected `key-id:base64"),
        (f"\n\nk 1:{base64.b64encode(K1).decode()}\n", "line 3: expected `key-id:base64"),
        (f"{line('k1', K1)}\n{line('k1', K2)}\n", "line 2: key id 'k1' appears twice"),
        ("k1:not base64!\n", "line 1: key 'k1' is not valid base64"),
        (f"{line('k1', K1[:16])}\n", "line 1: key 'k1' is 16 bytes, an AES-256 key is 32"),
    ],
)
def test_a_bad_key_file_is_named_with_its_line_and_never_shows_a_key(text: str, message: str) -> None:
    with pytest.raises(IdentityKeyError, match="identity.keys") as error:
        KeyRing.parse(text, "/etc/thuisbest/identity.keys")
    assert message in str(error.value)
    assert base64.b64encode(K1).decode() not in str(error.value)


def test_no_key_file_or_an_unreadable_one_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IdentityKeyError, match="THUISBEST_IDENTITY_KEY_FILE"):
        KeyRing.from_file(None)
    with pytest.raises(IdentityKeyError, match="nothing.keys: cannot read the identity keys"):
        KeyRing.from_file(tmp_path / "nothing.keys")


def test_a_sealed_identity_opens_for_its_own_case_only() -> None:
    keys = ring(("k1", K1))
    sealed = keys.seal("c-1", YOUTH)
    assert keys.open("c-1", sealed) == YOUTH
    for secret in (b"Sanne", b"111222333", b"2012-05-01", b"Dorpsstraat", b"Lindelaan"):
        assert secret not in sealed.blob
    again = keys.seal("c-1", YOUTH)
    assert again.blob[:12] != sealed.blob[:12] and again.blob != sealed.blob  # a fresh 96-bit nonce
    assert len(sealed.blob[:12]) == 12
    with pytest.raises(IdentityUnreadable, match="case 'c-2' does not open"):
        keys.open("c-2", sealed)  # moved to another case
    tampered = Sealed(sealed.key_id, sealed.blob[:-1] + bytes([sealed.blob[-1] ^ 1]))
    with pytest.raises(IdentityUnreadable):
        keys.open("c-1", tampered)


def test_rotation_opens_old_rows_while_their_key_is_listed() -> None:
    old = ring(("k1", K1)).seal("c-1", YOUTH)
    rotated = ring(("k2", K2), ("k1", K1))
    assert rotated.open("c-1", old) == YOUTH
    resealed = rotated.seal("c-1", rotated.open("c-1", old))
    assert resealed.key_id == "k2"
    assert ring(("k2", K2)).open("c-1", resealed) == YOUTH
    with pytest.raises(IdentityUnreadable, match="sealed with key 'k1', which is not in test.keys"):
        ring(("k2", K2)).open("c-1", old)


def test_a_bsn_is_found_by_a_keyed_hash_and_a_digest_names_its_key() -> None:
    keys = ring(("k1", K1))
    assert keys.bsn_hash("111222333") == keys.bsn_hash("111222333")
    assert keys.bsn_hash("111222333") != hashlib.sha256(b"111222333").digest()  # no bare hash to guess
    assert keys.bsn_hash("111222333") != keys.bsn_hash("123456782")
    rotated = ring(("k2", K2), ("k1", K1))
    assert rotated.bsn_hash("111222333") != keys.bsn_hash("111222333")
    assert keys.bsn_hash("111222333") in rotated.bsn_hashes("111222333")  # rows not yet re-hashed

    data: dict[str, Any] = {"case": "c-1", "bsn": "111222333"}
    digest = keys.digest(data)
    assert digest.startswith("k1:") and "111222333" not in digest
    assert keys.digest_matches(data, digest) and rotated.digest_matches(data, digest)
    assert not keys.digest_matches(data | {"bsn": "123456782"}, digest)
    assert not ring(("k2", K2)).digest_matches(data, digest)
    assert rotated.digest(data).startswith("k2:")


def test_a_referral_request_takes_who_the_youth_is_and_its_event_does_not_carry_it() -> None:
    body: dict[str, Any] = {
        "case": "c-1",
        "kind": "thuisbest_open",
        "birth_date": "2012-05-01",
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "urgency": "normal",
        "earliest_start": "2026-03-05",
        "name": "Sanne de Vries",
        "bsn": "111222333",
        "address": "Lindelaan 4, Middelburg",
    }
    request = ReferralRequest.model_validate(body)
    event = request.event(datetime(2026, 3, 2, 10, 0))
    dumped = event.model_dump_json()
    assert "Sanne" not in dumped and "111222333" not in dumped and "Lindelaan" not in dumped
    for bsn in ("111222334", "1112223330", "11122233", "١١١٢٢٢٣٣٣", 111222333):
        with pytest.raises(ValidationError) as error:
            ReferralRequest.model_validate(body | {"bsn": bsn})
        assert [e["loc"] for e in error.value.errors()] == [("bsn",)]
