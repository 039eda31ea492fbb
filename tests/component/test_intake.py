"""Intake's use cases and handlers: HTTP in, events out through the outbox, decisions in from Kafka;
who may do what (the role table), the audit trail, and family data sealed in the identity store."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.intake.app import MIGRATIONS, create_app
from services.intake.identity import IdentityKeyError, IdentityUnreadable
from shared.actor import Actor
from shared.db import create_pool, migrate
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DEAD_LETTER,
    TOPIC_DECISIONS,
    CaseEventV1,
    DecisionV1,
    PlacementPlanned,
    ReferralRegistered,
)
from shared.inputs import LaterEventRequest, ReferralEvent, ReferralRequest
from shared.kinds import KINDS
from shared.service import PLATFORM_MIGRATIONS
from shared.settings import ServiceSettings
from tests.component.conftest import BIRTH_DATE, NOW, Running, eventually, fields_of, referral, running
from tests.component.contracts import Probe, check_asyncapi, check_openapi

WATCH = (TOPIC_CASE_EVENTS, TOPIC_DEAD_LETTER)
FAMILY = {
    "name": "Sanne de Vries",
    "bsn": "111222333",
    "address": "Lindelaan 4, Middelburg",
    "timeout_address": "Dorpsstraat 1, Goes (tante Els)",
}
# Everything that says who the youth is, as it could show up in a table or a message.
SECRETS = [FAMILY["name"], FAMILY["bsn"], "Lindelaan", "Dorpsstraat", BIRTH_DATE, "01-05-2012", "20120501"]


def placement(
    case: str, group: str = "L02-g1", start: date = date(2026, 3, 5), **extra: Any
) -> PlacementPlanned:
    fields: dict[str, Any] = {
        "occurred_at": NOW,
        "case": case,
        "kind": "thuisbest_open",
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "group": group,
        "location": group.split("-")[0],
        "region": "ZL",
        "start": start,
        "end": start + timedelta(days=42),
        "mst_therapist": "th-ZL-0",
        "trajectbegeleider": "tb-ZL-0",
        "explanation": "the nearest open group with a free bed",
    }
    return PlacementPlanned(**(fields | extra))


@pytest.fixture
async def intake(service_settings: ServiceSettings) -> AsyncIterator[Running]:
    async with running(create_app, service_settings, NOW, watch=WATCH) as svc:
        yield svc


async def placed(intake: Running, case: str = "c-1", **extra: Any) -> None:
    """A referral of `case` (by ref-ZL), placed by the scheduler with th-ZL-0 and tb-ZL-0."""
    answer = await intake.http.post(
        "/v1/referrals", json=referral(case, **extra), headers=intake.as_("ref-ZL")
    )
    assert answer.status_code == 201, answer.text
    await intake.publish(TOPIC_DECISIONS, placement(case), key=case)


def key_file(folder: Path, name: str, keys: dict[str, bytes]) -> Path:
    path = folder / name
    lines = [
        "# identity keys: the first seals",
        *(f"{k}:{base64.b64encode(v).decode()}" for k, v in keys.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- what intake did before (kept) ------------------------------------------------------------


async def test_a_referral_is_registered_once_and_a_different_one_under_its_id_conflicts(
    intake: Running,
) -> None:
    first = await intake.http.post("/v1/referrals", json=referral())
    assert first.status_code == 201, first.text
    assert first.json() == {"case": "c-1", "status": "registered"}

    # The same referral again, with a default written out: a repeat, not a new case.
    again = await intake.http.post("/v1/referrals", json=referral(conflicts_with=[]))
    assert again.status_code == 200, again.text
    assert again.json() == {"case": "c-1", "status": "registered"}
    # The kind's default stay written out is the same referral too.
    default_stay = KINDS["thuisbest_open"].default_stay
    spelled = await intake.http.post("/v1/referrals", json=referral(stay_days=default_stay))
    assert spelled.status_code == 200, spelled.text

    other = await intake.http.post("/v1/referrals", json=referral(urgency="crisis"))
    assert other.status_code == 409, other.text
    assert fields_of(other) == {"case"}
    # Another youth under the same case id is another referral, even if all else is the same.
    someone_else = await intake.http.post("/v1/referrals", json=referral(bsn="123456782"))
    assert someone_else.status_code == 409 and fields_of(someone_else) == {"case"}, someone_else.text

    case = await intake.http.get("/v1/cases/c-1")
    assert case.status_code == 200 and case.json()["status"] == "registered"
    # Published once: neither the repeat nor the refused one reached the outbox.
    await intake.seen(TOPIC_CASE_EVENTS).wait_for(case="c-1", type="referral_registered")
    rows = await intake.db("SELECT topic FROM outbox")
    assert [r["topic"] for r in rows] == [intake.topic(TOPIC_CASE_EVENTS)]
    assert len(intake.seen(TOPIC_CASE_EVENTS).bodies(case="c-1")) == 1


async def test_concurrent_repeats_register_one_case(intake: Running) -> None:
    same = await asyncio.gather(*(intake.http.post("/v1/referrals", json=referral()) for _ in range(4)))
    assert sorted(r.status_code for r in same) == [200, 200, 200, 201], [r.text for r in same]
    rivals = [referral(case="c-2", urgency=u) for u in ("normal", "urgent", "crisis")]
    answers = await asyncio.gather(*(intake.http.post("/v1/referrals", json=r) for r in rivals))
    assert sorted(r.status_code for r in answers) == [201, 409, 409], [r.text for r in answers]
    await intake.seen(TOPIC_CASE_EVENTS).wait_for(2)
    await asyncio.sleep(0.1)
    assert sorted(e["case"] for e in intake.seen(TOPIC_CASE_EVENTS).bodies()) == ["c-1", "c-2"]


async def test_a_refused_referral_names_every_problem_in_one_answer(intake: Running) -> None:
    malformed = referral(birth_date="1st of May", urgency="soon", home_region="XX", referrer="nobody")
    answer = await intake.http.post("/v1/referrals", json=malformed)
    assert answer.status_code == 422, answer.text
    assert fields_of(answer) == {"birth_date", "urgency", "home_region", "referrer"}

    # Well-formed but against the rules: a start before the referral, a youth too old, an unknown kind.
    wrong = referral(case="c-2", earliest_start="2026-02-01", birth_date="2000-01-01", kind="thuisbest_plus")
    answer = await intake.http.post("/v1/referrals", json=wrong)
    assert answer.status_code == 422, answer.text
    assert fields_of(answer) == {"earliest_start", "kind"}  # no age range without a kind

    too_old = referral(case="c-3", birth_date="2000-01-01")
    answer = await intake.http.post("/v1/referrals", json=too_old)
    assert answer.status_code == 422 and fields_of(answer) == {"birth_date"}, answer.text

    # A BSN is nine digits passing the elfproef, as a string (leading zeros count).
    for bsn in ("111222334", "11122233", "abcdefghi", 111222333):
        answer = await intake.http.post("/v1/referrals", json=referral(case="c-4", bsn=bsn))
        assert answer.status_code == 422 and fields_of(answer) == {"bsn"}, (bsn, answer.text)
        assert FAMILY["bsn"][:6] not in answer.text  # the refusal does not echo the number

    for case in ("c-1", "c-2", "c-3", "c-4"):
        assert (await intake.http.get(f"/v1/cases/{case}")).status_code == 404
    assert await intake.db("SELECT 1 FROM outbox") == []


async def test_later_events_are_published_in_order_and_refused_by_field(intake: Running) -> None:
    assert (await intake.http.post("/v1/referrals", json=referral())).status_code == 201
    unknown = await intake.http.post("/v1/cases/c-9/events", json={"type": "withdraw"})
    assert unknown.status_code == 404 and fields_of(unknown) == {"case"}, unknown.text
    future = await intake.http.post(
        "/v1/cases/c-1/events",
        json={"type": "meeting_held", "meeting": "kennismaking", "at": "2026-03-09T10:00"},
    )
    assert future.status_code == 422 and fields_of(future) == {"at"}, future.text
    bad_type = await intake.http.post("/v1/cases/c-1/events", json={"type": "party"})
    assert bad_type.status_code == 422 and fields_of(bad_type) == {"type"}, bad_type.text

    held = await intake.http.post(
        "/v1/cases/c-1/events", json={"type": "meeting_held", "meeting": "kennismaking"}
    )
    assert held.status_code == 202, held.text
    closed = await intake.http.post("/v1/cases/c-1/events", json={"type": "close"})
    assert closed.status_code == 202, closed.text
    after = await intake.http.post("/v1/cases/c-1/events", json={"type": "withdraw"})
    assert after.status_code == 409 and fields_of(after) == {"case"}, after.text
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "closed"

    events = await intake.seen(TOPIC_CASE_EVENTS).wait_for(3, case="c-1")
    assert [e["type"] for e in events] == ["referral_registered", "meeting_held", "case_closed"]


async def test_a_decision_is_applied_once_and_the_status_follows_the_clock(intake: Running) -> None:
    assert (await intake.http.post("/v1/referrals", json=referral())).status_code == 201
    first = placement("c-1", group="L02-g1")
    await intake.publish(TOPIC_DECISIONS, first, key="c-1")
    case = (await intake.http.get("/v1/cases/c-1")).json()
    assert case["status"] == "planned" and case["stay"]["group"] == "L02-g1", case

    moved = placement("c-1", group="L02-g2", change="moved")
    await intake.publish(TOPIC_DECISIONS, moved, key="c-1")
    # The first decision delivered again (same event_id) must not undo the later one.
    await intake.publish(TOPIC_DECISIONS, first, key="c-1")
    case = (await intake.http.get("/v1/cases/c-1")).json()
    assert case["stay"]["group"] == "L02-g2", case
    assert intake.seen(TOPIC_DEAD_LETTER).messages == []

    intake.clock.set(datetime(2026, 3, 5, 9, 0))
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "placed"
    intake.clock.set(datetime(2026, 4, 16, 9, 0))  # 42 days after the start
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "home"
    # Decisions are intake's own doing (the service acts): no person read or changed the case.
    rows = await intake.db("SELECT DISTINCT person FROM audit WHERE case_id = 'c-1'")
    assert {r["person"] for r in rows} == {"coord"}


async def test_an_undecodable_decision_is_dead_lettered_and_later_ones_still_apply(intake: Running) -> None:
    assert (await intake.http.post("/v1/referrals", json=referral())).status_code == 201
    broken = placement("c-1").model_dump(mode="json")
    del broken["group"]
    await intake.publish(TOPIC_DECISIONS, broken, key="c-1")
    await intake.publish(TOPIC_DECISIONS, b"{not json", key="c-1")
    await intake.publish(TOPIC_DECISIONS, {"type": "placement_exploded", "case": "c-1"}, key="c-1")

    dead = await intake.seen(TOPIC_DEAD_LETTER).wait_for(3)
    assert all(d["service"] == "intake" and d["topic"] == intake.topic(TOPIC_DECISIONS) for d in dead), dead
    assert all(d["reason"].startswith("undecodable event") for d in dead), dead
    assert "group" in dead[0]["reason"] and str(broken["event_id"]) in dead[0]["body"]
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "registered"

    await intake.publish(TOPIC_DECISIONS, placement("c-1"), key="c-1")
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "planned"
    # A decision about a case intake does not know is not an error either.
    await intake.publish(TOPIC_DECISIONS, placement("c-404"), key="c-404")
    assert len(intake.seen(TOPIC_DEAD_LETTER).messages) == 3
    metrics = (await intake.http.get("/metrics")).text
    counted = re.search(
        r'thuisbest_dead_letters_total\{reason="undecodable",service="intake",[^}]*\} 3\.0', metrics
    )
    assert counted, metrics


# --- family data stays in intake, sealed --------------------------------------------------------


async def test_a_referral_reaches_the_case_event_topic_without_identity_data(intake: Running) -> None:
    body = referral(**FAMILY)
    answer = await intake.http.post("/v1/referrals", json=body, headers=intake.as_("ref-ZL"))
    assert answer.status_code == 201, answer.text

    [event] = await intake.seen(TOPIC_CASE_EVENTS).wait_for(case="c-1")
    registered = ReferralRegistered.model_validate(event)  # the published schema, nothing more
    assert (registered.kind, registered.home_region, registered.referrer) == (
        "thuisbest_open",
        "ZL",
        "ref-ZL",
    )
    assert registered.earliest_start == date(2026, 3, 5) and registered.occurred_at == NOW
    # 13 years old: eligible on every day of the planning horizon, and no more is said.
    assert (registered.eligible_from, registered.eligible_until) == (NOW.date(), NOW.date() + timedelta(365))
    assert registered.has_timeout_address

    [raw] = [m for m in intake.seen(TOPIC_CASE_EVENTS).messages]
    assert raw.key == "c-1"  # keyed by case: one case's events stay in order
    for secret in [b"birth_date", b"bsn", *(s.encode() for s in SECRETS)]:
        assert secret not in raw.raw, f"{secret!r} published on the case-event topic"

    # The relay marks the one outbox row published once it is on the broker: the time-out
    # address travels on no topic.
    unpublished = "SELECT topic FROM outbox WHERE published_at IS NULL"
    await eventually(lambda: intake.db(unpublished), lambda rows: rows == [], what=unpublished)
    assert [r["topic"] for r in await intake.db("SELECT topic FROM outbox")] == [
        intake.topic(TOPIC_CASE_EVENTS)
    ]


async def test_no_table_holds_family_data_in_plaintext(intake: Running) -> None:
    await placed(intake, **FAMILY)
    answer = await intake.http.post(
        "/v1/cases/c-1/events", json={"type": "meeting_held", "meeting": "kennismaking"}
    )
    assert answer.status_code == 202, answer.text
    await intake.seen(TOPIC_CASE_EVENTS).wait_for(2, case="c-1")

    columns = await intake.db(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'identities'"
    )
    assert {r["column_name"] for r in columns} == {"case_id", "key_id", "sealed", "bsn_hash", "created_at"}
    [row] = await intake.db("SELECT t::text AS text, sealed, bsn_hash, key_id FROM identities t")
    assert row["key_id"] == "k1"
    for table in ("identities", "cases", "case_events", "outbox", "audit", "processed_events"):
        for found in await intake.db(f"SELECT t::text AS text FROM {table} t"):  # noqa: S608 (names above)
            for secret in SECRETS:
                assert secret.lower() not in found["text"].lower(), (table, secret)
                assert secret.encode().hex() not in found["text"], (table, secret)
    for secret in SECRETS:  # nor in the sealed bytes themselves
        assert secret.encode() not in row["sealed"] and secret.encode() not in row["bsn_hash"]
    # Two sealings of the same identity differ (a random nonce each) and are bound to their case.
    await intake.http.post("/v1/referrals", json=referral("c-2", **FAMILY))
    sealed = [r["sealed"] for r in await intake.db("SELECT sealed FROM identities ORDER BY case_id")]
    assert len(set(sealed)) == 2 and sealed[0][:12] != sealed[1][:12]

    # ... while intake finds the youth by BSN through its keyed hash, and reads the address.
    assert await intake.app.state.intake.cases_with_bsn(FAMILY["bsn"]) == ["c-1", "c-2"]
    assert await intake.app.state.intake.cases_with_bsn("123456782") == []
    address = await intake.http.get("/v1/cases/c-1/timeout-address", headers=intake.as_("th-ZL-0"))
    assert address.json() == {"case": "c-1", "address": FAMILY["timeout_address"]}


async def test_a_sealed_identity_cannot_be_moved_to_another_case(intake: Running) -> None:
    await placed(intake, "c-1", **FAMILY)
    await placed(intake, "c-2", timeout_address="Elders 2")
    await intake.db(
        "UPDATE identities SET sealed = (SELECT sealed FROM identities WHERE case_id = 'c-1'),"
        " key_id = (SELECT key_id FROM identities WHERE case_id = 'c-1') WHERE case_id = 'c-2'"
    )
    therapist = Actor.of(intake.app.state.runtime.index.people["th-ZL-0"], "127.0.0.1")
    with pytest.raises(IdentityUnreadable, match="does not open"):
        await intake.app.state.intake.read_timeout_address("c-2", therapist)


async def test_the_time_out_address_is_for_the_therapist_and_their_supervisor(intake: Running) -> None:
    await placed(intake, **FAMILY)
    await placed(intake, "c-2")  # no time-out address named
    path = "/v1/cases/c-1/timeout-address"
    for person in ("th-ZL-0", "sup0"):
        answer = await intake.http.get(path, headers=intake.as_(person))
        assert answer.status_code == 200, (person, answer.text)
        assert answer.json() == {"case": "c-1", "address": FAMILY["timeout_address"]}
    answer = await intake.http.get("/v1/cases/c-2/timeout-address", headers=intake.as_("th-ZL-0"))
    assert answer.json() == {"case": "c-2", "address": None}
    for person, status in {"coord": 403, "ref-ZL": 403, "tb-ZL-0": 403, "ops": 403, "privacy": 403}.items():
        answer = await intake.http.get(path, headers=intake.as_(person))
        assert answer.status_code == status and fields_of(answer) == {"role"}, (person, answer.text)
    unknown = await intake.http.get("/v1/cases/c-9/timeout-address", headers=intake.as_("th-ZL-1"))
    hidden = await intake.http.get(path, headers=intake.as_("th-ZL-1"))  # another therapist's case
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.content == unknown.content.replace(b"c-9", b"c-1")

    rows = await intake.db(
        "SELECT person, outcome FROM audit WHERE case_id = 'c-1' AND action = 'read_timeout_address'"
        " ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("th-ZL-0", "allowed"),
        ("sup0", "allowed"),
        *[(p, "refused") for p in ("coord", "ref-ZL", "tb-ZL-0", "ops", "privacy", "th-ZL-1")],
    ]


# --- keys: rotation, the legacy plaintext columns, a missing key file ---------------------------


async def test_a_new_key_first_reseals_every_identity_and_the_old_key_can_then_go(
    service_settings: ServiceSettings, tmp_path: Path
) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    first = service_settings.model_copy(update={"identity_key_file": key_file(tmp_path, "a", {"k1": k1})})
    async with running(create_app, first, NOW) as intake:
        await placed(intake, "c-1", **FAMILY)
        await placed(intake, "c-2", timeout_address="Elders 2")
        before = {
            r["case_id"]: r["sealed"] for r in await intake.db("SELECT case_id, sealed FROM identities")
        }

    rotated = key_file(tmp_path, "b", {"k2": k2, "k1": k1})
    async with running(create_app, first.model_copy(update={"identity_key_file": rotated}), NOW) as intake:
        rows = await intake.db("SELECT case_id, key_id, sealed FROM identities ORDER BY case_id")
        assert [r["key_id"] for r in rows] == ["k2", "k2"]
        assert all(r["sealed"] != before[r["case_id"]] for r in rows)
        hashes = await intake.db("SELECT request_hash FROM cases")
        assert all(r["request_hash"].startswith("k2:") for r in hashes)

    only_k2 = key_file(tmp_path, "c", {"k2": k2})
    async with running(create_app, first.model_copy(update={"identity_key_file": only_k2}), NOW) as intake:
        answer = await intake.http.get("/v1/cases/c-1/timeout-address", headers=intake.as_("th-ZL-0"))
        assert answer.json()["address"] == FAMILY["timeout_address"], answer.text
        answer = await intake.http.get("/v1/cases/c-2/timeout-address", headers=intake.as_("sup0"))
        assert answer.json()["address"] == "Elders 2", answer.text
        # A repeat is still known as one (its digest was re-keyed), the BSN still found.
        repeat = await intake.http.post("/v1/referrals", json=referral("c-1", **FAMILY))
        assert repeat.status_code == 200, repeat.text
        assert await intake.app.state.intake.cases_with_bsn(FAMILY["bsn"]) == ["c-1"]

    # Without the key an identity is sealed with, intake does not start.
    stranger = key_file(tmp_path, "d", {"k3": os.urandom(32)})
    with pytest.raises(Exception, match="sealed with key 'k2'"):
        async with running(create_app, first.model_copy(update={"identity_key_file": stranger}), NOW):
            pass


async def test_identities_of_before_are_sealed_and_the_access_log_joins_the_audit_trail(
    service_settings: ServiceSettings, tmp_path: Path
) -> None:
    # A database as intake left it before the identity store: migration 001 only.
    old = tmp_path / "migrations"
    old.mkdir()
    shutil.copy(MIGRATIONS / "001_cases.sql", old)
    pool = await create_pool(service_settings.database_url)
    try:
        await migrate(pool, "platform", PLATFORM_MIGRATIONS)
        await migrate(pool, "intake", old)
        ref = ReferralEvent.model_validate(referral(timeout_address="Dorpsstraat 1, Goes") | {"at": NOW})
        body = ref.model_dump_json(exclude={"birth_date", "timeout_address"})
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO identities (case_id, birth_date, timeout_address) VALUES ('c-1', $1, $2)",
                ref.birth_date,
                ref.timeout_address,
            )
            await conn.execute(
                "INSERT INTO cases (case_id, kind, home_region, referrer, urgency, received_at, request_hash)"
                " VALUES ('c-1', 'thuisbest_open', 'ZL', 'ref-ZL', 'normal', $1, 'e3b0c44298fc1c14')",
                NOW,
            )
            await conn.execute(
                "INSERT INTO case_events (case_id, type, at, body) VALUES ('c-1', 'referral', $1, $2::jsonb)",
                NOW,
                body,
            )
            await conn.execute(
                "INSERT INTO access_log (actor, case_id, action) VALUES ('alice', 'c-1', 'create'),"
                " ('bob', 'c-1', 'read')"
            )
    finally:
        await pool.close()

    async with running(create_app, service_settings, NOW) as intake:
        columns = await intake.db(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'identities'"
        )
        assert {"birth_date", "timeout_address"}.isdisjoint(r["column_name"] for r in columns)
        [row] = await intake.db("SELECT t::text AS text, key_id FROM identities t")
        assert row["key_id"] == "k1" and "Dorpsstraat" not in row["text"] and BIRTH_DATE not in row["text"]
        audit = await intake.db("SELECT person, role, action, outcome, case_id FROM audit ORDER BY id")
        assert [tuple(r) for r in audit[:2]] == [
            ("alice", "", "create", "allowed", "c-1"),
            ("bob", "", "read", "allowed", "c-1"),
        ]
        tables = await intake.db("SELECT 1 FROM information_schema.tables WHERE table_name = 'access_log'")
        assert tables == []
        # The repeat is recognised (its digest re-keyed), the address readable by its therapist.
        repeat = await intake.http.post("/v1/referrals", json=referral(timeout_address="Dorpsstraat 1, Goes"))
        assert repeat.status_code == 200, repeat.text
        await intake.publish(TOPIC_DECISIONS, placement("c-1"), key="c-1")
        answer = await intake.http.get("/v1/cases/c-1/timeout-address", headers=intake.as_("th-ZL-0"))
        assert answer.json() == {"case": "c-1", "address": "Dorpsstraat 1, Goes"}


async def test_intake_does_not_start_without_usable_identity_keys(
    service_settings: ServiceSettings, tmp_path: Path
) -> None:
    for embedded in (False, True):
        settings = service_settings.model_copy(update={"identity_key_file": None, "embedded": embedded})
        with pytest.raises(IdentityKeyError, match="THUISBEST_IDENTITY_KEY_FILE"):
            create_app(settings)
    bad = tmp_path / "bad.keys"
    bad.write_text(
        f"k1:{base64.b64encode(os.urandom(32)).decode()}\n\nk2:{base64.b64encode(b'short').decode()}\n"
    )
    with pytest.raises(IdentityKeyError, match=re.escape(f"{bad}, line 3: key 'k2' is 5 bytes")):
        create_app(service_settings.model_copy(update={"identity_key_file": bad}))
    with pytest.raises(IdentityKeyError, match="missing.keys: cannot read"):
        create_app(service_settings.model_copy(update={"identity_key_file": tmp_path / "missing.keys"}))


# --- who may do what -----------------------------------------------------------------------------


async def test_referring_is_for_the_home_regions_people_and_a_referrer_in_their_own_name(
    intake: Running,
) -> None:
    for person, case in (("ref-ZL", "c-1"), ("coord", "c-2"), ("sup0", "c-3")):
        answer = await intake.http.post("/v1/referrals", json=referral(case), headers=intake.as_(person))
        assert answer.status_code == 201, (person, answer.text)
    refused = {
        "ref-WBW": "home_region",
        "coord-WBO": "home_region",
        "th-ZL-0": "role",
        "tb-ZL-0": "role",
        "ops": "role",
        "privacy": "role",
        "ref-ZL-gi": "referrer",  # of the region, but refers in ref-ZL's name
    }
    for person, field in refused.items():
        answer = await intake.http.post("/v1/referrals", json=referral("c-9"), headers=intake.as_(person))
        assert answer.status_code == 403 and fields_of(answer) == {field}, (person, answer.text)
    # A referrer refers in their own name, in their own region.
    own = referral("c-9", referrer="ref-ZL-gi")
    assert (
        await intake.http.post("/v1/referrals", json=own, headers=intake.as_("ref-ZL-gi"))
    ).status_code == 201
    rows = await intake.db("SELECT person, outcome, detail FROM audit WHERE action = 'refer' ORDER BY id")
    assert [r["person"] for r in rows if r["outcome"] == "refused"] == list(refused)
    assert all(r["detail"].startswith("403: ") for r in rows if r["outcome"] == "refused")
    assert [r["person"] for r in rows if r["outcome"] == "allowed"] == [
        "ref-ZL",
        "coord",
        "sup0",
        "ref-ZL-gi",
    ]


EVENTS: dict[str, dict[str, Any]] = {
    "machtiging": {"type": "machtiging", "valid_from": "2026-03-02", "valid_until": "2026-06-01"},
    "withdraw": {"type": "withdraw"},
    "discharge": {"type": "discharge", "date": "2026-03-02"},
    "timeout_request": {"type": "timeout_request", "days": 2},
    "meeting_held": {"type": "meeting_held", "meeting": "kennismaking"},
    "close": {"type": "close"},
    "timeout_address": {"type": "timeout_address", "address": "Elders 2"},
    "follow_up": {"type": "follow_up", "relapse": False},
}
# Who is refused what on a ZL case placed with th-ZL-0 and tb-ZL-0: 403 for a role that may never
# do it, 404 for a person of the right role without a relation to the case.
OUTSIDERS = {"ops": 403, "privacy": 403}
REFUSED = {
    "read_case": {
        "coord-WBO": 404,
        "ref-ZL-gi": 404,
        "ref-WBW": 404,
        "th-ZL-1": 404,
        "tb-ZL-1": 404,
        **OUTSIDERS,
    },
    "machtiging": {
        "coord-WBO": 404,
        "ref-ZL-gi": 404,
        "th-ZL-0": 403,
        "tb-ZL-0": 403,
        "sup0": 403,
        **OUTSIDERS,
    },
    "meeting_held": {
        "th-ZL-1": 404,
        "tb-ZL-1": 404,
        "coord-WBO": 404,
        "ref-ZL": 403,
        "sup0": 403,
        **OUTSIDERS,
    },
}
ALLOWED = {
    "read_case": ["coord", "sup0", "ref-ZL", "th-ZL-0", "tb-ZL-0"],
    "machtiging": ["ref-ZL", "coord"],
    "meeting_held": ["th-ZL-0", "tb-ZL-0", "coord"],
}


async def test_each_endpoint_walks_the_role_table_and_hides_cases_out_of_scope(intake: Running) -> None:
    await placed(intake)

    async def ask(action: str, person: str, case: str) -> httpx.Response:
        headers = intake.as_(person)
        if action == "read_case":
            return await intake.http.get(f"/v1/cases/{case}", headers=headers)
        return await intake.http.post(f"/v1/cases/{case}/events", json=EVENTS[action], headers=headers)

    for action, refused in REFUSED.items():
        for person, status in refused.items():
            answer = await ask(action, person, "c-1")
            assert answer.status_code == status, (action, person, answer.text)
            if status == 404:  # exactly what the person hears of a case that does not exist
                unknown = await ask(action, person, "c-9")
                assert answer.content == unknown.content.replace(b"c-9", b"c-1"), (action, person)
                assert answer.headers["content-length"] == unknown.headers["content-length"]
            else:
                assert fields_of(answer) == {"role"}, (action, person, answer.text)
        for person in ALLOWED[action]:
            answer = await ask(action, person, "c-1")
            assert answer.status_code in (200, 202), (action, person, answer.text)

    # An out-of-scope person learns nothing from a body that is well-formed but refused by the
    # rules either: the case is hidden first.
    late = EVENTS["meeting_held"] | {"at": "2026-03-01T09:00"}  # before the referral
    assert (await intake.http.post("/v1/cases/c-1/events", json=late)).status_code == 422
    hidden = await intake.http.post("/v1/cases/c-1/events", json=late, headers=intake.as_("coord-WBO"))
    assert hidden.status_code == 404, hidden.text

    # Every event type is an action of the role table: a supervisor may record none of them.
    for action, body in EVENTS.items():
        answer = await intake.http.post("/v1/cases/c-1/events", json=body, headers=intake.as_("sup0"))
        assert answer.status_code == 403, (action, answer.text)

    audit = await intake.db("SELECT person, action, outcome FROM audit WHERE case_id = 'c-1'")
    refusals = {(r["person"], r["action"]) for r in audit if r["outcome"] == "refused"}
    assert {(p, a) for a, refused in REFUSED.items() for p in refused} <= refusals
    allowed = {(r["person"], r["action"]) for r in audit if r["outcome"] == "allowed"}
    assert {(p, a) for a, people in ALLOWED.items() for p in people} <= allowed
    assert ("ref-ZL", "refer") in allowed
    unknown_rows = await intake.db("SELECT person, outcome FROM audit WHERE case_id = 'c-9'")
    assert unknown_rows and {r["outcome"] for r in unknown_rows} == {"refused"}


ENDPOINTS = [
    ("POST", "/v1/referrals", referral("c-7")),
    ("GET", "/v1/cases/c-1", None),
    ("POST", "/v1/cases/c-1/events", EVENTS["meeting_held"]),
    ("GET", "/v1/cases/c-1/timeout-address", None),
    ("GET", "/v1/audit?case=c-1", None),
]


async def test_every_endpoint_refuses_a_missing_or_bad_token_with_401(intake: Running) -> None:
    await placed(intake, **FAMILY)
    bad = {
        "none": "",
        "not a bearer": "Basic Y29vcmQ6Y29vcmQ=",
        "garbage": "Bearer not.a.jwt",
        "expired": f"Bearer {intake.issuer.token('coord', minutes=-5)}",
        "wrong audience": f"Bearer {intake.issuer.token('coord', audience='other')}",
        "wrong issuer": f"Bearer {intake.issuer.token('coord', issuer='https://evil.example')}",
    }
    for method, path, body in ENDPOINTS:
        for name, value in bad.items():
            answer = await intake.http.request(method, path, json=body, headers={"authorization": value})
            assert answer.status_code == 401, (method, path, name, answer.text)
            assert answer.headers["www-authenticate"].startswith('Bearer realm="'), (path, name)
            assert fields_of(answer) == {"authorization"}
            assert FAMILY["timeout_address"] not in answer.text
    # A body that is not even valid is still a 401 first: no token, no answer about the body.
    answer = await intake.http.post("/v1/referrals", json={}, headers={"authorization": ""})
    assert answer.status_code == 401, answer.text
    rows = await intake.db("SELECT count(*) FROM audit WHERE person = '(no valid token)' AND case_id = 'c-1'")
    assert rows[0][0] == len(bad) * 4  # the three case endpoints and the audit endpoint, each try
    assert await intake.db("SELECT 1 FROM case_events WHERE type = 'meeting_held'") == []


async def test_writes_take_json_only(intake: Running) -> None:
    await placed(intake)
    for path, body in (("/v1/referrals", referral("c-7")), ("/v1/cases/c-1/events", EVENTS["close"])):
        for kind in ("text/plain", "application/x-www-form-urlencoded"):
            answer = await intake.http.post(path, content=str(body).encode(), headers={"content-type": kind})
            assert answer.status_code == 415 and fields_of(answer) == {"content-type"}, (
                path,
                kind,
                answer.text,
            )
    assert (await intake.http.get("/v1/cases/c-1")).json()["status"] == "planned"


async def test_the_audit_trail_is_for_the_privacy_officer_and_cannot_be_changed(intake: Running) -> None:
    await placed(intake)
    assert (await intake.http.get("/v1/cases/c-1", headers=intake.as_("coord-WBO"))).status_code == 404
    assert (await intake.http.get("/v1/cases/c-1")).status_code == 200

    refused = await intake.http.get("/v1/audit", params={"case": "c-1"})  # coord
    assert refused.status_code == 403 and fields_of(refused) == {"role"}, refused.text
    answer = await intake.http.get("/v1/audit", params={"case": "c-1"}, headers=intake.as_("privacy"))
    assert answer.status_code == 200, answer.text
    trail = [(e["person"], e["role"], e["action"], e["outcome"]) for e in answer.json()]
    assert trail == [
        ("ref-ZL", "referrer", "refer", "allowed"),
        ("coord-WBO", "coordinator", "read_case", "refused"),
        ("coord", "coordinator", "read_case", "allowed"),
        ("coord", "coordinator", "read_audit", "refused"),
    ]
    assert all(e["service"] == "intake" and e["address"] for e in answer.json())
    again = await intake.http.get("/v1/audit", params={"case": "c-1"}, headers=intake.as_("privacy"))
    assert again.json()[-1]["person"] == "privacy" and again.json()[-1]["action"] == "read_audit"

    conn = await asyncpg.connect(intake.dsn)
    try:
        for statement in ("UPDATE audit SET person = 'nobody'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM audit WHERE person = 'nobody'") == 0
    finally:
        await conn.close()


# --- the published contracts ---------------------------------------------------------------------


async def test_the_contracts_document_bodies_problems_and_event_schemas(
    service_settings: ServiceSettings,
) -> None:
    async with running(create_app, service_settings, NOW) as intake:  # no watchers: they would show
        await check_openapi(
            intake,
            probes=[
                Probe("post", "/v1/referrals", 201, referral()),
                Probe("post", "/v1/referrals", 200, referral()),
                Probe("post", "/v1/referrals", 409, referral(urgency="urgent")),
                Probe("post", "/v1/referrals", 422, referral(case="c-2", home_region="XX")),
                Probe("post", "/v1/referrals", 422, [1, 2]),
                Probe(
                    "post", "/v1/cases/c-1/events", 202, {"type": "meeting_held", "meeting": "kennismaking"}
                ),
                Probe("post", "/v1/cases/c-1/events", 422, {"type": "timeout_request", "days": 99}),
                Probe("post", "/v1/cases/c-9/events", 404, {"type": "close"}),
                Probe(
                    "post", "/v1/cases/c-1/events", 202, {"type": "timeout_address", "address": "Elders 2"}
                ),
                Probe("post", "/v1/cases/c-1/events", 409, {"type": "follow_up", "relapse": False}),
                Probe("post", "/v1/cases/c-1/events", 202, {"type": "close", "reason": "moved"}),
                Probe("post", "/v1/cases/c-1/events", 409, {"type": "close"}),
                Probe("post", "/v1/cases/c-1/events", 202, {"type": "follow_up", "relapse": False}),
                Probe("get", "/v1/cases/c-1", 200),
                Probe("get", "/v1/cases/c-9", 404),
                Probe("get", "/v1/cases/c-1/timeout-address", 403),
            ],
            bodies={
                ("post", "/v1/referrals"): ReferralRequest,
                ("post", "/v1/cases/{case}/events"): LaterEventRequest,
            },
        )
        spec = (await intake.http.get("/openapi.json")).json()
        documented = {
            (method, path): set(op["responses"])
            for path, ops in spec["paths"].items()
            if path.startswith("/v1/") and path != "/v1/audit"
            for method, op in ops.items()
        }
        assert documented == {
            ("post", "/v1/referrals"): {"200", "201", "401", "403", "409", "413", "415", "422", "503"},
            ("post", "/v1/cases/{case}/events"): {
                "202",
                "401",
                "403",
                "404",
                "409",
                "413",
                "415",
                "422",
                "503",
            },
            ("get", "/v1/cases/{case}"): {"200", "401", "403", "404", "422", "503"},
            ("get", "/v1/cases/{case}/timeout-address"): {"200", "401", "403", "404", "422", "503"},
        }
        address = spec["paths"]["/v1/cases/{case}/timeout-address"]["get"]["responses"]["200"]
        schema = address["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert set(spec["components"]["schemas"][schema]["properties"]) == {"case", "address"}
        for name in ("name", "bsn", "address"):  # the request takes them; nothing answers them
            assert name in spec["components"]["schemas"]["ReferralRequest"]["properties"]
    await check_asyncapi(
        create_app,
        service_settings,
        receives={TOPIC_DECISIONS: DecisionV1},
        sends={TOPIC_CASE_EVENTS: CaseEventV1},
    )
