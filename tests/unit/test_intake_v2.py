"""Intake's PATHWAY-V2 rules and case state: each refusal names its field, a follow-up comes after
the close only, and a time-out address named later replaces the referral's without changing it."""

from __future__ import annotations

import base64
import os
from datetime import date, datetime
from typing import Any

import pytest

from services.intake.domain import Case
from services.intake.identity import Identity, KeyRing
from services.intake.rules import later_event_problems, referral_problems
from services.intake.usecases import V2_REFERRAL_FIELDS, digest_fields
from shared.inputs import (
    CloseEvent,
    FollowUpEvent,
    MachtigingEvent,
    Outcome,
    ReferralEvent,
    WithdrawEvent,
)
from shared.network import NetworkIndex, load_network
from shared.settings import DEMO_NETWORK

NET = NetworkIndex(load_network(DEMO_NETWORK))
AT = datetime(2026, 3, 2, 10, 0)


def part_time(**overrides: Any) -> ReferralEvent:
    """A beter_met_thuis referral of a 10-year-old in WBW, three nights a week."""
    base: dict[str, Any] = {
        "at": "2026-03-02T10:00",
        "type": "referral",
        "case": "c-1",
        "kind": "beter_met_thuis",
        "birth_date": "2015-06-01",
        "home_region": "WBW",
        "referrer": "ref-WBW",
        "urgency": "normal",
        "earliest_start": "2026-03-09",
        "nights_per_week": 3,
    }
    return ReferralEvent.model_validate(base | overrides)


def closed_group(**overrides: Any) -> ReferralEvent:
    """A thuisbest referral of a 14-year-old in ZL with a machtiging from 2 March 2026."""
    base: dict[str, Any] = {
        "at": "2026-03-02T10:00",
        "type": "referral",
        "case": "c-2",
        "kind": "thuisbest",
        "birth_date": "2011-09-01",
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "urgency": "normal",
        "earliest_start": "2026-03-05",
        "machtiging": {"valid_from": "2026-03-02", "valid_until": "2026-09-01"},
    }
    return ReferralEvent.model_validate(base | overrides)


def problems_of(event: ReferralEvent) -> dict[str, str]:
    return {p.field: p.reason for p in referral_problems(event, NET)}


def test_valid_v2_referrals_have_no_problems() -> None:
    assert referral_problems(part_time(), NET) == []
    assert referral_problems(part_time(nights_per_week=5, preferred_nights=["mon", "wed"]), NET) == []
    assert referral_problems(closed_group(current_therapist="th-ZL-1"), NET) == []
    year = {"valid_from": "2026-03-02", "valid_until": "2027-03-01"}  # one year: the last day allowed
    assert referral_problems(closed_group(machtiging=year), NET) == []


@pytest.mark.parametrize("nights", [1, 6])
def test_nights_per_week_outside_two_to_five_is_refused(nights: int) -> None:
    assert problems_of(part_time(nights_per_week=nights)) == {
        "nights_per_week": f"{nights} is outside 2-5 for beter_met_thuis"
    }


def test_preferred_nights_must_be_weekday_names() -> None:
    found = problems_of(part_time(preferred_nights=["maandag"]))
    assert set(found) == {"preferred_nights"} and "'maandag'" in found["preferred_nights"]


def test_the_current_therapist_must_be_an_mst_therapist() -> None:
    found = problems_of(closed_group(current_therapist="tb-ZL-0"))  # a trajectbegeleider
    assert set(found) == {"current_therapist"} and "not an MST therapist" in found["current_therapist"]


def test_a_machtiging_of_a_year_and_a_day_is_refused_with_the_referral_and_later() -> None:
    too_long = {"valid_from": "2026-03-02", "valid_until": "2027-03-02"}  # a year and a day
    found = problems_of(closed_group(machtiging=too_long))
    assert set(found) == {"machtiging.valid_until"}, found
    assert (
        "at most one year" in found["machtiging.valid_until"]
        and "2027-03-01" in found["machtiging.valid_until"]
    )

    later = MachtigingEvent.model_validate({"at": AT, "case": "c-2"} | too_long)
    [problem] = later_event_problems(later)
    assert problem.field == "valid_until" and problem.reason == found["machtiging.valid_until"]
    a_year = MachtigingEvent.model_validate(
        {"at": AT, "case": "c-2", "valid_from": "2026-03-02", "valid_until": "2027-03-01"}
    )
    assert later_event_problems(a_year) == []


# --- the case: close, follow-up ----------------------------------------------------------------


def case() -> Case:
    return Case("c-1", "thuisbest_open", "ZL", "ref-ZL", "normal", AT)


def test_a_follow_up_comes_after_the_close_and_once() -> None:
    open_case = case()
    assert not open_case.accepts("follow_up")
    assert open_case.refusal("follow_up") == "the case is not closed: a follow-up is reported after the close"

    outcome = Outcome(at_home=True, day_activity=False)
    open_case.record(CloseEvent(at=AT, case="c-1", reason="goal_reached", outcome=outcome))
    assert (open_case.closed, open_case.close_reason, open_case.outcome) == (
        "closed",
        "goal_reached",
        outcome,
    )
    assert open_case.accepts("follow_up") and open_case.accepts("meeting_held")
    assert open_case.refusal("timeout_address") == "the case is closed"

    open_case.record(FollowUpEvent(at=AT, case="c-1", relapse=False))
    assert open_case.relapse is False
    assert open_case.refusal("follow_up") == "its follow-up is already reported"
    view = open_case.view(date(2026, 9, 1))
    assert (view.close_reason, view.outcome, view.relapse) == ("goal_reached", outcome, False)

    withdrawn = case()
    withdrawn.record(WithdrawEvent(at=AT, case="c-1"))
    assert withdrawn.refusal("follow_up") == "the case is withdrawn: a follow-up is reported after the close"


# --- the identity store and the referral's digest ----------------------------------------------


def test_a_time_out_address_named_later_replaces_the_referrals_but_not_the_referral() -> None:
    referred = Identity(birth_date=date(2012, 5, 1), timeout_address="Dorpsstraat 1, Goes")
    later = referred.model_copy(update={"named_timeout_address": "Kerkplein 2, Vlissingen"})
    assert later.current_timeout_address == "Kerkplein 2, Vlissingen"
    assert referred.current_timeout_address == "Dorpsstraat 1, Goes"
    assert Identity(birth_date=date(2012, 5, 1)).current_timeout_address is None
    # The digest of the referral is made of the identity as referred: a repeat still matches.
    body = part_time().model_dump(mode="json", exclude={"birth_date", "timeout_address"})
    assert digest_fields(body, later) == digest_fields(body, referred)
    assert "named_timeout_address" not in digest_fields(body, later)
    keys = KeyRing.parse(f"k1:{base64.b64encode(os.urandom(32)).decode()}", "test.keys")
    assert keys.open("c-1", keys.seal("c-1", later)).current_timeout_address == "Kerkplein 2, Vlissingen"
    # An identity sealed before PATHWAY-V2 (without the field) opens as one without a later address.
    assert Identity.model_validate_json('{"birth_date": "2012-05-01"}').named_timeout_address is None


def test_a_referral_is_the_same_however_its_v2_defaults_are_spelled() -> None:
    who = Identity(birth_date=date(2015, 6, 1))

    def same(event: ReferralEvent) -> dict[str, Any]:
        return digest_fields(event.model_dump(mode="json", exclude={"birth_date", "timeout_address"}), who)

    assert same(part_time()) == same(part_time(program_weeks=39, preferred_nights=[]))
    assert same(part_time()) != same(part_time(program_weeks=40))
    assert same(part_time()) != same(part_time(preferred_nights=["mon"]))
    # A referral of before PATHWAY-V2 kept its body without the V2 keys: still the same referral,
    # and its digest is made of exactly what it was made of then (stored digests still match).
    body = closed_group().model_dump(mode="json", exclude={"birth_date", "timeout_address"})
    before = {k: v for k, v in body.items() if k not in V2_REFERRAL_FIELDS}
    assert digest_fields(before, who) == digest_fields(body, who)
    as_then = {k: v for k, v in before.items() if k != "at"} | {
        "birth_date": "2015-06-01",
        "timeout_address": None,
        "name": None,
        "bsn": None,
        "address": None,
        "stay_days": 56,  # thuisbest's default written out
    }
    assert digest_fields(before, who) == as_then


def test_the_case_keeps_its_kennismaking_and_startgesprek_apart_and_its_nights() -> None:
    from shared.events import PlacementPlanned, StartgesprekCancelled, StartgesprekPlanned

    c = case()
    at = datetime(2026, 1, 5, 12)

    def planned(meeting: str, day: int) -> StartgesprekPlanned:
        start = datetime(2026, 1, day, 10)
        return StartgesprekPlanned(
            case=c.id, occurred_at=at, meeting=meeting, start=start, end=start.replace(hour=11),
            place="home", attendees=["tb-ZL-0", "ref-ZL"],
        )  # fmt: skip

    c.apply(planned("kennismaking", 7))
    c.apply(planned("startgesprek", 12))
    assert sorted(m.meeting for m in c.meetings) == ["kennismaking", "startgesprek"]
    c.apply(StartgesprekCancelled(case=c.id, occurred_at=at, meeting="kennismaking", sequence=1))
    assert [m.meeting for m in c.meetings] == ["startgesprek"]
    c.apply(
        PlacementPlanned(
            case=c.id,
            occurred_at=at,
            kind="beter_met_thuis",
            home_region="ZL",
            referrer="ref-ZL",
            group="L01-g0",
            location="L01",
            region="WBW",
            start=date(2026, 1, 12),
            end=date(2026, 7, 13),
            mst_therapist=None,
            trajectbegeleider="tb-ZL-0",
            explanation="",
            nights=["mon", "wed"],
        )  # fmt: skip
    )
    assert c.stay is not None and c.stay.nights == ["mon", "wed"] and c.stay.mst_therapist is None
