"""The three services as separate processes on the real embedded PostgreSQL and broker (no mocks),
called with bearer tokens of the embedded default's issuer (mostly as `coord`, the coordinator of
every region)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from shared.settings import DEMO_NETWORK
from tools.cli import SERVICES, ServiceProcesses, with_database
from tools.latency import sample_referral
from tools.scenario import load_scenario
from tools.trust import EmbeddedTrust, bearer
from tools.validator import validate_report

if TYPE_CHECKING:
    from tests.integration.conftest import StartStack

pytestmark = pytest.mark.integration
NETWORK = load_scenario(DEMO_NETWORK).network


@pytest.fixture(scope="module")
def stack(start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcesses]:
    with start_stack(tmp_path_factory.mktemp("stack"), "p") as (services, _):
        yield services


@pytest.fixture(scope="module")
def coord(stack: ServiceProcesses) -> Iterator[httpx.Client]:
    """Requests as the coordinator of every region."""
    trust = EmbeddedTrust.ensure(stack.data_dir)
    with httpx.Client(headers=bearer(trust.issuer, "coord", minutes=120), timeout=10) as client:
        yield client


def referral(rng: random.Random, **overrides: Any) -> dict[str, Any]:
    return sample_referral(NETWORK, rng, date.today()) | overrides


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def status_of(coord: httpx.Client, stack: ServiceProcesses, case: str) -> str:
    answer = coord.get(f"{stack.url('intake')}/v1/cases/{case}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


def test_health_metrics_and_contracts(stack: ServiceProcesses) -> None:
    for name in SERVICES:
        health = httpx.get(stack.url(name) + "/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["database"] == health.json()["broker"] == "ok"
        metrics = httpx.get(stack.url(name) + "/metrics").text
        assert "thuisbest_" in metrics
        assert httpx.get(stack.url(name) + "/openapi.json").json()["info"]["title"].startswith("ThuisBest")
        asyncapi = httpx.get(stack.url(name) + "/asyncapi.json").json()
        assert asyncapi["channels"], f"{name} publishes no AsyncAPI channels"


def test_referral_is_decided_and_notified(stack: ServiceProcesses, coord: httpx.Client) -> None:
    rng = random.Random(1)
    body = referral(rng)
    response = coord.post(f"{stack.url('intake')}/v1/referrals", json=body)
    assert response.status_code == 201, response.text
    assert response.json() == {"case": body["case"], "status": "registered"}

    status = wait_for(lambda: (s := status_of(coord, stack, body["case"])) != "registered" and s)
    assert status in ("planned", "placed", "waiting")
    plan = coord.get(f"{stack.url('scheduler')}/v1/plan").json()
    assert set(plan) >= {"stays", "meetings", "waiting", "rejected"}
    assert any(s["case"] == body["case"] for s in plan["stays"] + plan["waiting"])

    def notified() -> list[dict[str, Any]]:
        found = coord.get(f"{stack.url('notifier')}/v1/notifications", params={"case": body["case"]})
        kinds = {n["kind"] for n in found.json()}
        return found.json() if {"referral_received", "placement_assigned"} <= kinds else []

    notes = wait_for(notified)
    assert all(set(n) >= {"at", "case", "kind", "to", "channel", "status"} for n in notes)


def test_repeated_and_invalid_referrals(stack: ServiceProcesses, coord: httpx.Client) -> None:
    rng = random.Random(2)
    url = f"{stack.url('intake')}/v1/referrals"
    body = referral(rng)
    first = coord.post(url, json=body)
    again = coord.post(url, json=body)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["case"] == body["case"]
    different = coord.post(
        url, json=body | {"urgency": "crisis" if body["urgency"] != "crisis" else "normal"}
    )
    assert different.status_code == 409

    bad = referral(
        rng,
        kind="thuisbest",
        home_region="XX",
        referrer="nobody",
        birth_date=(date.today() - timedelta(days=365 * 25)).isoformat(),
        earliest_start="2026-13-01",
        color="blue",
    )
    refused = coord.post(url, json=bad)
    assert refused.status_code == 422
    fields = {p["field"] for p in refused.json()["problems"]}
    # Structural and reference problems in one answer: the user fixes everything in one go.
    assert {"earliest_start", "color", "home_region", "referrer"} <= fields, refused.json()
    reasons = " ".join(p["reason"] for p in refused.json()["problems"])
    assert "unknown key" in reasons

    semantic = coord.post(url, json=referral(rng, home_region="XX", referrer="nobody"))
    assert semantic.status_code == 422
    assert {"home_region", "referrer"} <= {p["field"] for p in semantic.json()["problems"]}

    too_old = referral(
        rng, kind="thuisbest", birth_date=(date.today() - timedelta(days=365 * 19)).isoformat()
    )
    answer = coord.post(url, json=too_old)
    assert answer.status_code == 422
    assert any("outside 12-17" in p["reason"] for p in answer.json()["problems"])

    short_order = referral(rng, kind="thuisbest")
    short_order["machtiging"] = {
        "valid_from": short_order["earliest_start"],
        "valid_until": (date.fromisoformat(short_order["earliest_start"]) + timedelta(days=20)).isoformat(),
    }
    answer = coord.post(url, json=short_order)
    assert answer.status_code == 422
    assert any(p["field"] == "stay_days" for p in answer.json()["problems"])

    bsn = coord.post(url, json=referral(rng, case="111222333"))
    assert bsn.status_code == 422 and bsn.json()["problems"][0]["field"] == "case"

    not_json = coord.post(url, content=b"{oops", headers={"content-type": "application/json"})
    assert not_json.status_code == 422

    for rejected in (bad, too_old, short_order):
        assert coord.get(f"{stack.url('intake')}/v1/cases/{rejected['case']}").status_code == 404


def test_later_events_are_validated(stack: ServiceProcesses, coord: httpx.Client) -> None:
    rng = random.Random(3)
    body = referral(rng)
    assert coord.post(f"{stack.url('intake')}/v1/referrals", json=body).status_code == 201
    events = f"{stack.url('intake')}/v1/cases/{body['case']}/events"
    assert coord.post(events, json={"type": "timeout_request", "days": 40}).status_code == 422
    assert coord.post(events, json={"type": "dance"}).status_code == 422
    unknown = coord.post(f"{stack.url('intake')}/v1/cases/nope/events", json={"type": "close"})
    assert unknown.status_code == 404
    assert coord.post(events, json={"type": "withdraw"}).status_code == 202
    wait_for(lambda: status_of(coord, stack, body["case"]) == "withdrawn")


def test_the_mail_link_asks_before_it_acknowledges(stack: ServiceProcesses, coord: httpx.Client) -> None:
    import email
    import re

    body = referral(random.Random(6))
    assert coord.post(f"{stack.url('intake')}/v1/referrals", json=body).status_code == 201
    mail_dir = stack.data_dir / "mail"

    def mail_to_coordinator() -> Path | None:
        found = sorted(mail_dir.glob("*-referral_received-coord.eml")) if mail_dir.exists() else []
        for path in found:
            if body["case"] in path.read_text(encoding="utf-8", errors="replace"):
                return path
        return None

    path = wait_for(mail_to_coordinator, timeout=30)
    message = email.message_from_bytes(path.read_bytes())
    text = next(
        part.get_payload(decode=True).decode()
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    )
    link = re.search(r"(\S+/v1/notifications/\d+/ack\?token=\S+)", text)
    assert link, text
    page = httpx.get(link.group(1))
    assert page.status_code == 200 and "<form" in page.text

    def status() -> str:
        notes = coord.get(f"{stack.url('notifier')}/v1/notifications", params={"case": body["case"]}).json()
        return next(n["status"] for n in notes if n["kind"] == "referral_received" and n["to"] == "coord")

    assert status() != "acked"  # opening the link (a mail scanner does too) acknowledges nothing
    action = re.search(r'action="([^"]+)"', page.text)
    assert action
    confirm = coord.post(stack.url("notifier") + action.group(1).replace("&amp;", "&"))
    assert confirm.status_code == 200, confirm.text
    assert status() == "acked"


def test_the_attacks_of_issue_9_get_a_4xx_and_intake_keeps_deciding(
    stack: ServiceProcesses, coord: httpx.Client
) -> None:
    """A 9.8 MB referral (900,000 conflicts_with entries), a 200 KB nested array, a body of
    500,000 unknown keys and a dead-letter id past bigint: each a small 4xx, and then a referral is
    decided as before (nothing accepted, nothing stuck in an outbox)."""
    rng = random.Random(9)
    intake = stack.url("intake")
    ops = EmbeddedTrust.ensure(stack.data_dir)
    huge = referral(rng, conflicts_with=[f"c-{i}" for i in range(900_000)])
    nested = "[" * 100_000 + "]" * 100_000
    wide = "{" + ",".join(f'"k{i}":0' for i in range(500_000)) + "}"
    answers = [
        coord.post(f"{intake}/v1/referrals", json=huge),
        coord.post(f"{intake}/v1/referrals", content=nested, headers={"content-type": "application/json"}),
        coord.post(f"{intake}/v1/referrals", content=wide, headers={"content-type": "application/json"}),
        httpx.post(
            f"{stack.url('notifier')}/v1/dead-letters/18446744073709551616/requeue",
            headers=bearer(ops.issuer, "ops"),
        ),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
        assert len(answer.content) < 8_000, len(answer.content)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert coord.get(f"{intake}/v1/cases/{huge['case']}").status_code == 404  # nothing accepted
    body = referral(rng)
    assert coord.post(f"{intake}/v1/referrals", json=body).status_code == 201
    assert wait_for(lambda: status_of(coord, stack, body["case"]) != "registered")


def refused_field(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {p["field"] for p in response.json()["problems"]}


def test_odd_input_gets_a_clear_refusal_never_a_server_error(
    stack: ServiceProcesses, coord: httpx.Client
) -> None:
    rng = random.Random(5)
    intake = stack.url("intake")
    url = f"{intake}/v1/referrals"
    body = referral(rng)
    assert refused_field(coord.post(url, json=body | {"at": "2026-01-01T10:00"})) == {"at"}  # no backdating
    assert refused_field(coord.post(url, json=body | {"case": "a/b-1"})) == {"case"}
    assert refused_field(coord.post(url, json=body | {"birth_date": "9987-01-01"})) == {"birth_date"}
    assert refused_field(coord.post(url, json=body | {"timeout_address": "aunt\u0000"})) == {
        "timeout_address"
    }
    late = (date.today() + timedelta(days=800)).isoformat()
    assert refused_field(coord.post(url, json=body | {"earliest_start": late})) == {"earliest_start"}
    assert coord.post(url, json=body).status_code == 201
    # The same referral with its defaults written out is a repeat, not a conflict.
    spelled_out = {"stay_days": None, "conflicts_with": [], "timeout_address": None} | body
    assert coord.post(url, json=spelled_out).status_code == 200

    events = f"{intake}/v1/cases/{body['case']}/events"
    for bad, field in [
        ({"type": ["x"]}, "type"),
        ({"type": "close", "at": 1780000000}, "at"),
        ({"type": "close", "at": "2999-01-01T10:00"}, "at"),
        ({"type": "discharge", "date": "9999-12-31"}, "date"),
        ({"type": "machtiging", "valid_from": "2027-01-01", "valid_until": "2026-01-01"}, "valid_until"),
    ]:
        answer = coord.post(events, json=bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert field in refused_field(answer), (bad, answer.text)
    assert coord.get(f"{intake}/v1/cases/%00").status_code == 422  # cannot be a case id at all

    notifier = stack.url("notifier")
    # Not a case id: a 422 naming it (never a 500); a well-formed unknown id is a 404.
    assert coord.get(f"{notifier}/v1/notifications", params={"case": "\u0000"}).status_code == 422
    assert coord.get(f"{notifier}/v1/notifications", params={"case": "c-unknown"}).status_code == 404
    for alert_id, token in [(1, "\u00fc"), (10**20, "x")]:  # the mail link's odd tokens and ids
        confirm = f"{notifier}/v1/notifications/{alert_id}/ack/confirm"
        assert coord.post(confirm, params={"token": token}).status_code == 404
    assert coord.post(f"{notifier}/v1/notifications/{10**20}/ack").status_code in (404, 422)
    for name in SERVICES:  # nothing above left the services unhealthy
        assert httpx.get(stack.url(name) + "/healthz").status_code == 200


def scenario_for(bodies: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    """The network plus the posted referrals: what the validator checks the live plan against."""
    scenario = json.loads(NETWORK.model_dump_json(by_alias=True))
    start = at.date()
    scenario |= {"start": start.isoformat(), "end": (start + timedelta(days=365)).isoformat()}
    stamp = at.strftime("%Y-%m-%dT%H:%M")
    scenario["events"] = [{"at": stamp, "type": "referral"} | b for b in bodies]
    return scenario


def test_plan_of_many_referrals_obeys_the_rules(stack: ServiceProcesses, coord: httpx.Client) -> None:
    rng = random.Random(4)
    started = datetime.now().replace(second=0, microsecond=0)
    bodies = [referral(rng) for _ in range(25)]
    for body in bodies:
        assert coord.post(f"{stack.url('intake')}/v1/referrals", json=body).status_code == 201
    for body in bodies:
        wait_for(lambda b=body: status_of(coord, stack, b["case"]) != "registered", timeout=60)
    time.sleep(1.5)  # let the debounced re-plan settle
    plan = coord.get(f"{stack.url('scheduler')}/v1/plan").json()
    ours = {b["case"] for b in bodies}
    report = {
        "stays": [s for s in plan["stays"] if s["case"] in ours],
        "meetings": [m for m in plan["meetings"] if m["case"] in ours],
        "waiting": [w for w in plan["waiting"] if w["case"] in ours],
        "rejected": [r for r in plan["rejected"] if r["case"] in ours],
    }
    others = [s for s in plan["stays"] if s["case"] not in ours]
    result = validate_report(scenario_for(bodies, started), report)
    # Stays of other tests' cases share the beds and staff: only rules about our own cases
    # are judged here, capacity included when no other case is present.
    rules = {v.rule for v in result.violations}
    if others:
        rules -= {"capacity", "caseload", "startgesprek"}
    assert not rules, [str(v) for v in result.violations]


def count_rows(dsn: str, sql: str) -> list[asyncpg.Record]:
    import asyncio

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.mark.parametrize("victim", SERVICES)
def test_killing_a_service_mid_stream_loses_and_repeats_nothing(
    stack: ServiceProcesses, coord: httpx.Client, victim: str
) -> None:
    rng = random.Random(hash(victim) % 1000)
    bodies = [referral(rng) for _ in range(12)]
    for i, body in enumerate(bodies):
        if i == 5:
            stack.stop(victim, kill=True)
            stack.start(victim)
        if victim == "intake" and 5 <= i:
            stack.wait_healthy(60, names=["intake"])
        assert coord.post(f"{stack.url('intake')}/v1/referrals", json=body, timeout=10).status_code == 201
    stack.wait_healthy(60)
    for body in bodies:
        wait_for(lambda b=body: status_of(coord, stack, b["case"]) != "registered", timeout=60)

    cases = tuple(b["case"] for b in bodies)
    scheduler_db = with_database(stack.dsn, stack.database("scheduler"))

    def decided() -> dict[str, list[dict[str, Any]]]:
        """The decisions in the scheduler's outbox per case, as they stand now (a first decision
        comes at once and the re-plan after it may promise the case: read them again when needed)."""
        rows = count_rows(scheduler_db, "SELECT key, payload FROM outbox ORDER BY id")
        found: dict[str, list[dict[str, Any]]] = {case: [] for case in cases}
        for row in rows:
            if row["key"] in found:
                payload = json.loads(row["payload"])
                found[row["key"]].append(
                    {k: v for k, v in payload.items() if k not in ("event_id", "occurred_at")}
                )
        return found

    def versions(sequence: list[dict[str, Any]]) -> int:
        """Placement versions decided: each is announced once (none lost, none twice)."""
        wanted, current = 0, None
        for d in sequence:
            if d["type"] == "placement_cancelled":
                current = None
            elif d["type"] == "placement_planned":
                version = (d["start"], d["end"], d["group"], d["mst_therapist"], d["trajectbegeleider"])
                wanted += d["change"] != "discharged" and version != current
                current = version
        return wanted

    for case, sequence in decided().items():
        assert sequence, f"{case}: no decision"
        repeats = [a for a, b in zip(sequence, sequence[1:], strict=False) if a == b]
        assert not repeats, f"{case}: a decision published twice: {repeats}"

    def announced(case: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        notes = coord.get(f"{stack.url('notifier')}/v1/notifications", params={"case": case}).json()
        to_coordinator = [n for n in notes if n["to"] == "coord"]
        return (
            [n for n in to_coordinator if n["kind"] == "referral_received"],
            [n for n in to_coordinator if n["kind"] == "placement_assigned"],
        )

    for case in cases:
        try:
            wait_for(
                lambda c=case: len(announced(c)[1]) == versions(decided()[c]) and announced(c)[0], timeout=60
            )
        except AssertionError:
            pass  # the assertions below say what is missing
        sequence = decided()[case]
        received, assigned = announced(case)
        assert len(received) == 1, (case, received)
        assert len(assigned) == versions(sequence), (case, sequence, assigned)


def test_undecodable_message_goes_to_dead_letter(stack: ServiceProcesses) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from shared.events import TOPIC_CASE_EVENTS, TOPIC_DEAD_LETTER

    async def run() -> list[dict[str, Any]]:
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            await producer.send_and_wait(
                stack.topic_prefix + TOPIC_CASE_EVENTS, b'{"type": "nonsense"}', key=b"x"
            )
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            stack.topic_prefix + TOPIC_DEAD_LETTER,
            bootstrap_servers=stack.bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        found: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + 30
            while not found and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found += [json.loads(r.value) for r in records]
        finally:
            await consumer.stop()
        return found

    letters = asyncio.run(run())
    assert any("undecodable" in letter["reason"] for letter in letters), letters
    metrics = httpx.get(stack.url("scheduler") + "/metrics").text
    assert "thuisbest_dead_letters_total" in metrics


def test_network_file_is_required_to_be_valid(tmp_path: Path) -> None:
    from tools.cli import main

    broken = tmp_path / "net.json"
    broken.write_text(json.dumps({"name": "x", "regions": [], "locations": [], "people": [], "colour": 1}))
    assert main(["up", "--network", str(broken)]) == 2
