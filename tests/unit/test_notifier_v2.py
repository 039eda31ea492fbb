"""PATHWAY-V2's notifications ("What the parties are told"), through the engine's handle/due API on a
small network: who is told, when, and when nobody is.

The network has one home region with two MST supervisors (each leading one therapist), a coordinator
of the region and one of another region, so that "exactly these people" says something. Kinds are
taken from the kinds table by what they are (MST or not, time-out address or not), never by name.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from services.notifier.channels import compose
from services.notifier.engine import Notice, NotificationEngine
from shared import events as ev
from shared.kinds import KIND_TABLE, KindSpec
from shared.network import Network, NetworkIndex
from tests.unit.test_notifier_engine import FakeStore, people, times
from tests.unit.test_notifier_engine import Run as EngineRun

T0 = datetime(2026, 1, 5, 10, 0)  # a Monday
START = date(2026, 1, 7)  # Wednesday
TH, TH2, TB, TB2 = "th-1", "th-2", "tb-1", "tb-2"
SUP_A, SUP_B = "sup-a", "sup-b"  # SUP_A leads TH, SUP_B leads TH2
REF, COORD, OTHER_COORD = "ref", "coord-n", "coord-z"

NETWORK = Network.model_validate(
    {
        "scenario_version": 2,
        "name": "small",
        "settings": {"mst_weeks": 20, "holidays": []},
        "regions": [{"code": "N", "name": "Noord"}, {"code": "Z", "name": "Zuid"}],
        "locations": [
            {
                "id": "L1",
                "name": "Breda",
                "region": "N",
                "groups": [
                    {"id": "g-closed", "name": "De Kreek", "kind": "closed", "beds": 4},
                    {"id": "g-open", "name": "De Duinen", "kind": "open", "beds": 4},
                    {"id": "g-day", "name": "De Brug", "kind": "day", "places": 6},
                    {"id": "g-part", "name": "Het Anker", "kind": "part_time", "beds": 4},
                ],
            }
        ],
        "people": [
            {"id": SUP_A, "name": "Marloes de Vries", "role": "mst_supervisor", "regions": ["N"]},
            {"id": SUP_B, "name": "Kees Bos", "role": "mst_supervisor", "regions": ["N"]},
            {"id": "sup-z", "name": "Anna Zuid", "role": "mst_supervisor", "regions": ["Z"]},
            {"id": TH, "name": "Lotte Smit", "role": "mst_therapist", "regions": ["N"], "max_cases": 4,
             "supervisor": SUP_A},
            {"id": TH2, "name": "Eva Meijer", "role": "mst_therapist", "regions": ["N"], "max_cases": 4,
             "supervisor": SUP_B},
            {"id": TB, "name": "Luuk de Wit", "role": "trajectbegeleider", "regions": ["N"], "max_cases": 8},
            {"id": TB2, "name": "Iris Dijkstra", "role": "trajectbegeleider", "regions": ["N"],
             "max_cases": 8},
            {"id": REF, "name": "Jeroen de Boer", "role": "referrer", "regions": ["N"]},
            {"id": COORD, "name": "Annemiek Vermeulen", "role": "coordinator", "regions": ["N"]},
            {"id": OTHER_COORD, "name": "Hans van den Berg", "role": "coordinator", "regions": ["Z"]},
        ],
    }
)  # fmt: skip
GROUP = {"closed": "g-closed", "open": "g-open", "day": "g-day", "part_time": "g-part"}

# Kinds by what they are (shared/kinds.py), not by name.
ADDRESS_KINDS = [k for k in KIND_TABLE if k.timeout_address_expected]
NO_ADDRESS_KINDS = [k for k in KIND_TABLE if not k.timeout_address_expected]
MST_KINDS = [k for k in KIND_TABLE if k.needs_mst_therapist]
NO_MST_KIND = next(k for k in KIND_TABLE if not k.needs_mst_therapist)
PLAIN = next(k for k in KIND_TABLE if k.needs_mst_therapist and not k.timeout_address_expected)
PART_TIME = next(k for k in KIND_TABLE if k.part_time)


def ids(kind: KindSpec) -> str:
    return kind.name


# --- event builders --------------------------------------------------------------------------


def referral(kind: KindSpec = PLAIN, at: datetime = T0, case: str = "c1", **kw: Any) -> ev.ReferralRegistered:
    fields: dict[str, Any] = dict(
        kind=kind.name,
        home_region="N",
        referrer=REF,
        urgency="normal",
        earliest_start=START,
        stay_days=kind.default_stay,
        eligible_from=date(2025, 1, 6),
        eligible_until=date(2027, 1, 3),
    )
    if kind.needs_machtiging:
        fields["machtiging"] = {"valid_from": START, "valid_until": date(2026, 12, 31)}
    fields.update(kw)
    return ev.ReferralRegistered(occurred_at=at, case=case, **fields)


def placed(
    kind: KindSpec = PLAIN, at: datetime = T0 + timedelta(minutes=5), case: str = "c1", **kw: Any
) -> ev.PlacementPlanned:
    start = kw.pop("start", START)
    fields: dict[str, Any] = dict(
        change="new",
        kind=kind.name,
        home_region="N",
        referrer=REF,
        group=GROUP[kind.group_kind],
        location="L1",
        region="N",
        start=start,
        end=start + timedelta(days=kind.default_stay),
        mst_therapist=TH if kind.needs_mst_therapist else None,
        trajectbegeleider=TB,
        explanation="test",
        nights=["mon", "wed", "fri"] if kind.part_time else [],
    )
    fields.update(kw)
    return ev.PlacementPlanned(occurred_at=at, case=case, **fields)


def meeting(
    at: datetime,
    start: datetime,
    attendees: list[str],
    sequence: int = 1,
    which: ev.MeetingName = "kennismaking",
    place: str = "home",
    case: str = "c1",
) -> ev.StartgesprekPlanned:
    return ev.StartgesprekPlanned(
        occurred_at=at,
        case=case,
        meeting=which,
        start=start,
        end=start + timedelta(minutes=90),
        place=place,
        attendees=attendees,
        sequence=sequence,
    )


class Run(EngineRun):
    """The engine tests' driver, on this file's version 2 network."""

    def __init__(self, network: Network = NETWORK) -> None:
        super().__init__(NotificationEngine(network))


def kinds(notices: list[Notice]) -> set[str]:
    return {n.kind for n in notices}


# --- kennismakingsgesprek: invitation, update, cancel, reminder --------------------------------

KENNIS = datetime(2026, 1, 8, 14, 0)  # Thursday
KENNIS_ATTENDEES = [SUP_A, TB, REF]


def test_kennismaking_invite_goes_to_every_attendee_as_a_calendar_request() -> None:
    run = Run()
    run.feed(referral())
    at = T0 + timedelta(minutes=1)
    invites = run.feed(meeting(at, KENNIS, KENNIS_ATTENDEES))
    assert kinds(invites) == {"kennismaking_invite"}  # not a startgesprek invitation
    assert people(invites) == set(KENNIS_ATTENDEES) and times(invites) == {at}
    for n in invites:
        assert n.meeting is not None and n.meeting.method == "REQUEST" and n.meeting.sequence == 1
        assert n.meeting.name == "kennismaking" and n.act_by == "2026-01-08T14:00"
        assert "kennismakingsgesprek" in n.subject and "startgesprek" not in n.subject
        assert "bij het gezin thuis" in n.text  # the family's home: never an address
    assert run.feed(meeting(at, KENNIS, KENNIS_ATTENDEES)) == []  # delivered again: nothing new


def test_a_moved_kennismaking_updates_the_invitees_and_cancels_for_a_dropped_one_then_the_cancel() -> None:
    run = Run()
    run.feed(referral(), meeting(T0 + timedelta(minutes=1), KENNIS, KENNIS_ATTENDEES))
    moved = run.feed(meeting(T0 + timedelta(hours=2), KENNIS + timedelta(days=1), [SUP_A, TB2, REF], 2))
    update = [n for n in moved if n.kind == "kennismaking_invite"]
    assert people(update) == {SUP_A, TB2, REF}
    assert all(n.meeting and n.meeting.sequence == 2 and n.meeting.method == "REQUEST" for n in update)
    told_before = next(n for n in update if n.to == REF)
    assert told_before.subject.startswith("Gewijzigd") and "- begin: was do 8 jan 2026" in told_before.text
    assert not next(n for n in update if n.to == TB2).subject.startswith("Gewijzigd")  # news to them
    [dropped] = [n for n in moved if n.kind == "kennismaking_cancelled"]
    assert dropped.to == TB and dropped.meeting and dropped.meeting.method == "CANCEL"
    assert "niet meer bij nodig" in " ".join(dropped.text.split())
    assert kinds(moved) == {"kennismaking_invite", "kennismaking_cancelled"}

    cancel = ev.StartgesprekCancelled(
        occurred_at=T0 + timedelta(hours=3), case="c1", meeting="kennismaking", sequence=3
    )
    cancelled = run.feed(cancel)
    assert kinds(cancelled) == {"kennismaking_cancelled"} and people(cancelled) == {SUP_A, TB2, REF}
    assert all(n.meeting and n.meeting.method == "CANCEL" and n.meeting.sequence == 3 for n in cancelled)
    run.until(datetime(2026, 1, 31))
    assert run.of("meeting_reminder") == []  # a cancelled meeting is not reminded


def test_the_meeting_reminder_comes_the_working_day_before_a_kennismaking_too() -> None:
    run = Run()
    run.feed(referral(), meeting(T0 + timedelta(minutes=1), KENNIS, KENNIS_ATTENDEES))
    run.until(datetime(2026, 1, 31))
    reminders = run.of("meeting_reminder")
    assert people(reminders) == set(KENNIS_ATTENDEES)
    assert times(reminders) == {datetime(2026, 1, 7, 9, 0)}  # Wednesday 09:00, before Thursday
    assert all("kennismakingsgesprek" in n.subject and "bij het gezin thuis" in n.text for n in reminders)


def test_a_kennismaking_raises_no_startgesprek_escalation() -> None:
    # Never confirmed held, and still nobody is told that a startgesprek was not confirmed.
    run = Run()
    run.feed(referral(), meeting(T0 + timedelta(minutes=1), KENNIS, KENNIS_ATTENDEES))
    run.until(datetime(2026, 3, 31))
    assert {k for k in kinds(run.out) if "startgesprek" in k} == set()
    assert {"kennismaking_invite", "meeting_reminder"} <= kinds(run.out)


def test_each_meeting_held_stops_its_own_reminder_and_a_held_kennismaking_no_startgesprek_alert() -> None:
    run = Run()
    startgesprek = datetime(2026, 1, 9, 10, 0)  # Friday: reminded Thursday 09:00
    kennis = datetime(2026, 1, 12, 14, 0)  # the next Monday: reminded Friday 09:00
    run.feed(
        referral(),
        meeting(T0 + timedelta(minutes=1), kennis, KENNIS_ATTENDEES),
        placed(),
        meeting(T0 + timedelta(minutes=6), startgesprek, [TH, TB, REF], 1, "startgesprek", "L1"),
    )
    # The kennismaking confirmed held (early, say by phone) before either reminder: its reminder stops,
    # the startgesprek's reminder and its escalation stay.
    run.feed(ev.MeetingHeld(occurred_at=datetime(2026, 1, 6, 12), case="c1", meeting="kennismaking"))
    run.until(datetime(2026, 1, 31))
    reminders = run.of("meeting_reminder")
    assert people(reminders) == {TH, TB, REF} and times(reminders) == {datetime(2026, 1, 8, 9, 0)}
    unconfirmed = run.of("startgesprek_unconfirmed")
    assert {(n.to, n.at) for n in unconfirmed if n.level == 0} == {(SUP_A, datetime(2026, 1, 12, 17))}


def test_the_kennismaking_calendar_has_its_own_uid_and_says_at_home() -> None:
    run = Run()
    run.feed(referral())
    [invite] = [n for n in run.feed(meeting(T0, KENNIS, KENNIS_ATTENDEES)) if n.to == TB]
    mail = compose(
        invite,
        alert_id=1,
        token="t",
        base_url="https://n.example",
        board_url="https://b.example",
        address_of=lambda p: f"{p}@example.org",
        organizer="n@example.org",
        index=NetworkIndex(NETWORK),
    )
    assert mail.ical is not None and mail.ical_method == "REQUEST"
    [event] = [c for c in Calendar.from_ical(mail.ical).walk() if c.name == "VEVENT"]
    assert str(event["uid"]) == "kennismaking-c1@thuisbest"  # apart from the startgesprek's
    assert str(event["location"]) == "bij het gezin thuis"
    assert str(event["summary"]) == "Kennismakingsgesprek casus c1"


# --- time-out address missing at the start -----------------------------------------------------


def address_run(kind: KindSpec, *later: Any, **referral_fields: Any) -> Run:
    run = Run()
    run.feed(referral(kind, **referral_fields), placed(kind), *later)
    run.until(datetime(2026, 2, 28))
    return run


@pytest.mark.parametrize("kind", ADDRESS_KINDS, ids=ids)
def test_a_placement_without_a_time_out_address_tells_therapist_and_trajectbegeleider_on_its_first_day(
    kind: KindSpec,
) -> None:
    missing = address_run(kind).of("timeout_address_missing")
    assert people(missing) == {TH, TB} and len(missing) == 2
    assert times(missing) == {datetime(2026, 1, 7, 9, 0)}  # the start day, at the start of work
    assert all(n.act_by == "2026-01-07" and "time-out-adres" in n.subject for n in missing)


@pytest.mark.parametrize("kind", ADDRESS_KINDS, ids=ids)
def test_no_missing_address_alert_when_intake_has_one_or_the_family_names_it_before_the_start(
    kind: KindSpec,
) -> None:
    assert address_run(kind, has_timeout_address=True).of("timeout_address_missing") == []
    named = ev.TimeoutAddressNamed(occurred_at=datetime(2026, 1, 6, 15), case="c1")
    assert address_run(kind, named).of("timeout_address_missing") == []


@pytest.mark.parametrize("kind", ADDRESS_KINDS, ids=ids)
def test_a_moved_placement_retimes_the_missing_address_alert_and_a_cancelled_one_drops_it(
    kind: KindSpec,
) -> None:
    later = date(2026, 1, 12)
    moved = placed(kind, at=datetime(2026, 1, 6, 11), change="moved", start=later)
    missing = address_run(kind, moved).of("timeout_address_missing")
    assert people(missing) == {TH, TB} and times(missing) == {datetime(2026, 1, 12, 9, 0)}
    cancelled = ev.PlacementCancelled(
        occurred_at=datetime(2026, 1, 6, 11), case="c1", reason="no_bed", explanation="capacity cut"
    )
    assert address_run(kind, cancelled).of("timeout_address_missing") == []


def test_a_placement_decided_on_its_first_day_after_nine_is_told_at_once() -> None:
    kind = ADDRESS_KINDS[0]
    run = Run()
    at = datetime(2026, 1, 7, 11, 30)
    notices = run.feed(referral(kind), placed(kind, at=at))
    missing = [n for n in notices if n.kind == "timeout_address_missing"]
    assert people(missing) == {TH, TB} and times(missing) == {at}


@pytest.mark.parametrize("kind", NO_ADDRESS_KINDS, ids=ids)
def test_a_kind_without_an_informal_network_address_is_never_told_one_is_missing(kind: KindSpec) -> None:
    assert address_run(kind).of("timeout_address_missing") == []


# --- MST ending --------------------------------------------------------------------------------

MST_END = START + timedelta(weeks=20)  # 2026-05-27
MST_DUE = datetime(2026, 5, 13, 9, 0)  # 14 days before


@pytest.mark.parametrize("kind", MST_KINDS, ids=ids)
def test_mst_ending_14_days_before_to_therapist_supervisor_and_referrer(kind: KindSpec) -> None:
    run = Run()
    run.feed(referral(kind), placed(kind))
    run.until(datetime(2026, 12, 31))
    ending = run.of("mst_ending")
    assert people(ending) == {TH, SUP_A, REF} and len(ending) == 3  # not the other supervisor
    assert times(ending) == {MST_DUE} and {n.act_by for n in ending} == {MST_END.isoformat()}
    assert all("14" in n.text and "wo 27 mei 2026" in n.text for n in ending)


def test_no_mst_ending_once_the_case_closed_or_for_a_kind_without_mst() -> None:
    closed = Run()
    closed.feed(referral(), placed(), ev.CaseClosed(occurred_at=datetime(2026, 5, 1, 10), case="c1"))
    closed.until(datetime(2026, 12, 31))
    assert closed.of("mst_ending") == []
    no_mst = Run()
    no_mst.feed(referral(NO_MST_KIND), placed(NO_MST_KIND))
    no_mst.until(datetime(2026, 12, 31))
    assert no_mst.of("mst_ending") == []


def test_mst_ending_goes_to_the_therapist_who_took_over() -> None:
    run = Run()
    handover = placed(at=datetime(2026, 3, 2, 8), change="handover", mst_therapist=TH2, handed_over_from=[TH])
    run.feed(referral(), placed(), handover)
    run.until(datetime(2026, 12, 31))
    assert people(run.of("mst_ending")) == {TH2, SUP_B, REF} and times(run.of("mst_ending")) == {MST_DUE}


# --- handover --------------------------------------------------------------------------------

HANDOVER_AT = datetime(2026, 2, 2, 8, 30)


def test_a_handover_tells_the_successor_coordinators_supervisor_and_referrer_who_replaced_whom() -> None:
    run = Run()
    run.feed(referral(), placed())
    notices = run.feed(placed(at=HANDOVER_AT, change="handover", mst_therapist=TH2, handed_over_from=[TH]))
    assert kinds(notices) == {"handover"}  # no new placement_assigned
    # the successor, the coordinators of the home region, the supervisor of the case's therapist (now
    # TH2's), the referrer; not the therapist replaced, not the trajectbegeleider who stays
    assert people(notices) == {TH2, COORD, SUP_B, REF} and times(notices) == {HANDOVER_AT}
    for n in notices:
        assert "Eva Meijer neemt het over van Lotte Smit als MST-therapeut" in " ".join(n.text.split())
    successor = next(n for n in notices if n.to == TH2)
    assert "u neemt deze casus nu over" in successor.text
    again = placed(
        at=HANDOVER_AT + timedelta(minutes=1), change="handover", mst_therapist=TH2, handed_over_from=[TH]
    )
    assert run.feed(again) == []  # the same handover again: nothing new


def test_a_handover_of_both_names_both_successors() -> None:
    run = Run()
    run.feed(referral(), placed())
    notices = run.feed(
        placed(
            at=HANDOVER_AT,
            change="handover",
            mst_therapist=TH2,
            trajectbegeleider=TB2,
            handed_over_from=[TH, TB],
        )
    )
    assert people(notices) == {TH2, TB2, COORD, SUP_B, REF}
    text = " ".join(next(n for n in notices if n.to == COORD).text.split())
    assert "Eva Meijer neemt het over van Lotte Smit als MST-therapeut" in text
    assert "Iris Dijkstra neemt het over van Luuk de Wit als trajectbegeleider" in text


def test_a_handover_without_the_earlier_placement_known_reads_the_roles_from_the_network() -> None:
    run = Run()
    run.feed(referral())
    notices = run.feed(
        placed(at=HANDOVER_AT, change="handover", trajectbegeleider=TB2, handed_over_from=[TB])
    )
    assert people(notices) == {TB2, COORD, SUP_A, REF}
    assert "Iris Dijkstra neemt het over van Luuk de Wit" in " ".join(notices[0].text.split())


def test_a_handover_in_a_kind_without_mst_skips_the_absent_therapist() -> None:
    run = Run()
    run.feed(referral(NO_MST_KIND), placed(NO_MST_KIND))
    notices = run.feed(
        placed(NO_MST_KIND, at=HANDOVER_AT, change="handover", trajectbegeleider=TB2, handed_over_from=[TB])
    )
    # no therapist, so no supervisor of one: the coordinators stand in
    assert people(notices) == {TB2, COORD, REF}


# --- follow-up six months after the close -------------------------------------------------------

CLOSED_AT = datetime(2026, 3, 10, 10, 0)


def closed_run(*later: Any, with_outcome: bool = True) -> Run:
    run = Run()
    run.feed(
        referral(),
        placed(),
        ev.CaseClosed(occurred_at=CLOSED_AT, case="c1", reason="goal_reached", with_outcome=with_outcome),
        *later,
    )
    run.until(datetime(2027, 3, 31))
    return run


def test_follow_up_due_six_months_after_a_close_with_outcome_to_the_trajectbegeleider() -> None:
    run = closed_run()
    follow_up = run.of("follow_up_due")
    assert people(follow_up) == {TB} and len(follow_up) == 1
    assert times(follow_up) == {datetime(2026, 9, 10, 9, 0)}
    assert "di 10 mrt 2026" in follow_up[0].text
    # and nothing else after the close
    assert {n.kind for n in run.out if n.at > CLOSED_AT} == {"follow_up_due"}


def test_no_follow_up_when_it_was_reported_first_or_the_close_had_no_outcome() -> None:
    reported = ev.FollowUpReported(occurred_at=datetime(2026, 8, 20, 14), case="c1")
    assert closed_run(reported).of("follow_up_due") == []
    assert closed_run(with_outcome=False).of("follow_up_due") == []


def test_the_follow_up_keeps_the_trajectbegeleider_whatever_is_cancelled_after_the_close() -> None:
    cancelled = ev.PlacementCancelled(
        occurred_at=CLOSED_AT + timedelta(minutes=1), case="c1", reason="closed", explanation="closed"
    )
    assert people(closed_run(cancelled).of("follow_up_due")) == {TB}


def test_a_closed_case_waiting_for_its_follow_up_takes_no_other_alert() -> None:
    # A later (re-delivered) time-out refusal, meeting or close of a closed case: no new alert.
    run = closed_run(
        ev.RequestRefused(
            occurred_at=CLOSED_AT + timedelta(days=1),
            case="c1",
            event="timeout_request",
            at=CLOSED_AT + timedelta(days=1),
            reason="no_bed",
            mst_therapist=TH,
            home_region="N",
        ),
        ev.CaseClosed(occurred_at=CLOSED_AT + timedelta(days=2), case="c1", with_outcome=False),
    )
    assert {n.kind for n in run.out if n.at > CLOSED_AT} == {"follow_up_due"}


# --- a kind without MST: no therapist anywhere, nothing breaks ----------------------------------


def test_a_placement_without_a_therapist_goes_to_the_others_and_says_there_is_no_mst() -> None:
    run = Run()
    run.feed(referral(NO_MST_KIND))
    notices = run.feed(placed(NO_MST_KIND))
    assigned = [n for n in notices if n.kind == "placement_assigned"]
    # coordinators, trajectbegeleider, referrer; "the therapist's supervisor" falls back to the coordinators
    assert people(assigned) == {COORD, TB, REF}
    for n in assigned:
        assert "geen (dit traject heeft geen MST)" in n.text and "nog niet bekend" not in n.text
    if NO_MST_KIND.part_time:
        assert all("maandag, woensdag en vrijdag" in n.text for n in assigned)
    run.feed(
        meeting(T0 + timedelta(minutes=6), datetime(2026, 1, 8, 13, 30), [TB, REF], 1, "startgesprek", "L1")
    )
    run.until(datetime(2026, 12, 31))
    assert all(n.to is not None for n in run.out)
    assert kinds(run.out) >= {"placement_assigned", "startgesprek_invite", "meeting_reminder"}


def test_a_changed_part_time_pattern_is_a_changed_placement() -> None:
    run = Run()
    run.feed(referral(PART_TIME), placed(PART_TIME))
    moved = run.feed(placed(PART_TIME, at=T0 + timedelta(hours=1), change="moved", nights=["tue", "thu"]))
    to_tb = next(n for n in moved if n.kind == "placement_assigned" and n.to == TB)
    assert to_tb.subject.startswith("Gewijzigd")
    assert "- nachten: was maandag, woensdag en vrijdag; nu dinsdag en donderdag" in to_tb.text


# --- the live path computes what the simulation computes ----------------------------------------


def v2_events() -> list[Any]:
    address_kind = ADDRESS_KINDS[0]
    return sorted(
        [
            referral(),
            meeting(T0 + timedelta(minutes=1), KENNIS, KENNIS_ATTENDEES),
            placed(),
            ev.StartgesprekCancelled(
                occurred_at=T0 + timedelta(minutes=6), case="c1", meeting="kennismaking", sequence=2
            ),
            placed(at=HANDOVER_AT, change="handover", mst_therapist=TH2, handed_over_from=[TH]),
            ev.CaseClosed(occurred_at=datetime(2026, 7, 1, 10), case="c1", with_outcome=True),
            referral(address_kind, case="c2"),
            placed(address_kind, case="c2"),
            ev.CaseClosed(occurred_at=datetime(2026, 4, 1, 10), case="c2", with_outcome=True),
            ev.FollowUpReported(occurred_at=datetime(2026, 9, 1, 10), case="c2"),
        ],
        key=lambda e: e.occurred_at,
    )


def test_live_path_with_per_case_state_sends_what_the_simulation_reports() -> None:
    end = datetime(2027, 3, 31)
    simulated = Run()
    simulated.feed(*v2_events())
    simulated.until(end)
    live, store, sent = NotificationEngine(NETWORK), FakeStore(), []
    for e in v2_events():
        sent += store.dispatch(e.occurred_at)
        store.process(live, e, e.occurred_at)
    sent += store.dispatch(end)
    assert sorted(tuple(n.report().values()) for n in sent) == sorted(
        tuple(n.report().values()) for n in simulated.out
    )
    assert {"kennismaking_cancelled", "handover", "mst_ending", "follow_up_due"} <= kinds(sent)
    assert "timeout_address_missing" in kinds(sent)
