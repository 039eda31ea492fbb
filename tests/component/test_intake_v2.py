"""Intake's PATHWAY-V2 live path over HTTP: the new referral fields, a time-out address named later
(sealed, never published), a close with reason and outcome, the follow-up, a later machtiging held
to one year, and the role table's rows for the new events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.intake.app import create_app
from shared.events import (
    TOPIC_CASE_EVENTS,
    TOPIC_DECISIONS,
    CaseClosed,
    FollowUpReported,
    ReferralRegistered,
    TimeoutAddressNamed,
)
from shared.kinds import KINDS
from shared.settings import ServiceSettings
from tests.component.conftest import NOW, Running, eventually, fields_of, referral, running
from tests.component.test_intake import FAMILY, WATCH, placement

NAMED_LATER = "Kerkplein 2, Vlissingen (oom Wim)"
OUTCOME = {"at_home": True, "day_activity": False}
# The keys every published event has; a V2 event about family data has no other.
ENVELOPE = {"version", "event_id", "occurred_at", "case", "type"}


@pytest.fixture
async def intake(service_settings: ServiceSettings) -> AsyncIterator[Running]:
    async with running(create_app, service_settings, NOW, watch=WATCH) as svc:
        yield svc


async def placed(intake: Running, case: str = "c-1", **extra: Any) -> None:
    """A thuisbest_open referral of `case` (by ref-ZL), placed with th-ZL-0 and tb-ZL-0."""
    answer = await intake.http.post(
        "/v1/referrals", json=referral(case, **extra), headers=intake.as_("ref-ZL")
    )
    assert answer.status_code == 201, answer.text
    await intake.publish(TOPIC_DECISIONS, placement(case), key=case)


async def report(intake: Running, case: str, body: dict[str, Any], person: str = "coord") -> httpx.Response:
    return await intake.http.post(f"/v1/cases/{case}/events", json=body, headers=intake.as_(person))


def part_time(case: str, **extra: Any) -> dict[str, Any]:
    """A beter_met_thuis referral of a 13-year-old in ZL, three fixed nights a week."""
    return referral(case, kind="beter_met_thuis", nights_per_week=3) | extra


# --- the referral ---------------------------------------------------------------------------------


async def test_a_v2_referral_is_taken_end_to_end_and_its_repeat_is_known(intake: Running) -> None:
    first = await intake.http.post("/v1/referrals", json=part_time("c-1", preferred_nights=["mon", "wed"]))
    assert first.status_code == 201, first.text
    # The kind's default programme written out, and no preferred nights spelled as an empty list:
    # the same referral.
    weeks = KINDS["beter_met_thuis"].default_stay // 7
    again = await intake.http.post(
        "/v1/referrals", json=part_time("c-1", preferred_nights=["mon", "wed"], program_weeks=weeks)
    )
    assert again.status_code == 200, again.text
    other = await intake.http.post(
        "/v1/referrals", json=part_time("c-1", preferred_nights=["mon", "wed"], nights_per_week=4)
    )
    assert other.status_code == 409 and fields_of(other) == {"case"}, other.text

    mst = referral("c-2", kind="gezinsbehandeling_plus", current_therapist="th-ZL-1", program_weeks=10)
    assert (await intake.http.post("/v1/referrals", json=mst)).status_code == 201

    watcher = intake.seen(TOPIC_CASE_EVENTS)
    [raw_part] = await watcher.wait_for(case="c-1")
    part = ReferralRegistered.model_validate(raw_part)
    assert (part.kind, part.nights_per_week, part.preferred_nights) == ("beter_met_thuis", 3, ["mon", "wed"])
    assert part.stay_days == KINDS["beter_met_thuis"].default_stay and part.current_therapist is None
    [raw_mst] = await watcher.wait_for(case="c-2")
    day = ReferralRegistered.model_validate(raw_mst)
    assert (day.current_therapist, day.stay_days, day.nights_per_week) == ("th-ZL-1", 70, None)

    # What was referred shows in the case's history (never who the youth is).
    history = (await intake.http.get("/v1/cases/c-2")).json()["history"]
    assert history[0]["details"]["current_therapist"] == "th-ZL-1"
    assert history[0]["details"]["program_weeks"] == 10
    part_history = (await intake.http.get("/v1/cases/c-1")).json()["history"]
    assert part_history[0]["details"]["nights_per_week"] == 3
    assert "current_therapist" not in part_history[0]["details"]  # left out: not shown as null


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (part_time("c-1", nights_per_week=1), "nights_per_week"),
        (part_time("c-1", nights_per_week=6), "nights_per_week"),
        (part_time("c-1", nights_per_week=8), "nights_per_week"),  # not even a week's nights
        (part_time("c-1", preferred_nights=["maandag"]), "preferred_nights"),
        (referral("c-1", current_therapist="tb-ZL-0"), "current_therapist"),
        (referral("c-1", program_weeks=12), "program_weeks"),  # thuisbest_open counts in days
        (part_time("c-1", stay_days=200), "stay_days"),
        (
            referral(
                "c-1", kind="thuisbest", machtiging={"valid_from": "2026-03-02", "valid_until": "2027-03-02"}
            ),
            "machtiging.valid_until",
        ),
    ],
)
async def test_a_refused_v2_referral_names_its_field(
    intake: Running, body: dict[str, Any], field: str
) -> None:
    answer = await intake.http.post("/v1/referrals", json=body)
    assert answer.status_code == 422, answer.text
    assert fields_of(answer) == {field}, answer.text
    assert (await intake.http.get("/v1/cases/c-1")).status_code == 404
    assert await intake.db("SELECT 1 FROM outbox") == []


# --- a time-out address named later ----------------------------------------------------------------


async def test_a_time_out_address_named_later_is_sealed_never_published_and_read_where_audited(
    intake: Running,
) -> None:
    await placed(intake, **FAMILY)
    answer = await report(intake, "c-1", {"type": "timeout_address", "address": NAMED_LATER}, "th-ZL-0")
    assert answer.status_code == 202, answer.text
    assert answer.json()["event"] == "timeout_address"

    # Published: that an address was named, nothing more.
    [named] = await intake.seen(TOPIC_CASE_EVENTS).wait_for(case="c-1", type="timeout_address_named")
    assert set(named) == ENVELOPE, named
    TimeoutAddressNamed.model_validate(named)
    for message in intake.seen(TOPIC_CASE_EVENTS).messages:
        for secret in (NAMED_LATER, "Kerkplein", '"address"'):
            assert secret.encode() not in message.raw, (secret, message.raw)

    # Kept in the identity store only, sealed: no table shows it in plain text.
    for table in ("identities", "cases", "case_events", "outbox", "audit"):
        for row in await intake.db(f"SELECT t::text AS text FROM {table} t"):  # noqa: S608 (names above)
            assert "kerkplein" not in row["text"].lower(), table
    [sealed] = await intake.db("SELECT sealed FROM identities WHERE case_id = 'c-1'")
    assert b"Kerkplein" not in sealed["sealed"]
    [kept] = await intake.db(
        "SELECT body FROM case_events WHERE case_id = 'c-1' AND type = 'timeout_address'"
    )
    assert "address" not in json.loads(kept["body"])

    # It replaces the referral's address on the audited identity endpoint.
    for person in ("th-ZL-0", "sup0"):
        read = await intake.http.get("/v1/cases/c-1/timeout-address", headers=intake.as_(person))
        assert read.json() == {"case": "c-1", "address": NAMED_LATER}, (person, read.text)
    audit = await intake.db(
        "SELECT person, action FROM audit WHERE case_id = 'c-1' AND outcome = 'allowed' ORDER BY id"
    )
    assert ("th-ZL-0", "timeout_address") in [tuple(r) for r in audit]
    assert [tuple(r) for r in audit][-2:] == [
        ("th-ZL-0", "read_timeout_address"),
        ("sup0", "read_timeout_address"),
    ]

    # The referral as referred is unchanged: a repeat of it is still that referral.
    repeat = await intake.http.post(
        "/v1/referrals", json=referral("c-1", **FAMILY), headers=intake.as_("ref-ZL")
    )
    assert repeat.status_code == 200, repeat.text
    # Named again: the latest holds. The history says an address was named, never which.
    again = await report(intake, "c-1", {"type": "timeout_address", "address": "Elders 3"}, "ref-ZL")
    assert again.status_code == 202, again.text
    read = await intake.http.get("/v1/cases/c-1/timeout-address", headers=intake.as_("th-ZL-0"))
    assert read.json()["address"] == "Elders 3"
    history = (await intake.http.get("/v1/cases/c-1")).json()["history"]
    assert [(h["event"], h["details"]) for h in history if h["event"] == "timeout_address"] == [
        ("timeout_address", {}),
        ("timeout_address", {}),
    ]


async def test_a_case_referred_without_an_address_gets_one_and_an_empty_one_is_refused(
    intake: Running,
) -> None:
    assert (
        await intake.http.post("/v1/referrals", json=referral("c-1"), headers=intake.as_("ref-ZL"))
    ).status_code == 201
    blank = await report(intake, "c-1", {"type": "timeout_address", "address": "  "}, "ref-ZL")
    assert blank.status_code == 422 and fields_of(blank) == {"address"}, blank.text
    missing = await report(intake, "c-1", {"type": "timeout_address"}, "ref-ZL")
    assert missing.status_code == 422 and fields_of(missing) == {"address"}, missing.text
    # Before a placement there is no therapist yet: the referrer takes it.
    named = await report(intake, "c-1", {"type": "timeout_address", "address": NAMED_LATER}, "ref-ZL")
    assert named.status_code == 202, named.text
    await intake.publish(TOPIC_DECISIONS, placement("c-1"), key="c-1")
    read = await intake.http.get("/v1/cases/c-1/timeout-address", headers=intake.as_("th-ZL-0"))
    assert read.json() == {"case": "c-1", "address": NAMED_LATER}
    published = await intake.seen(TOPIC_CASE_EVENTS).wait_for(2, case="c-1")
    assert [e["type"] for e in published] == ["referral_registered", "timeout_address_named"]


# --- close, follow-up, a later machtiging --------------------------------------------------------


async def test_a_close_keeps_reason_and_outcome_and_the_follow_up_comes_after_it(intake: Running) -> None:
    await placed(intake, "c-1")
    early = await report(intake, "c-1", {"type": "follow_up", "relapse": False}, "tb-ZL-0")
    assert early.status_code == 409 and fields_of(early) == {"case"}, early.text
    assert "not closed" in early.json()["problems"][0]["reason"]
    before = (await intake.http.get("/v1/cases/c-1", headers=intake.as_("tb-ZL-0"))).json()
    assert "follow_up" not in before["actions"] and "close" in before["actions"]

    close = {"type": "close", "reason": "goal_reached", "outcome": OUTCOME}
    assert (await report(intake, "c-1", close, "tb-ZL-0")).status_code == 202
    [closed] = await intake.seen(TOPIC_CASE_EVENTS).wait_for(case="c-1", type="case_closed")
    assert set(closed) == ENVELOPE | {"reason", "with_outcome"}, closed
    assert CaseClosed.model_validate(closed).reason == "goal_reached" and closed["with_outcome"] is True

    view = (await intake.http.get("/v1/cases/c-1", headers=intake.as_("tb-ZL-0"))).json()
    assert (view["status"], view["close_reason"], view["outcome"], view["relapse"]) == (
        "closed",
        "goal_reached",
        OUTCOME,
        None,
    )
    assert view["actions"] == ["meeting_held", "follow_up"]
    assert [h["details"] for h in view["history"] if h["event"] == "close"] == [{"reason": "goal_reached"}]
    wrong = await report(intake, "c-1", {"type": "follow_up", "relapse": "maybe"}, "tb-ZL-0")
    assert wrong.status_code == 422 and fields_of(wrong) == {"relapse"}, wrong.text

    done = await report(intake, "c-1", {"type": "follow_up", "relapse": True}, "tb-ZL-0")
    assert done.status_code == 202, done.text
    [follow_up] = await intake.seen(TOPIC_CASE_EVENTS).wait_for(case="c-1", type="follow_up_reported")
    assert set(follow_up) == ENVELOPE, follow_up  # the result stays with intake
    FollowUpReported.model_validate(follow_up)
    twice = await report(intake, "c-1", {"type": "follow_up", "relapse": False}, "tb-ZL-0")
    assert twice.status_code == 409 and fields_of(twice) == {"case"}, twice.text

    [row] = await intake.db("SELECT closed, close_reason, outcome, relapse FROM cases WHERE case_id = 'c-1'")
    assert (row["closed"], row["close_reason"], row["relapse"]) == ("closed", "goal_reached", True)
    assert '"at_home": true' in row["outcome"]
    for message in intake.seen(TOPIC_CASE_EVENTS).messages:
        assert b"at_home" not in message.raw and b"relapse" not in message.raw

    # A close without reason or outcome stays as version 1 had it; a withdrawn case has no follow-up.
    await placed(intake, "c-2")
    assert (await report(intake, "c-2", {"type": "close"})).status_code == 202
    [plain] = await intake.seen(TOPIC_CASE_EVENTS).wait_for(case="c-2", type="case_closed")
    assert (plain["reason"], plain["with_outcome"]) == (None, False)
    await placed(intake, "c-3")
    assert (await report(intake, "c-3", {"type": "withdraw"})).status_code == 202
    withdrawn = await report(intake, "c-3", {"type": "follow_up", "relapse": False})
    assert withdrawn.status_code == 409 and "withdrawn" in withdrawn.text, withdrawn.text


async def test_a_later_machtiging_of_more_than_a_year_is_refused_by_valid_until(intake: Running) -> None:
    registered = await intake.http.post("/v1/referrals", json=referral("c-1", kind="thuisbest"))
    assert registered.status_code == 201, registered.text
    too_long = {"type": "machtiging", "valid_from": "2026-03-02", "valid_until": "2027-03-02"}
    answer = await report(intake, "c-1", too_long)
    assert answer.status_code == 422 and fields_of(answer) == {"valid_until"}, answer.text
    assert "at most one year" in answer.text and "2027-03-01" in answer.text
    a_year = too_long | {"valid_until": "2027-03-01"}
    assert (await report(intake, "c-1", a_year)).status_code == 202
    published = await intake.seen(TOPIC_CASE_EVENTS).wait_for(2, case="c-1")
    assert [(e["type"], e.get("valid_until")) for e in published] == [
        ("referral_registered", None),
        ("machtiging_granted", "2027-03-01"),
    ]


# --- who may report the V2 events ----------------------------------------------------------------

OUTSIDERS = {"sup0": 403, "ops": 403, "privacy": 403}
V2_REFUSED = {
    "timeout_address": {
        "coord-WBO": 404,  # a coordinator of another region
        "ref-ZL-gi": 404,  # a referrer of the region, not of the case
        "th-ZL-1": 404,
        "tb-ZL-1": 404,
        **OUTSIDERS,
    },
    "follow_up": {"coord-WBO": 404, "ref-ZL-gi": 404, "tb-ZL-1": 404, "th-ZL-0": 403, **OUTSIDERS},
}
V2_ALLOWED = {
    "timeout_address": ["th-ZL-0", "tb-ZL-0", "coord", "ref-ZL"],
    "follow_up": ["tb-ZL-0", "coord", "ref-ZL"],
}
V2_EVENTS: dict[str, dict[str, Any]] = {
    "timeout_address": {"type": "timeout_address", "address": NAMED_LATER},
    "follow_up": {"type": "follow_up", "relapse": False},
}


async def test_the_v2_events_walk_the_role_table_and_hide_cases_out_of_scope(intake: Running) -> None:
    # A follow-up is taken once per closed case: one closed case per person allowed it.
    cases = [f"c-{n}" for n in range(1, 4)]
    for case in cases:
        await placed(intake, case)
        assert (await report(intake, case, {"type": "close", "outcome": OUTCOME})).status_code == 202
    await placed(intake, "c-open")

    for action, refused in V2_REFUSED.items():
        on = "c-1" if action == "follow_up" else "c-open"
        for person, status in refused.items():
            answer = await report(intake, on, V2_EVENTS[action], person)
            assert answer.status_code == status, (action, person, answer.text)
            if status == 404:  # exactly what the person hears of a case that does not exist
                unknown = await report(intake, "c-9", V2_EVENTS[action], person)
                assert answer.content == unknown.content.replace(b"c-9", on.encode()), (action, person)
            else:
                assert fields_of(answer) == {"role"}, (action, person, answer.text)
    for person in V2_ALLOWED["timeout_address"]:
        answer = await report(intake, "c-open", V2_EVENTS["timeout_address"], person)
        assert answer.status_code == 202, (person, answer.text)
    for person, case in zip(V2_ALLOWED["follow_up"], cases, strict=True):
        answer = await report(intake, case, V2_EVENTS["follow_up"], person)
        assert answer.status_code == 202, (person, answer.text)

    audit = await intake.db(
        "SELECT person, action, outcome FROM audit WHERE action IN ('timeout_address', 'follow_up')"
    )
    refusals = {(r["person"], r["action"]) for r in audit if r["outcome"] == "refused"}
    assert {(p, a) for a, refused in V2_REFUSED.items() for p in refused} <= refusals
    allowed = {(r["person"], r["action"]) for r in audit if r["outcome"] == "allowed"}
    assert {(p, a) for a, people in V2_ALLOWED.items() for p in people} == allowed
    # Nothing refused reached the topic: four addresses named, three follow-ups.
    await eventually(
        lambda: intake.seen(TOPIC_CASE_EVENTS).bodies(type="follow_up_reported"),
        lambda found: len(found) == 3,
    )
    assert len(intake.seen(TOPIC_CASE_EVENTS).bodies(type="timeout_address_named")) == 4
