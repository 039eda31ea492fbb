"""The notifier's use cases and handlers: case events and decisions in from Kafka, durable alerts
delivered by mail (files here), acknowledged over HTTP."""

from __future__ import annotations

import email.policy
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.notifier.app import create_app
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DEAD_LETTER,
    TOPIC_DECISIONS,
    TOPIC_TIMEOUT_ADDRESS,
    CaseEventV1,
    DecisionV1,
    PlacementPlanned,
    RequestRefused,
    TimeoutAddressRecorded,
)
from shared.settings import ServiceSettings
from tests.component.conftest import NOW, Running, eventually, fields_of, referred, running
from tests.component.contracts import Probe, check_asyncapi, check_openapi

WATCH = (TOPIC_DEAD_LETTER,)
# Reported, not fixed here: a 422 from request validation is sent in the problem format
# (shared/http.py), but these routes document FastAPI's default HTTPValidationError for it.
KNOWN_DOC_BUGS: frozenset[str] = frozenset()  # none left: every 422 documents the problem format


def placement(case: str) -> PlacementPlanned:
    start = date(2026, 3, 5)
    return PlacementPlanned(
        occurred_at=NOW,
        case=case,
        kind="thuisbest_open",
        home_region="ZL",
        referrer="ref-ZL",
        group="L02-g1",
        location="L02",
        region="ZL",
        start=start,
        end=start + timedelta(days=42),
        mst_therapist="th-ZL-0",
        trajectbegeleider="tb-ZL-0",
        explanation="the nearest open group with a free bed",
    )


async def notifications(svc: Running, case: str) -> list[dict[str, Any]]:
    answer = await svc.http.get("/v1/notifications", params={"case": case})
    assert answer.status_code == 200, answer.text
    shown: list[dict[str, Any]] = answer.json()
    return shown


def mails(folder: Path) -> list[EmailMessage]:
    """The messages the notifier wrote as .eml files (its embedded mail channel)."""
    paths = sorted(folder.glob("*.eml")) if folder.exists() else []
    parse = BytesParser(_class=EmailMessage, policy=email.policy.default)
    return [parse.parsebytes(path.read_bytes()) for path in paths]


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.fixture
async def notifier(service_settings: ServiceSettings) -> AsyncIterator[Running]:
    async with running(create_app, service_settings, NOW, watch=WATCH) as svc:
        yield svc


async def test_a_referral_notifies_its_parties_once(notifier: Running) -> None:
    event = referred("c-1")
    await notifier.publish(TOPIC_CASE_EVENTS, event, key="c-1")
    shown = await notifications(notifier, "c-1")
    received = [n for n in shown if n["kind"] == "referral_received"]
    # DOMAIN.md: coordinators and MST supervisors of the home region, and the referrer.
    assert {n["to"] for n in received} >= {"coord", "sup0", "ref-ZL"}, shown
    assert all(n["case"] == "c-1" for n in shown)

    await notifier.publish(TOPIC_CASE_EVENTS, event, key="c-1")  # delivered again

    def identity(notes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        # The dispatcher may send meanwhile: status and sent_at change, the notifications do not.
        return sorted((n["id"], n["kind"], n["to"], n["level"], n["at"]) for n in notes)

    assert identity(await notifications(notifier, "c-1")) == identity(shown)
    case_page = (await notifier.http.get("/v1/cases/c-1")).json()
    assert case_page["case"] == "c-1" and identity(case_page["notifications"]) == identity(shown)
    assert await notifications(notifier, "c-2") == []
    assert notifier.seen(TOPIC_DEAD_LETTER).messages == []


async def test_an_alert_is_mailed_and_acknowledged_through_its_link(notifier: Running) -> None:
    await notifier.publish(TOPIC_CASE_EVENTS, referred("c-1"), key="c-1")
    folder = notifier.settings.mail_dir
    assert folder is not None
    shown = await notifications(notifier, "c-1")
    assert all(n["at"] <= f"{NOW:%Y-%m-%dT%H:%M}" for n in shown), "a referral's alerts are due at once"
    await eventually(
        lambda: notifications(notifier, "c-1"),
        lambda now_shown: {n["status"] for n in now_shown} == {"sent"},
        what="every notification sent",
    )
    sent = mails(folder)  # each is written before its notification is marked sent
    assert {m["X-ThuisBest-Notification"] for m in sent} == {str(n["id"]) for n in shown}
    assert all("2012-05-01" not in text_of(m) for m in sent)  # no birth date in any message

    mail = sent[0]
    link = re.search(r"Acknowledge: (\S+)", text_of(mail))
    assert link is not None, text_of(mail)
    url = urlsplit(link.group(1))
    token = parse_qs(url.query)["token"][0]
    alert_id = int(mail["X-ThuisBest-Notification"])

    page = await notifier.http.get(url.path, params={"token": token})  # opening the link only asks
    assert page.status_code == 200 and "<form" in page.text
    assert all(n["status"] != "acked" for n in await notifications(notifier, "c-1"))

    wrong = await notifier.http.post(f"/v1/notifications/{alert_id}/ack", params={"token": token + "x"})
    assert wrong.status_code == 404 and fields_of(wrong) == {"token"}, wrong.text
    huge = await notifier.http.post(f"/v1/notifications/{10**20}/ack", params={"token": token})
    assert huge.status_code == 404 and fields_of(huge) == {"token"}, huge.text
    for nothing in (0, -1):
        assert (
            await notifier.http.post(f"/v1/notifications/{nothing}/ack", params={"token": token})
        ).status_code == 404
    bad_link = await notifier.http.post(f"{url.path}/confirm", params={"token": "nope"})
    assert bad_link.status_code == 404 and "not valid" in bad_link.text
    statuses = {n["status"] for n in await notifications(notifier, "c-1")}
    assert statuses == {"sent"}, "a wrong token acknowledges nothing"

    acked = await notifier.http.post(f"{url.path}/confirm", params={"token": token})
    assert acked.status_code == 200, acked.text
    again = await notifier.http.post(f"/v1/notifications/{alert_id}/ack", params={"token": token})
    assert again.status_code == 200 and again.json()["first"] is False, again.text
    # The whole alert stops, for everyone it went to; the ack names whose link was used.
    after = await notifications(notifier, "c-1")
    [mine] = [n for n in after if n["id"] == alert_id]
    same_alert = [n for n in after if n["kind"] == mine["kind"]]
    assert all(n["status"] == "acked" and n["acked_by"] == mine["to"] for n in same_alert), after


async def test_the_time_out_address_reaches_the_therapist_only(notifier: Running) -> None:
    address = "Dorpsstraat 1, Goes"
    await notifier.publish(TOPIC_CASE_EVENTS, referred("c-1", has_timeout_address=True), key="c-1")
    await notifier.publish(TOPIC_DECISIONS, placement("c-1"), key="c-1")
    recorded = TimeoutAddressRecorded(case="c-1", occurred_at=NOW, address=address)
    await notifier.publish(TOPIC_TIMEOUT_ADDRESS, recorded, key="c-1")
    refused = RequestRefused(
        case="c-1",
        occurred_at=NOW,
        event="timeout_request",
        at=NOW,
        reason="informal_network",
        mst_therapist="th-ZL-0",
        home_region="ZL",
    )
    await notifier.publish(TOPIC_DECISIONS, refused, key="c-1")

    shown = {str(n["id"]): n for n in await notifications(notifier, "c-1")}
    assert {n["to"] for n in shown.values() if n["kind"] == "placement_assigned"} >= {"th-ZL-0", "tb-ZL-0"}
    told = {n["to"] for n in shown.values() if n["kind"] == "timeout_informal_network"}
    assert told == {"th-ZL-0", "sup0"}, shown  # the therapist and the therapist's supervisor
    due = [n for n in shown.values() if n["at"] <= f"{NOW:%Y-%m-%dT%H:%M}"]  # later ones are timers

    folder = notifier.settings.mail_dir
    assert folder is not None
    sent = await eventually(lambda: mails(folder), lambda found: len(found) >= len(due), what="mail")
    with_address = [shown[m["X-ThuisBest-Notification"]] for m in sent if address in text_of(m)]
    assert [(n["to"], n["kind"]) for n in with_address] == [("th-ZL-0", "timeout_informal_network")]


async def test_dead_letters_are_listed_and_undecodable_events_do_not_stop_the_rest(notifier: Running) -> None:
    listed = await notifier.http.get("/v1/dead-letters")
    assert listed.status_code == 200 and listed.json() == [], listed.text
    for dead_id in (1, 10**20):
        requeue = await notifier.http.post(f"/v1/dead-letters/{dead_id}/requeue")
        assert requeue.status_code == 404 and fields_of(requeue) == {"dead_id"}, requeue.text

    broken = referred("c-1").model_dump(mode="json") | {"urgency": "whenever"}
    await notifier.publish(TOPIC_CASE_EVENTS, broken, key="c-1")
    await notifier.publish(TOPIC_DECISIONS, b"\xff\xfe not json", key="c-1")
    dead = await notifier.seen(TOPIC_DEAD_LETTER).wait_for(2)
    assert {d["topic"] for d in dead} == {notifier.topic(TOPIC_CASE_EVENTS), notifier.topic(TOPIC_DECISIONS)}
    assert all(d["service"] == "notifier" and d["reason"] for d in dead), dead
    assert await notifications(notifier, "c-1") == []

    await notifier.publish(TOPIC_CASE_EVENTS, referred("c-1"), key="c-1")
    assert await notifications(notifier, "c-1")


async def test_the_contracts_document_bodies_problems_and_event_schemas(
    service_settings: ServiceSettings,
) -> None:
    async with running(create_app, service_settings, NOW) as notifier:
        await notifier.publish(TOPIC_CASE_EVENTS, referred("c-1"), key="c-1")
        [first, *_] = await notifications(notifier, "c-1")
        await check_openapi(
            notifier,
            probes=[
                Probe("get", "/v1/notifications?case=c-1", 200),
                Probe("get", "/v1/notifications", 422),
                Probe("post", f"/v1/notifications/{first['id']}/ack?token=wrong", 404),
                Probe("post", f"/v1/notifications/{10**20}/ack?token=wrong", 404),
                Probe("post", f"/v1/notifications/{first['id']}/ack", 422),
                Probe("post", "/v1/notifications/first/ack?token=x", 422),
                Probe("post", f"/v1/notifications/{first['id']}/ack/confirm?token=wrong", 404),
                Probe("post", f"/v1/notifications/{first['id']}/ack/confirm", 422),
                Probe("get", "/v1/dead-letters", 200),
                Probe("post", "/v1/dead-letters/7/requeue", 404),
                Probe("post", "/v1/dead-letters/seven/requeue", 422),
                Probe("get", "/v1/cases/c-1", 200),
            ],
            bodies={},
            known=KNOWN_DOC_BUGS,
        )
    await check_asyncapi(
        create_app,
        service_settings,
        receives={
            TOPIC_CASE_EVENTS: CaseEventV1,
            TOPIC_DECISIONS: DecisionV1,
            TOPIC_TIMEOUT_ADDRESS: TimeoutAddressRecorded,
        },
        sends={},
    )
