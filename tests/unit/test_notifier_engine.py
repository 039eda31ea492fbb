"""The notification engine on the sample network: each row of DOMAIN.md's table, escalation, cancellation,
privacy, and the live path (per-case state + store semantics) computing what the simulation computes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pytest

from services.notifier.engine import Notice, NotificationEngine
from shared import events as ev
from shared.inputs import CapacityEvent, ReferralEvent, TimeoutRequestEvent
from shared.kinds import KINDS, lapse_date
from shared.network import Network, NetworkIndex, Person
from tools.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / ".." / "shared" / "scenarios" / "landsdeel-zuid.json"

T0 = datetime(2026, 1, 5, 10, 0)  # a Monday
START = date(2026, 1, 7)  # Wednesday
END = date(2026, 3, 4)
MEETING = datetime(2026, 1, 8, 13, 30)  # Thursday
TH, TB, REF, SUP, COORD = "th-WBW-0", "tb-WBW-0", "ref-WBW", "sup0", "coord"


@cache
def scenario() -> Scenario:
    return load_scenario(SAMPLE)


def network() -> Network:
    return scenario().network


# --- event builders --------------------------------------------------------------------------


def referral(at: datetime = T0, case: str = "c1", **kw: Any) -> ev.ReferralRegistered:
    fields: dict[str, Any] = dict(
        kind="thuisbest",
        home_region="WBW",
        referrer=REF,
        urgency="normal",
        earliest_start=START,
        stay_days=56,
        eligible_from=date(2021, 5, 3),
        eligible_until=date(2027, 5, 2),
        machtiging={"valid_from": START, "valid_until": date(2026, 7, 6)},
    )
    fields.update(kw)
    return ev.ReferralRegistered(occurred_at=at, case=case, **fields)


def placed(at: datetime = T0 + timedelta(minutes=5), case: str = "c1", **kw: Any) -> ev.PlacementPlanned:
    fields: dict[str, Any] = dict(
        change="new",
        kind="thuisbest",
        home_region="WBW",
        referrer=REF,
        group="L01-g2",
        location="L01",
        region="WBW",
        start=START,
        end=END,
        mst_therapist=TH,
        trajectbegeleider=TB,
        explanation="test",
    )
    fields.update(kw)
    return ev.PlacementPlanned(occurred_at=at, case=case, **fields)


def meeting(
    at: datetime = T0 + timedelta(minutes=6),
    case: str = "c1",
    start: datetime = MEETING,
    sequence: int = 0,
    attendees: Iterable[str] = (TH, TB, REF),
) -> ev.StartgesprekPlanned:
    return ev.StartgesprekPlanned(
        occurred_at=at,
        case=case,
        start=start,
        end=start + timedelta(minutes=90),
        place="L01",
        attendees=list(attendees),
        sequence=sequence,
    )


def held(
    at: datetime, case: str = "c1", what: Literal["startgesprek", "kennismaking"] = "startgesprek"
) -> ev.MeetingHeld:
    return ev.MeetingHeld(occurred_at=at, case=case, meeting=what)


class Run:
    """Drives the engine as `thuisbest simulate` does: due(t), then handle(event, t)."""

    def __init__(self, engine: NotificationEngine | None = None) -> None:
        self.engine = engine or NotificationEngine(network())
        self.out: list[Notice] = []

    def feed(self, *events: Any) -> list[Notice]:
        new: list[Notice] = []
        for event in events:
            new += self.engine.due(event.occurred_at)
            new += self.engine.handle(event, event.occurred_at)
        self.out += new
        return new

    def until(self, moment: datetime) -> list[Notice]:
        new = self.engine.due(moment)
        self.out += new
        return new

    def of(self, kind: str) -> list[Notice]:
        return [n for n in self.out if n.kind == kind]


def people(notices: Iterable[Notice]) -> set[str]:
    return {n.to for n in notices}


def times(notices: Iterable[Notice]) -> set[datetime]:
    return {n.at for n in notices}


def placed_case() -> Run:
    run = Run()
    run.feed(referral(), placed(), meeting())
    return run


# --- the table, row by row -------------------------------------------------------------------


def test_referral_received_goes_to_coordinators_supervisors_and_referrer_with_the_kennismaking_invite() -> (
    None
):
    run = Run()
    notices = run.feed(referral())
    assert {n.kind for n in notices} == {"referral_received"}
    assert people(notices) == {COORD, SUP, REF}
    assert times(notices) == {T0}
    assert all("kennismakingsgesprek" in n.text for n in notices)


def test_placement_assigned_on_new_and_moved_placements_not_on_discharge_or_repeat() -> None:
    run = Run()
    run.feed(referral())
    first = run.feed(placed())
    assert people(first) == {COORD, TH, TB, SUP, REF}
    assert all("L01-g2" in n.text and TH in n.text and TB in n.text for n in first)
    assert run.feed(placed(at=T0 + timedelta(minutes=7))) == []  # the same decision again
    moved = run.feed(
        placed(at=T0 + timedelta(hours=1), change="moved", start=date(2026, 1, 9), end=date(2026, 3, 6))
    )
    assert {n.kind for n in moved} == {"placement_assigned"} and people(moved) == {COORD, TH, TB, SUP, REF}
    assert (
        run.feed(
            placed(
                at=datetime(2026, 2, 2, 9), change="discharged", start=date(2026, 1, 9), end=date(2026, 2, 20)
            )
        )
        == []
    )


def test_a_placement_moved_back_to_an_earlier_version_is_announced_again() -> None:
    run = Run()
    run.feed(referral(), placed())
    moved = placed(at=T0 + timedelta(hours=1), change="moved", group="L00-g1", location="L00")
    assert people(run.feed(moved)) == {COORD, TH, TB, SUP, REF}
    back = run.feed(placed(at=T0 + timedelta(hours=2), change="moved"))
    assert people(back) == {COORD, TH, TB, SUP, REF} and all("L01-g2" in n.text for n in back)
    assert run.feed(placed(at=T0 + timedelta(hours=3), change="moved")) == []  # nothing changed


def test_a_case_that_loses_its_placement_is_told_it_waits_again() -> None:
    run = Run()
    run.feed(referral())

    def waitlisted(at: datetime) -> ev.CaseWaitlisted:
        return ev.CaseWaitlisted(
            occurred_at=at, case="c1", reason="no closed bed", expected_start=None, explanation="replan"
        )

    assert people(run.feed(waitlisted(T0 + timedelta(minutes=1)))) == {COORD, REF}
    run.feed(placed(at=T0 + timedelta(hours=1)))
    cancel = ev.PlacementCancelled(
        occurred_at=T0 + timedelta(hours=2), case="c1", reason="bed lost", explanation="capacity cut"
    )
    again = run.feed(cancel, waitlisted(T0 + timedelta(hours=2)))
    assert people([n for n in again if n.kind == "waitlisted"]) == {COORD, REF}


def test_a_new_attendee_of_a_meeting_whose_reminder_went_out_gets_no_late_reminder() -> None:
    run = placed_case()  # meeting Thursday 8 January 13:30: reminder Wednesday 09:00
    run.until(datetime(2026, 1, 7, 12))
    assert people(run.of("meeting_reminder")) == {TH, TB, REF}
    other = "tb-WBW-1"
    run.feed(
        meeting(at=datetime(2026, 1, 7, 14), start=datetime(2026, 1, 9, 10), sequence=1),
        meeting(at=datetime(2026, 1, 7, 15), sequence=2, attendees=(TH, other, REF)),
    )
    run.until(datetime(2026, 1, 8, 12))
    late = [n for n in run.of("meeting_reminder") if n.to == other]
    assert late == [], late


def test_waitlisted_once_per_expected_start() -> None:
    run = Run()
    run.feed(referral())

    def waitlisted(at: datetime, expected: date | None) -> ev.CaseWaitlisted:
        return ev.CaseWaitlisted(
            occurred_at=at, case="c1", reason="no closed bed", expected_start=expected, explanation="replan"
        )

    first = run.feed(waitlisted(T0 + timedelta(minutes=1), date(2026, 2, 1)))
    assert people(first) == {COORD, REF} and all("zo 1 feb 2026" in n.subject for n in first)
    assert run.feed(waitlisted(T0 + timedelta(hours=2), date(2026, 2, 1))) == []
    assert people(run.feed(waitlisted(T0 + timedelta(hours=3), date(2026, 2, 8)))) == {COORD, REF}


def test_startgesprek_invite_update_and_cancel_carry_the_calendar_method_and_sequence() -> None:
    run = Run()
    run.feed(referral(), placed())
    invites = run.feed(meeting())
    assert people(invites) == {TH, TB, REF}
    assert all(n.meeting and n.meeting.method == "REQUEST" and n.meeting.sequence == 0 for n in invites)
    moved = run.feed(
        meeting(at=T0 + timedelta(hours=1), start=datetime(2026, 1, 9, 10), sequence=1, attendees=(TH, TB))
    )
    update = [n for n in moved if n.kind == "startgesprek_invite"]
    assert people(update) == {TH, TB}
    assert all(
        n.meeting and n.meeting.sequence == 1 and n.meeting.start == datetime(2026, 1, 9, 10) for n in update
    )
    dropped = [n for n in moved if n.kind == "startgesprek_cancelled"]
    assert people(dropped) == {REF} and dropped[0].meeting and dropped[0].meeting.method == "CANCEL"
    cancelled = run.feed(ev.StartgesprekCancelled(occurred_at=T0 + timedelta(hours=2), case="c1", sequence=2))
    assert people(cancelled) == {TH, TB}
    assert all(n.meeting and n.meeting.method == "CANCEL" and n.meeting.sequence == 2 for n in cancelled)
    run.until(datetime(2026, 1, 31))
    assert run.of("meeting_reminder") == [] and run.of("startgesprek_unconfirmed") == []


def test_meeting_reminder_at_nine_on_the_working_day_before() -> None:
    run = placed_case()
    run.until(datetime(2026, 1, 8, 12))
    reminders = run.of("meeting_reminder")
    assert people(reminders) == {TH, TB, REF} and times(reminders) == {datetime(2026, 1, 7, 9, 0)}
    # a Monday meeting is reminded on Friday
    run2 = Run()
    run2.feed(referral(), placed(), meeting(start=datetime(2026, 1, 12, 10)))
    run2.until(datetime(2026, 1, 12, 12))
    assert times(run2.of("meeting_reminder")) == {datetime(2026, 1, 9, 9, 0)}


def test_meeting_reminder_skipped_when_the_meeting_is_planned_after_its_time() -> None:
    run = Run()
    run.feed(referral(), placed(), meeting(at=datetime(2026, 1, 7, 15), start=MEETING))
    run.until(datetime(2026, 1, 8, 12))
    assert run.of("meeting_reminder") == []


def test_startgesprek_unconfirmed_climbs_every_working_day_until_acknowledged() -> None:
    run = placed_case()
    run.until(datetime(2026, 1, 31))
    esc = run.of("startgesprek_unconfirmed")
    by_level = {lvl: {(n.to, n.at) for n in esc if n.level == lvl} for lvl in (0, 1, 2)}
    # end of the next working day after Thursday's meeting: Friday 17:00 the therapist's
    # supervisor; Monday the coordinator; Tuesday the home region's other supervisors (none here:
    # sup0 had it already, and a person gets an alert once)
    assert by_level[0] == {(SUP, datetime(2026, 1, 9, 17))}
    assert by_level[1] == {(COORD, datetime(2026, 1, 12, 17))}
    assert by_level[2] == set()
    assert len(esc) == 2


def test_acknowledged_escalation_stops_climbing() -> None:
    run = placed_case()
    level0 = run.until(datetime(2026, 1, 9, 17))
    alert = next(n for n in level0 if n.kind == "startgesprek_unconfirmed")
    run.engine.ack(alert.key, by=SUP, now=datetime(2026, 1, 9, 18))
    run.until(datetime(2026, 1, 31))
    assert {n.level for n in run.of("startgesprek_unconfirmed")} == {0}


def test_meeting_held_stops_the_unconfirmed_escalation_before_and_after_it_started() -> None:
    before = placed_case()
    before.feed(held(datetime(2026, 1, 8, 15)))
    before.until(datetime(2026, 1, 31))
    assert before.of("startgesprek_unconfirmed") == []
    after = placed_case()
    after.until(datetime(2026, 1, 12, 18))
    after.feed(held(datetime(2026, 1, 13, 9)))
    after.until(datetime(2026, 1, 31))
    assert {n.level for n in after.of("startgesprek_unconfirmed")} == {0, 1}


def test_unconfirmed_without_a_therapist_falls_back_to_the_coordinators() -> None:
    run = Run()
    run.feed(referral(), meeting(attendees=(TB, REF)))
    run.until(datetime(2026, 1, 9, 17))
    assert people(run.of("startgesprek_unconfirmed")) == {COORD}


def test_return_home_review_on_day_28_to_therapist_and_trajectbegeleider() -> None:
    run = placed_case()
    run.until(datetime(2026, 2, 28))
    review = run.of("return_home_review")
    assert people(review) == {TH, TB}
    assert times(review) == {
        datetime.combine(START + timedelta(days=27), datetime.min.time()).replace(hour=9)
    }


def test_early_discharge_cancels_the_review_and_the_stay_exceeded_escalation() -> None:
    run = placed_case()
    run.feed(held(datetime(2026, 1, 8, 15)))
    run.feed(ev.DischargeReported(occurred_at=datetime(2026, 1, 20, 10), case="c1", date=date(2026, 1, 30)))
    run.until(datetime(2026, 6, 1))
    assert run.of("return_home_review") == [] and run.of("stay_exceeded") == []


def test_stay_exceeded_the_day_after_the_planned_end_then_escalates_until_discharge() -> None:
    run = placed_case()
    run.feed(held(datetime(2026, 1, 8, 15)))
    run.until(datetime(2026, 3, 6, 12))
    exceeded = run.of("stay_exceeded")
    assert {(n.to, n.at) for n in exceeded if n.level == 0} == {
        (who, datetime(2026, 3, 5, 9)) for who in (SUP, REF)
    }
    assert {(n.to, n.at) for n in exceeded if n.level == 1} == {(COORD, datetime(2026, 3, 6, 9))}
    # a discharge reported late (refused as not_in_stay by the scheduler) still stops it
    run.feed(ev.DischargeReported(occurred_at=datetime(2026, 3, 6, 14), case="c1", date=date(2026, 3, 6)))
    run.until(datetime(2026, 4, 1))
    assert max(n.level for n in run.of("stay_exceeded")) == 1


def test_a_moved_placement_retimes_review_and_stay_exceeded() -> None:
    run = placed_case()
    later = date(2026, 1, 14)
    run.feed(placed(at=datetime(2026, 1, 6, 8), change="moved", start=later, end=later + timedelta(days=56)))
    run.until(datetime(2026, 6, 1))
    assert times(run.of("return_home_review")) == {datetime(2026, 2, 10, 9)}
    assert {n.at for n in run.of("stay_exceeded") if n.level == 0} == {datetime(2026, 3, 12, 9)}


def test_machtiging_expiring_14_days_before_it_ends_and_a_renewal_retimes_it() -> None:
    run = placed_case()
    run.until(datetime(2026, 6, 30))
    expiring = run.of("machtiging_expiring")
    assert people(expiring) == {REF, TB} and times(expiring) == {datetime(2026, 6, 22, 9)}

    renewed = placed_case()
    renewed.feed(
        ev.MachtigingGranted(
            occurred_at=datetime(2026, 5, 1, 9), case="c1", valid_from=START, valid_until=date(2026, 12, 31)
        )
    )
    renewed.until(datetime(2026, 12, 31))
    assert times(renewed.of("machtiging_expiring")) == {datetime(2026, 12, 17, 9)}


def test_machtiging_expiring_not_before_the_trajectory_runs() -> None:
    run = Run()
    run.feed(referral(machtiging={"valid_from": START, "valid_until": date(2026, 3, 1)}))
    run.until(datetime(2026, 6, 1))
    assert run.of("machtiging_expiring") == []


def test_machtiging_lapsing_14_days_before_three_months_when_no_placement_started() -> None:
    run = Run()
    run.feed(referral())
    run.until(datetime(2026, 4, 30))
    lapsing = run.of("machtiging_lapsing")
    assert people(lapsing) == {COORD, REF}
    assert times(lapsing) == {datetime(2026, 3, 24, 9)}  # lapse 2026-04-07 minus 14 days

    started = placed_case()
    started.until(datetime(2026, 4, 30))
    assert started.of("machtiging_lapsing") == []


def test_machtiging_lapsing_fires_at_once_when_it_becomes_known_late() -> None:
    run = Run()
    at = datetime(2026, 3, 30, 11)
    run.feed(
        referral(
            at=at,
            earliest_start=date(2026, 3, 30),
            machtiging={"valid_from": date(2026, 1, 2), "valid_until": date(2026, 9, 1)},
        )
    )
    assert times(run.of("machtiging_lapsing")) == {at}


def test_timeout_assigned_is_urgent_to_the_four_parties() -> None:
    run = placed_case()
    notices = run.feed(
        ev.TimeoutAssigned(
            occurred_at=datetime(2026, 4, 2, 22),
            case="c1",
            group="L01-g2",
            location="L01",
            start=date(2026, 4, 3),
            end=date(2026, 4, 6),
            mst_therapist=TH,
            trajectbegeleider=TB,
        )
    )
    timeout = [n for n in notices if n.kind == "timeout_assigned"]
    assert people(timeout) == {TB, TH, SUP, COORD}
    assert all(n.urgent and n.at == datetime(2026, 4, 2, 22) for n in timeout)


INTAKE = "https://intake.example"


def informal_network(has_timeout_address: bool) -> Run:
    """An open-variant case whose time-out request was refused: the family's network takes over."""
    run = Run(NotificationEngine(network(), intake_url=INTAKE + "/"))
    run.feed(
        referral(kind="thuisbest_open", machtiging=None, has_timeout_address=has_timeout_address),
        placed(kind="thuisbest_open", group="L01-g0", end=date(2026, 2, 18)),
        ev.RequestRefused(
            occurred_at=datetime(2026, 3, 2, 20),
            case="c1",
            event="timeout_request",
            at=datetime(2026, 3, 2, 20),
            reason="informal_network",
            mst_therapist=TH,
            home_region="WBW",
        ),
    )
    return run


def test_timeout_informal_network_links_the_therapist_to_the_address_at_intake() -> None:
    run = informal_network(has_timeout_address=True)
    refused = run.of("timeout_informal_network")
    assert people(refused) == {TH, SUP}
    by = {n.to: n for n in refused}
    link = f"{INTAKE}/v1/cases/c1/timeout-address"  # intake shows it to the therapist and supervisor
    assert link in by[TH].text
    assert link not in by[SUP].text + by[SUP].subject
    assert "alleen in het bericht aan de MST-therapeut" in by[SUP].text
    assert all(link not in n.text + n.subject for n in run.out if n is not by[TH])
    state = run.engine.snapshot()["cases"]["c1"]
    assert state["has_timeout_address"] is True and "timeout_address" not in state


def test_without_an_address_at_intake_the_therapist_is_told_there_is_none() -> None:
    run = informal_network(has_timeout_address=False)
    [to_therapist] = [n for n in run.of("timeout_informal_network") if n.to == TH]
    assert "timeout-address" not in to_therapist.text
    assert "bij intake is geen time-out-adres vastgelegd" in to_therapist.text


def test_a_state_stored_before_the_address_left_the_notifier_restores_without_it() -> None:
    run = placed_case()
    state = run.engine.snapshot()["cases"]["c1"] | {"timeout_address": "Dorpsstraat 12, Goes"}
    copy = NotificationEngine(network())
    copy.restore_case("c1", state)
    assert "Dorpsstraat" not in str(copy.snapshot())


# Kinds by their time-out rule (shared/kinds.py), not by name.
GROUP_TIMEOUT_KIND = next(k.name for k in KINDS.values() if k.timeout_on_group)
NO_GROUP_TIMEOUT_KINDS = [k for k in KINDS.values() if not k.timeout_on_group]
REFUSED_AT = datetime(2026, 4, 2, 21, 40)  # a Thursday evening, in the home phase


def timeout_refused(reason: str, at: datetime = REFUSED_AT, **kw: Any) -> ev.RequestRefused:
    fields: dict[str, Any] = dict(event="timeout_request", mst_therapist=TH, home_region="WBW")
    fields.update(kw)
    return ev.RequestRefused(occurred_at=at + timedelta(minutes=1), case="c1", at=at, reason=reason, **fields)


@pytest.mark.parametrize(
    "reason", ["no_bed", "no_machtiging", "not_in_home_phase", "no_bed: every closed group is full"]
)
def test_a_refused_time_out_on_a_group_is_urgent_to_coordinators_therapist_and_supervisor(
    reason: str,
) -> None:
    run = placed_case()
    notices = run.feed(timeout_refused(reason))
    refused = [n for n in notices if n.kind == "timeout_refused"]
    assert people(refused) == {COORD, TH, SUP}
    assert all(n.urgent for n in refused)
    assert times(refused) == {REFUSED_AT + timedelta(minutes=1)}  # at once, not at a working hour
    assert {n.alert for n in refused} == {f"timeout_refused|c1|{REFUSED_AT:%Y-%m-%dT%H:%M}"}  # one alert
    assert {n.act_by for n in refused} == {"2026-04-02"}  # act the day of the request
    assert run.of("timeout_informal_network") == []


def test_a_refused_time_out_of_a_case_not_placed_goes_to_the_coordinators() -> None:
    # The scheduler names no therapist: the coordinators stand in for the supervisor too.
    run = Run()
    run.feed(referral())
    notices = run.feed(timeout_refused("not_in_home_phase", at=datetime(2026, 1, 6, 20), mst_therapist=None))
    refused = [n for n in notices if n.kind == "timeout_refused"]
    assert people(refused) == {COORD} and all(n.urgent for n in refused)
    assert "ref-WBW" not in people(refused) and TH not in people(refused)


def test_each_refused_time_out_request_is_one_alert_and_a_redelivery_is_none() -> None:
    run = placed_case()
    first = timeout_refused("no_bed")
    assert people(n for n in run.feed(first) if n.kind == "timeout_refused") == {COORD, TH, SUP}
    assert [n for n in run.feed(first) if n.kind == "timeout_refused"] == []  # the same event again
    next_day = timeout_refused("no_bed", at=REFUSED_AT + timedelta(days=1))
    again = [n for n in run.feed(next_day) if n.kind == "timeout_refused"]
    assert people(again) == {COORD, TH, SUP}  # a new request refused: a new alert
    assert len({n.alert for n in run.of("timeout_refused")}) == 2


def test_the_informal_network_refusal_is_its_own_rule_not_a_refused_time_out() -> None:
    run = informal_network(has_timeout_address=True)
    assert people(run.of("timeout_informal_network")) == {TH, SUP}
    assert run.of("timeout_refused") == []


@pytest.mark.parametrize("kind", NO_GROUP_TIMEOUT_KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("reason", ["kind", "no_bed", "not_in_home_phase"])
def test_a_kind_without_time_outs_on_a_group_raises_no_refused_time_out(kind: Any, reason: str) -> None:
    # Such a kind's requests are refused with its own code (informal network, none at all); should a
    # group's reason ever come for it, the rule is about time-outs on a group and stays silent.
    run = Run()
    run.feed(
        referral(kind=kind.name, machtiging=None),
        placed(kind=kind.name, group="L01-g0", end=date(2026, 2, 18)),
    )
    run.feed(timeout_refused(kind.timeout_refusal if reason == "kind" else reason))
    assert run.of("timeout_refused") == []


def test_a_refused_discharge_for_want_of_a_bed_is_no_refused_time_out() -> None:
    run = placed_case()
    for reason in ("no_bed: the bed is taken after the planned end", "no_machtiging: it ends earlier"):
        run.feed(timeout_refused(reason, event="discharge"))
    run.feed(timeout_refused("informal_network"))  # the open variant's code on a closed case: not this rule
    assert run.of("timeout_refused") == []


def test_a_refused_time_out_survives_the_live_stores_state_round_trip() -> None:
    run = placed_case()
    copy = NotificationEngine(network())
    state = run.engine.snapshot_case("c1")
    copy.restore_case("c1", state)
    first = [n for n in copy.handle(timeout_refused("no_bed"), REFUSED_AT) if n.kind == "timeout_refused"]
    stored = copy.snapshot_case("c1")
    assert stored is not None and stored["request_day"] == "2026-04-02"
    again = NotificationEngine(network())
    again.restore_case("c1", stored)
    assert people(first) == {COORD, TH, SUP}
    assert [
        n for n in again.handle(timeout_refused("no_bed"), REFUSED_AT) if n.kind == "timeout_refused"
    ] == []


def test_the_parties_of_a_case_are_who_the_events_named() -> None:
    run = placed_case()
    parties = run.engine.parties("c1")
    assert parties is not None
    assert (parties.home_region, parties.referrer, parties.therapist, parties.trajectbegeleider) == (
        "WBW",
        REF,
        TH,
        TB,
    )
    assert run.engine.parties("c-unknown") is None


def test_close_stops_every_timer_and_later_events_of_the_case() -> None:
    run = placed_case()
    run.feed(ev.CaseClosed(occurred_at=datetime(2026, 1, 6, 12), case="c1"))
    assert run.engine.pending("c1") == []
    run.feed(meeting(at=datetime(2026, 1, 6, 13), sequence=1))
    run.until(datetime(2026, 12, 31))
    assert {n.at for n in run.out} <= {T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=6)}


def test_withdraw_before_start_stops_everything_after_start_is_ignored() -> None:
    early = Run()
    early.feed(referral(), ev.ReferralWithdrawn(occurred_at=T0 + timedelta(hours=1), case="c1"))
    early.until(datetime(2026, 12, 31))
    assert early.of("machtiging_lapsing") == []
    late = placed_case()
    late.feed(ev.ReferralWithdrawn(occurred_at=datetime(2026, 1, 20, 9), case="c1"))
    late.until(datetime(2026, 3, 1))
    assert late.of("return_home_review") != []


def test_a_withdraw_read_before_the_placement_it_comes_too_late_for_does_not_end_the_case() -> None:
    # Case events and decisions travel on different topics: the withdraw (after the start) can
    # reach the notifier before the placement; the scheduler refuses it, and the case goes on.
    run = Run()
    run.feed(referral())
    after_start = datetime(2026, 1, 9, 10)
    run.feed(ev.ReferralWithdrawn(occurred_at=after_start, case="c1"))
    run.feed(placed(at=after_start + timedelta(minutes=1)), meeting(at=after_start + timedelta(minutes=1)))
    assert run.engine.pending("c1") == []  # withdrawn as far as the notifier knows
    run.feed(
        ev.RequestRefused(
            occurred_at=after_start + timedelta(minutes=2),
            case="c1",
            event="withdraw",
            at=after_start,
            reason="already_started",
        )
    )
    run.until(datetime(2026, 2, 10))
    review = run.of("return_home_review")
    assert people(review) == {TH, TB} and times(review) == {datetime(2026, 2, 3, 9, 0)}


def test_a_closed_case_stays_closed_whatever_comes_later() -> None:
    run = placed_case()
    run.feed(ev.CaseClosed(occurred_at=T0 + timedelta(hours=1), case="c1"))
    refused = ev.RequestRefused(
        occurred_at=T0 + timedelta(hours=2), case="c1", event="withdraw", at=T0, reason="already_started"
    )
    assert run.feed(refused) == []
    run.until(datetime(2026, 3, 31))
    assert run.of("return_home_review") == [] and run.of("meeting_reminder") == []


def test_each_alert_reaches_a_person_once_even_through_two_roles() -> None:
    # a supervisor who refers: home supervisor and referrer at once
    run = Run()
    notices = run.feed(referral(referrer=SUP))
    assert sorted(n.to for n in notices) == [COORD, SUP]


def test_notices_are_sorted_and_keys_unique() -> None:
    run = placed_case()
    run.until(datetime(2026, 12, 31))
    assert run.out == sorted(run.out)
    keys = [n.key for n in run.out]
    assert len(keys) == len(set(keys))


# --- the whole sample scenario ---------------------------------------------------------------


def sample_events() -> list[Any]:
    """The sample's events as intake would publish them, plus simple scheduler decisions."""
    from services.intake.rules import to_case_event

    net = NetworkIndex(network())
    out: list[Any] = []
    kinds: dict[str, str] = {}
    for i, e in enumerate(scenario().events):
        if isinstance(e, CapacityEvent):
            continue
        out.append(to_case_event(e, net))
        if isinstance(e, ReferralEvent):
            kinds[e.case] = e.kind
            therapist = net.serving("mst_therapist", e.home_region)[i % 3].id
            tb = net.serving("trajectbegeleider", e.home_region)[i % 3].id
            start = max(e.earliest_start, e.at.date() + timedelta(days=1))
            loc = next(loc for loc in net.locations.values() if loc.region == e.home_region)
            out.append(
                ev.PlacementPlanned(
                    occurred_at=e.at,
                    case=e.case,
                    kind=e.kind,
                    home_region=e.home_region,
                    referrer=e.referrer,
                    group=loc.groups[0].id,
                    location=loc.id,
                    region=loc.region,
                    start=start,
                    end=start + timedelta(days=e.stay_days or 42),
                    mst_therapist=therapist,
                    trajectbegeleider=tb,
                    explanation="sample",
                )
            )
            day = net.calendar.add_working_days(start, 1)
            out.append(
                ev.StartgesprekPlanned(
                    occurred_at=e.at,
                    case=e.case,
                    start=datetime.combine(day, datetime.min.time()).replace(hour=13),
                    end=datetime.combine(day, datetime.min.time()).replace(hour=14, minute=30),
                    place=loc.id,
                    attendees=[therapist, tb, e.referrer],
                )
            )
        if isinstance(e, TimeoutRequestEvent) and kinds.get(e.case) == "thuisbest_open":
            out.append(
                ev.RequestRefused(
                    occurred_at=e.at, case=e.case, event="timeout_request", at=e.at, reason="informal_network"
                )
            )
    return out


def simulate(events: list[Any], end: datetime) -> list[Notice]:
    run = Run()
    run.feed(*events)
    run.until(end)
    return run.out


MONTHS = {m: i for i, m in enumerate("jan feb mrt apr mei jun jul aug sep okt nov dec".split(), 1)}
MONTHS |= {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
WEEKDAYS = "ma|di|wo|do|vr|za|zo|Mon|Tue|Wed|Thu|Fri|Sat|Sun"


def shown_days(message: str) -> set[str]:
    """The dates a message shows as people read them ("ma 7 dec 2026", "Mon 7 Dec 2026"), as ISO."""
    found = re.findall(rf"\b(?:{WEEKDAYS}) (\d{{1,2}}) ([A-Za-z]{{3}}) (\d{{4}})\b", message)
    return {date(int(y), MONTHS[m], int(d)).isoformat() for d, m, y in found}


def allowed_dates(events: list[Any]) -> dict[str, set[str]]:
    """Per case, the dates a message may show: those of the case's events other than identity."""
    allowed: dict[str, set[str]] = {}
    for e in events:
        days = allowed.setdefault(e.case, set())
        for name, value in e:
            if name in ("eligible_from", "eligible_until"):
                continue
            if isinstance(value, datetime | date):
                days.add(value.isoformat()[:10])
            if name == "machtiging" and value is not None:
                days |= {
                    value.valid_from.isoformat(),
                    value.valid_until.isoformat(),
                    lapse_date(value.valid_from).isoformat(),
                }
            if name == "valid_from":
                days.add(lapse_date(value).isoformat())
            if isinstance(e, ev.PlacementPlanned) and name == "start":  # the startgesprek's last day
                days.add(network_index().calendar.add_working_days(value, 3).isoformat())
                # and the day MST ends (mst_ending): the start + mst_weeks
                days.add((value + timedelta(weeks=network_index().settings.mst_weeks)).isoformat())
    return allowed


def unknown_shown(message: str) -> list[str]:
    """A value shown as "-" or "None" (a list line "- ..." of what changed is no value)."""
    lines = [line for line in message.splitlines() if not line.startswith("- ")]
    return re.findall(r"(?<![\w-])(?:None|-)(?![\w-])", "\n".join(lines))


@cache
def network_index() -> NetworkIndex:
    return NetworkIndex(network())


def test_sample_scenario_messages_carry_no_identity_data() -> None:
    events = sample_events()
    notices = simulate(events, datetime(2026, 12, 31))
    assert len(notices) > 500
    births = {e.birth_date.isoformat() for e in scenario().events if isinstance(e, ReferralEvent)}
    allowed = allowed_dates(events)
    addresses = {e.timeout_address for e in scenario().events if isinstance(e, ReferralEvent)} - {None}
    assert addresses
    for n in notices:
        message = n.subject + "\n" + n.text
        shown = set(re.findall(r"\d{4}-\d{2}-\d{2}", message)) | shown_days(message)
        assert not shown & births, (n.key, message)
        # any other date shown is one the case's events gave (never an age-derived eligibility date),
        # or the notice's own day and, for an escalating one, the next level's (a working day later)
        own = {n.at.date().isoformat()}
        if n.escalates:
            own.add(network_index().calendar.add_working_days(n.at.date(), 1).isoformat())
        assert shown <= allowed[n.case] | own, (n.key, shown - allowed[n.case] - own)
        assert not unknown_shown(message), (n.key, message)
        assert not [a for a in addresses if a and a in message], (n.key, message)
        if "/timeout-address" in message:  # the link to intake's page, for the therapist only
            assert n.kind == "timeout_informal_network"
            placement = next(e for e in events if isinstance(e, ev.PlacementPlanned) and e.case == n.case)
            assert n.to == placement.mst_therapist
    assert {n.kind for n in notices} >= {
        "referral_received",
        "placement_assigned",
        "startgesprek_invite",
        "meeting_reminder",
        "startgesprek_unconfirmed",
        "return_home_review",
        "stay_exceeded",
        "timeout_informal_network",
    }


def test_simulation_is_deterministic() -> None:
    events = sample_events()
    first = [n.report() for n in simulate(events, datetime(2026, 12, 31))]
    second = [n.report() for n in simulate(events, datetime(2026, 12, 31))]
    assert first == second


class FakeStore:
    """The store's semantics in memory: upsert by key (sent rows untouched), cancel pending keys."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[Notice, str]] = {}
        self.states: dict[str, Any] = {}

    def process(self, engine: NotificationEngine, event: Any, now: datetime) -> None:
        engine.restore_case(event.case, self.states.get(event.case))
        outcome = engine.apply(event, now)
        self.states[event.case] = engine.snapshot_case(event.case)
        engine.forget(event.case)
        for key in outcome.cancelled:
            if key in self.rows and self.rows[key][1] == "pending":
                self.rows[key] = (self.rows[key][0], "cancelled")
        for n in [*outcome.notices, *outcome.scheduled]:
            if n.key not in self.rows or self.rows[n.key][1] in ("pending", "cancelled"):
                self.rows[n.key] = (n, "pending")

    def dispatch(self, now: datetime) -> list[Notice]:
        due = sorted(n for n, status in self.rows.values() if status == "pending" and n.at <= now)
        for n in due:
            self.rows[n.key] = (n, "sent")
        return due


def test_live_path_with_per_case_state_sends_what_the_simulation_reports() -> None:
    events = sample_events()
    end = datetime(2026, 12, 31)
    simulated = [n.report() for n in simulate(events, end)]
    live = NotificationEngine(network())
    store = FakeStore()
    sent: list[Notice] = []
    for e in events:
        sent += store.dispatch(e.occurred_at)
        # a live event may be processed a little after the dispatcher fired what was due
        store.process(live, e, e.occurred_at)
    sent += store.dispatch(end)

    def rows(reports: Iterable[dict[str, str]]) -> list[tuple[str, ...]]:
        return sorted(tuple(r.values()) for r in reports)

    assert rows(n.report() for n in sent) == rows(simulated)


def test_snapshot_and_restore_continue_where_they_left_off() -> None:
    run = placed_case()
    copy = NotificationEngine(network())
    copy.restore(run.engine.snapshot())
    assert copy.due(datetime(2026, 12, 31)) == run.engine.due(datetime(2026, 12, 31))


def test_rule_chain_climbs_to_distinct_people_on_a_bigger_team() -> None:
    base = network()
    extra = [
        Person(id="sup1", role="mst_supervisor", regions=["WBW"]),
        Person(id="coord-wbw", role="coordinator", regions=["WBW"]),
    ]
    bigger = Network.model_validate(
        {
            **base.model_dump(by_alias=True),
            "people": [*(p.model_dump() for p in base.people), *(p.model_dump() for p in extra)],
        }
    )
    run = Run(NotificationEngine(bigger))
    run.feed(referral(), placed(), meeting())
    run.until(datetime(2026, 1, 31))
    esc = run.of("startgesprek_unconfirmed")
    assert people(n for n in esc if n.level == 0) == {SUP}
    assert people(n for n in esc if n.level == 1) == {COORD, "coord-wbw"}
    assert people(n for n in esc if n.level == 2) == {"sup1"}  # each person once, up the chain


@pytest.mark.parametrize("kind", ["referral_received", "placement_assigned", "startgesprek_invite"])
def test_report_rows_have_the_contract_fields(kind: str) -> None:
    run = placed_case()
    row = next(n for n in run.out if n.kind == kind).report()
    assert set(row) == {"at", "case", "kind", "to", "channel"} and row["channel"] == "email"
