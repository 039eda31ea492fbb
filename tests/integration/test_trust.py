"""Trust on the real stack: the role table walked for every endpoint (allowed, 403, 404, 401), and
a scripted day after which no name, birth date, BSN or address is found on any topic, in any log
or mail file, or in any service's /metrics.

The three services run as processes on the embedded PostgreSQL and the tansu broker, with the
embedded default's own token issuer (shared/issuer.py) as their identity provider."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from shared.events import ALL_TOPICS
from shared.issuer import Issuer
from tools.cli import SERVICES, ServiceProcesses

if TYPE_CHECKING:
    from tests.integration.conftest import StartStack

pytestmark = pytest.mark.integration

EVERYONE = [
    "coord",
    "coord-WBO",
    "sup0",
    "ref-ZL",
    "ref-ZL-gi",
    "ref-WBW",
    "tb-ZL-1",
    "ops",
    "privacy",
]  # plus the case's own therapist and trajectbegeleider, and another therapist of ZL


@dataclass
class Trusted:
    services: ServiceProcesses
    issuer: Issuer

    def url(self, service: str, path: str) -> str:
        return self.services.url(service) + path

    def headers(self, person: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {self.issuer.token(person)}"} if person else {}

    def call(self, person: str | None, method: str, service: str, path: str, **kw: Any) -> httpx.Response:
        headers = self.headers(person) | kw.pop("headers", {})
        return httpx.request(method, self.url(service, path), headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def trusted(start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trusted]:
    with start_stack(tmp_path_factory.mktemp("trust"), "tr") as (services, trust):
        yield Trusted(services, trust.issuer)


def wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.2)
    return value


def referral(case: str, region: str = "ZL", **extra: Any) -> dict[str, Any]:
    today = date.today()
    return {
        "case": case,
        "kind": "thuisbest_open",
        "birth_date": "2012-05-09",
        "home_region": region,
        "referrer": f"ref-{region}",
        "urgency": "normal",
        "earliest_start": (today + timedelta(days=2)).isoformat(),
        "conflicts_with": [],
        "timeout_address": "Kerkstraat 12, Goes (oma)",
        "machtiging": None,
    } | extra


@pytest.fixture(scope="module")
def placed_case(trusted: Trusted) -> dict[str, Any]:
    """A ZL case with a planned stay: its therapist and trajectbegeleider are known."""
    case = f"tr-{uuid.uuid4().hex[:8]}"
    answer = trusted.call("ref-ZL", "POST", "intake", "/v1/referrals", json=referral(case))
    assert answer.status_code == 201, answer.text

    def staffed() -> dict[str, Any] | None:
        view = trusted.call("coord", "GET", "intake", f"/v1/cases/{case}").json()
        stay = view.get("stay") or {}
        return view if stay.get("mst_therapist") and stay.get("trajectbegeleider") else None

    view = wait_for(staffed)
    therapist, tb = view["stay"]["mst_therapist"], view["stay"]["trajectbegeleider"]
    other = next(p for p in ("th-ZL-0", "th-ZL-1", "th-ZL-2") if p != therapist)
    other_tb = next(p for p in ("tb-ZL-0", "tb-ZL-1", "tb-ZL-2") if p != tb)
    return {"case": case, "therapist": therapist, "tb": tb, "other_therapist": other, "other_tb": other_tb}


def expect(trusted: Trusted, who: dict[str, int], method: str, service: str, path: str, **kw: Any) -> None:
    """Each person gets the status named; 404 answers are the same as for an unknown case."""
    wrong = {}
    for person, status in who.items():
        answer = trusted.call(person, method, service, path, **kw)
        if answer.status_code != status:
            wrong[person] = (status, answer.status_code, answer.text[:200])
    assert not wrong, f"{method} {service}{path}: {wrong}"


def test_every_endpoint_walks_the_role_table(trusted: Trusted, placed_case: dict[str, Any]) -> None:
    case, th, tb = placed_case["case"], placed_case["therapist"], placed_case["tb"]
    other_th, other_tb = placed_case["other_therapist"], placed_case["other_tb"]
    outsiders_403 = {"ops": 403, "privacy": 403}

    # Post a referral: referrer, coordinator or supervisor of the home region.
    new = [f"tr-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for person, body in (("ref-ZL", new[0]), ("coord", new[1]), ("sup0", new[2])):
        answer = trusted.call(person, "POST", "intake", "/v1/referrals", json=referral(body))
        assert answer.status_code == 201, (person, answer.text)
    fresh = referral(f"tr-{uuid.uuid4().hex[:8]}")
    expect(
        trusted,
        {"ref-WBW": 403, "coord-WBO": 403, th: 403, tb: 403, **outsiders_403, "ref-ZL-gi": 403},
        "POST",
        "intake",
        "/v1/referrals",
        json=fresh,
    )

    # Read a case, here and its notifications at the notifier.
    readers = {"coord": 200, "sup0": 200, "ref-ZL": 200, th: 200, tb: 200}
    strangers = {"coord-WBO": 404, "ref-ZL-gi": 404, "ref-WBW": 404, other_th: 404, other_tb: 404}
    for service, path, params in (
        ("intake", f"/v1/cases/{case}", {}),
        ("notifier", f"/v1/cases/{case}", {}),
        ("notifier", "/v1/notifications", {"case": case}),
    ):
        expect(trusted, readers | strangers | outsiders_403, "GET", service, path, params=params)
        # Out of scope looks exactly like unknown (but for the id itself).
        unknown_path = path.replace(case, "tr-nobody")
        unknown_params = {"case": "tr-nobody"} if params else {}
        unknown = trusted.call("coord-WBO", "GET", service, unknown_path, params=unknown_params)
        hidden = trusted.call("coord-WBO", "GET", service, path, params=params)
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json() == json.loads(unknown.text.replace("tr-nobody", case)), (
            hidden.text,
            unknown.text,
        )

    events = f"/v1/cases/{case}/events"
    # machtiging and withdraw: its referrer and the coordinators of its home region.
    for kind in ("machtiging", "withdraw"):
        body = {"type": kind} | (
            {
                "valid_from": date.today().isoformat(),
                "valid_until": (date.today() + timedelta(days=90)).isoformat(),
            }
            if kind == "machtiging"
            else {}
        )
        refused = {"coord-WBO": 404, "ref-ZL-gi": 404, th: 403, tb: 403, "sup0": 403, **outsiders_403}
        expect(trusted, refused, "POST", "intake", events, json=body)
    # discharge, timeout_request, meeting_held, close: its therapist, trajectbegeleider, coordinators.
    for body in ({"type": "meeting_held", "meeting": "kennismaking"}, {"type": "timeout_request", "days": 2}):
        refused = {
            other_th: 404,
            other_tb: 404,
            "coord-WBO": 404,
            "ref-ZL": 403,
            "sup0": 403,
            **outsiders_403,
        }
        expect(trusted, refused, "POST", "intake", events, json=body)
    for person in (th, tb, "coord"):
        answer = trusted.call(
            person, "POST", "intake", events, json={"type": "meeting_held", "meeting": "kennismaking"}
        )
        assert answer.status_code == 202, (person, answer.text)

    # The time-out address: the case's therapist and the therapist's supervisor only.
    address = f"/v1/cases/{case}/timeout-address"
    expect(
        trusted,
        {th: 200, "sup0": 200, other_th: 404, "coord": 403, "ref-ZL": 403, tb: 403, **outsiders_403},
        "GET",
        "intake",
        address,
    )
    assert trusted.call(th, "GET", "intake", address).json()["address"] == "Kerkstraat 12, Goes (oma)"

    # The plan: coordinators and supervisors, only their regions.
    expect(
        trusted,
        {"coord": 200, "sup0": 200, "coord-WBO": 200, "ref-ZL": 403, th: 403, tb: 403, **outsiders_403},
        "GET",
        "scheduler",
        "/v1/plan",
    )
    wbo_plan = trusted.call("coord-WBO", "GET", "scheduler", "/v1/plan").text
    assert case not in wbo_plan and case in trusted.call("coord", "GET", "scheduler", "/v1/plan").text
    expect(
        trusted,
        {"coord": 200, "sup0": 200, "coord-WBO": 404, "ref-ZL": 403, th: 403, **outsiders_403},
        "GET",
        "scheduler",
        f"/v1/cases/{case}/explanation",
    )

    # Capacity: coordinators of the group's region.
    today = date.today()
    cut = {
        "group": "L02-g1",
        "beds": 3,
        "from": (today + timedelta(days=300)).isoformat(),
        "until": (today + timedelta(days=301)).isoformat(),
    }
    expect(
        trusted,
        {"coord-WBO": 403, "sup0": 403, "ref-ZL": 403, th: 403, **outsiders_403},
        "POST",
        "scheduler",
        "/v1/capacity",
        json=cut,
    )
    assert trusted.call("coord", "POST", "scheduler", "/v1/capacity", json=cut).status_code == 202

    # Dead letters: ops.
    expect(
        trusted,
        {"ops": 200, "coord": 403, "sup0": 403, "privacy": 403, th: 403},
        "GET",
        "notifier",
        "/v1/dead-letters",
    )

    # The audit trail: the privacy officer, in every service.
    for service in SERVICES:
        expect(
            trusted,
            {"privacy": 200, "coord": 403, "ops": 403, th: 403},
            "GET",
            service,
            "/v1/audit",
            params={"case": case},
        )
    trail = trusted.call("privacy", "GET", "intake", "/v1/audit", params={"case": case}).json()
    seen = {(row["person"], row["outcome"]) for row in trail}
    assert ("coord-WBO", "refused") in seen and ("ref-ZL", "allowed") in seen, trail
    assert all(row["address"] for row in trail if row["person"] != "(no valid token)"), trail


def test_acknowledge_by_recipients_and_the_chain_above_them(
    trusted: Trusted, placed_case: dict[str, Any]
) -> None:
    case = placed_case["case"]
    notes = wait_for(
        lambda: [
            n
            for n in trusted.call(
                "coord", "GET", "notifier", "/v1/notifications", params={"case": case}
            ).json()
            if n.get("alert_id") is not None and n.get("status") != "acked"
        ]
    )
    alert = notes[0]["alert_id"]
    ack = f"/v1/notifications/{alert}/ack"
    expect(trusted, {"ref-WBW": 404, "coord-WBO": 404, "ops": 403, "privacy": 403}, "POST", "notifier", ack)
    assert trusted.call("coord", "POST", "notifier", ack).status_code == 200


UNAUTHENTICATED = [
    ("POST", "intake", "/v1/referrals"),
    ("GET", "intake", "/v1/cases/tr-x"),
    ("POST", "intake", "/v1/cases/tr-x/events"),
    ("GET", "intake", "/v1/cases/tr-x/timeout-address"),
    ("GET", "scheduler", "/v1/plan"),
    ("GET", "scheduler", "/v1/cases/tr-x/explanation"),
    ("POST", "scheduler", "/v1/capacity"),
    ("GET", "notifier", "/v1/notifications?case=tr-x"),
    ("GET", "notifier", "/v1/cases/tr-x"),
    ("POST", "notifier", "/v1/notifications/1/ack"),
    ("GET", "notifier", "/v1/dead-letters"),
    ("POST", "notifier", "/v1/dead-letters/1/requeue"),
    *[("GET", s, "/v1/audit?case=tr-x") for s in SERVICES],
]


def test_every_endpoint_refuses_a_missing_or_bad_token_with_401(trusted: Trusted) -> None:
    other = Issuer.ensure(trusted.services.data_dir / "other-issuer")
    bad = {
        "none": None,
        "not a bearer": "Basic Y29vcmQ6Y29vcmQ=",
        "garbage": "Bearer not.a.jwt",
        "expired": f"Bearer {trusted.issuer.token('coord', minutes=-5)}",
        "wrong audience": f"Bearer {trusted.issuer.token('coord', audience='elsewhere')}",
        "wrong issuer": f"Bearer {trusted.issuer.token('coord', issuer='https://evil.example')}",
        "wrongly signed": f"Bearer {other.token('coord')}",
    }
    wrong = []
    for method, service, path in UNAUTHENTICATED:
        for name, value in bad.items():
            headers = {"authorization": value} if value else {}
            answer = httpx.request(method, trusted.url(service, path), headers=headers, json={}, timeout=30)
            if answer.status_code != 401 or not answer.headers.get("www-authenticate", "").startswith(
                "Bearer"
            ):
                wrong.append((method, service, path, name, answer.status_code))
    assert not wrong, wrong
    for service in SERVICES:  # still open: health, docs and the API descriptions
        for path in ("/healthz", "/openapi.json", "/asyncapi.json", "/docs", "/metrics"):
            assert httpx.get(trusted.url(service, path)).status_code == 200, (service, path)


def test_writes_take_json_only(trusted: Trusted) -> None:
    body = '{"type": "close"}'
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        answer = trusted.call(
            "coord",
            "POST",
            "intake",
            "/v1/cases/tr-x/events",
            content=body,
            headers={"content-type": content_type},
        )
        assert answer.status_code == 415, (content_type, answer.text)
    assert (
        "access-control-allow-origin"
        not in httpx.options(
            trusted.url("intake", "/v1/referrals"),
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        ).headers
    )


# --- family data stays in intake ---------------------------------------------------------------

FAMILIES = [
    {
        "name": "Sanne de Vries",
        "bsn": "111222333",
        "birth": "2011-02-17",
        "address": "Lindelaan 4, Middelburg",
        "timeout": "Molenweg 31, Vlissingen (tante)",
    },
    {
        "name": "Daan Bakker",
        "bsn": "123456782",
        "birth": "2012-09-23",
        "address": "Havenstraat 88, Terneuzen",
        "timeout": "Zandweg 7, Goes (opa en oma)",
    },
    {
        "name": "Noor El Amrani",
        "bsn": "999998456",
        "birth": "2013-06-11",
        "address": "Beukenhof 2, Bergen op Zoom",
        "timeout": "Ravelijn 19, Roosendaal (buren)",
    },
]


def secrets_of(family: dict[str, str]) -> list[str]:
    day = datetime.strptime(family["birth"], "%Y-%m-%d")
    return [
        family["name"],
        family["bsn"],
        family["birth"],
        day.strftime("%d-%m-%Y"),
        day.strftime("%Y%m%d"),
        family["address"].split(",")[0],
        family["timeout"].split(",")[0],
    ]


async def everything_on(bootstrap: str, topics: list[str]) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            records = [r for rs in batch.values() for r in rs]
            idle = 0 if records else idle + 1
            for record in records:
                seen.append((record.key or b"") + b" " + (record.value or b""))
                seen += [k.encode() + b"=" + (v or b"") for k, v in record.headers]
    finally:
        await consumer.stop()
    return seen


def test_a_scripted_day_leaves_no_family_data_outside_intake(trusted: Trusted, kafka_bootstrap: str) -> None:
    today = date.today()
    cases = []
    for i, family in enumerate(FAMILIES):
        region = ("ZL", "WBW", "WBO")[i]
        case = f"tr-{uuid.uuid4().hex[:8]}"
        body = referral(
            case,
            region,
            birth_date=family["birth"],
            timeout_address=family["timeout"],
            name=family["name"],
            bsn=family["bsn"],
            address=family["address"],
            kind="thuisbest",
            machtiging={
                "valid_from": today.isoformat(),
                "valid_until": (today + timedelta(days=120)).isoformat(),
            },
        )
        answer = trusted.call(f"ref-{region}", "POST", "intake", "/v1/referrals", json=body)
        assert answer.status_code == 201, answer.text
        cases.append(case)
    for case in cases:  # the day goes on: meetings held, time-outs asked, the plan read
        wait_for(
            lambda c=case: (
                trusted.call("coord", "GET", "intake", f"/v1/cases/{c}").json()["status"] != "registered"
            )
        )
        assert (
            trusted.call(
                "coord",
                "POST",
                "intake",
                f"/v1/cases/{case}/events",
                json={"type": "meeting_held", "meeting": "kennismaking"},
            ).status_code
            == 202
        )
    assert trusted.call("coord", "GET", "scheduler", "/v1/plan").status_code == 200
    time.sleep(3)  # let the notifier write its mail

    secrets = [s for f in FAMILIES for s in secrets_of(f)]
    places: dict[str, str] = {}
    prefix = trusted.services.topic_prefix
    for blob in asyncio.run(everything_on(kafka_bootstrap, [prefix + t for t in ALL_TOPICS])):
        places[f"topic message {blob[:40]!r}"] = blob.decode("utf-8", "replace")
    for path in sorted(trusted.services.data_dir.rglob("*")):
        if path.is_file() and path.suffix in (".log", ".eml", ".ics", ".json", ".txt"):
            places[str(path)] = path.read_text("utf-8", "replace")
    for service in SERVICES:
        places[f"{service} /metrics"] = httpx.get(trusted.url(service, "/metrics")).text
    assert any(p.endswith(".eml") for p in places), "the day sent no mail: nothing was checked there"
    leaks = [(where, s) for where, text in places.items() for s in secrets if s.lower() in text.lower()]
    assert not leaks, leaks[:10]
    assert len(places) > 5
    # ... while intake still knows the family, to whom may see it.
    address = trusted.call("sup0", "GET", "intake", f"/v1/cases/{cases[0]}/timeout-address")
    assert address.status_code == 200 and address.json()["address"] == FAMILIES[0]["timeout"]


def test_no_identity_in_urls_of_mail_links(trusted: Trusted) -> None:
    mails = list(trusted.services.data_dir.rglob("*.eml"))
    links = [m for mail in mails for m in re.findall(r"https?://\S+", mail.read_text("utf-8", "replace"))]
    assert links, "no links in the mail"
    assert not [link for link in links if re.search(r"\d{9}", link)]
    assert not [
        Path(p) for p in mails if "timeout-address" in p.read_text() and "Kerkstraat" in p.read_text()
    ]
