"""Mail a person can act on: every rule's text in Dutch or English by the reader's language, people,
groups and places by name, dates as people write them, what to do and by when, what changed when a
message replaces an earlier one, and nothing internal, unknown or self-contradicting. Pure: the
engine and the mail composer on the demo network (which names its people and groups)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.notifier.channels import Message, compose
from services.notifier.engine import Notice, NotificationEngine
from services.notifier.texts import REASONS, format_day, reason_code
from shared import events as ev
from shared.network import Network, load_network
from tests.unit.test_notifier_engine import Run as EngineRun

DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "demo-network.json"
T0 = datetime(2026, 12, 1, 10, 0)  # a Tuesday
START = date(2026, 12, 7)  # Monday
CASE = "C-123"
TH, TB, REF, SUP, COORD = "th-WBW-0", "tb-WBW-0", "ref-WBW", "sup0", "coord"
ENGLISH = {TH, REF}  # these two read English; everyone else Dutch (the default)
IDS = ("th-WBW-", "tb-WBW-", "ref-WBW", "sup0", "coord", "L01-g", "L00-g", "L01", "L00", "WBW")


def network(english: Iterable[str] = ENGLISH) -> Network:
    net = load_network(DEMO)
    people = [p.model_copy(update={"language": "en"}) if p.id in english else p for p in net.people]
    return net.model_copy(update={"people": people})


def referral(kind: str = "thuisbest", **kw: Any) -> ev.ReferralRegistered:
    fields: dict[str, Any] = dict(
        occurred_at=T0,
        case=CASE,
        kind=kind,
        home_region="WBW",
        referrer=REF,
        urgency="urgent",
        earliest_start=START,
        stay_days=56,
        eligible_from=date(2019, 3, 14),
        eligible_until=date(2027, 3, 13),
    )
    return ev.ReferralRegistered(**(fields | kw))


def placement(at: datetime, **kw: Any) -> ev.PlacementPlanned:
    fields: dict[str, Any] = dict(
        occurred_at=at,
        case=CASE,
        change="new",
        kind="thuisbest",
        home_region="WBW",
        referrer=REF,
        group="L01-g2",
        location="L01",
        region="WBW",
        start=START,
        end=date(2027, 2, 1),
        mst_therapist=TH,
        trajectbegeleider=TB,
        explanation="the nearest closed group",
    )
    return ev.PlacementPlanned(**(fields | kw))


def meeting(at: datetime, start: datetime, sequence: int = 0, **kw: Any) -> ev.StartgesprekPlanned:
    fields: dict[str, Any] = dict(
        occurred_at=at,
        case=CASE,
        start=start,
        end=start + timedelta(minutes=90),
        place="L01",
        attendees=[TH, TB, REF],
        sequence=sequence,
    )
    return ev.StartgesprekPlanned(**(fields | kw))


def waitlisted(at: datetime, reason: str, expected: date | None = None) -> ev.CaseWaitlisted:
    return ev.CaseWaitlisted(
        occurred_at=at, case=CASE, reason=reason, expected_start=expected, explanation="re-plan"
    )


class Run(EngineRun):
    """The engine run of the engine tests, on this module's network (two English readers)."""

    def __init__(self, net: Network | None = None) -> None:
        super().__init__(NotificationEngine(net or network(), intake_url="https://intake.example"))


def flat(text: str) -> str:
    """The text with its line breaks as spaces: what a reader reads, however the mail wraps."""
    return " ".join(text.split())


def to(notices: Iterable[Notice], person: str, kind: str | None = None) -> Notice:
    [found] = [n for n in notices if n.to == person and (kind is None or n.kind == kind)]
    return found


def placed() -> Run:
    run = Run()
    run.feed(referral(machtiging={"valid_from": date(2026, 12, 1), "valid_until": date(2027, 5, 31)}))
    run.feed(placement(T0 + timedelta(hours=1)))
    run.feed(meeting(T0 + timedelta(hours=1), datetime(2026, 12, 8, 13, 30)))
    return run


# --- dates -----------------------------------------------------------------------------------


def composed(notice: Notice) -> Message:
    """The mail of a notice, with example addresses and links."""
    return compose(
        notice,
        alert_id=1,
        token="t",
        base_url="https://n.example",
        board_url="https://b.example",
        address_of=lambda p: p,
        organizer="n@example.org",
    )


def test_dates_read_as_people_write_them() -> None:
    assert format_day(date(2026, 12, 7), "nl") == "ma 7 dec 2026"
    assert format_day(date(2026, 12, 7), "en") == "Mon 7 Dec 2026"
    assert format_day(date(2026, 3, 5), "nl") == "do 5 mrt 2026"
    assert format_day(date(2026, 5, 31), "en") == "Sun 31 May 2026"


# --- what each rule says ---------------------------------------------------------------------


def test_a_placement_in_dutch_names_group_dates_and_people_and_says_what_to_do_by_when() -> None:
    run = Run()
    run.feed(referral())
    notices = run.feed(placement(T0 + timedelta(hours=1)))
    coach = to(notices, TB)
    assert coach.language == "nl"
    assert coach.subject == "Plaatsing C-123: De Kreek (Ossendrecht) vanaf ma 7 dec 2026"
    text = flat(coach.text)
    assert "groep De Kreek (Ossendrecht), van ma 7 dec 2026 tot ma 1 feb 2027" in text
    assert "MST-therapeut: Lotte Smit. Trajectbegeleider: Luuk de Wit." in text
    assert "uiterlijk do 10 dec 2026" in text  # the startgesprek: the 3rd working day after the start
    assert (
        "Wat nu: bereid groep De Kreek (Ossendrecht) voor op de komst van de jongere op ma 7 dec 2026" in text
    )
    assert coach.act_by == "2026-12-07"
    # each role is told its own part
    assert "Wat nu: zorg dat Lotte Smit op ma 7 dec 2026 met MST kan beginnen." in flat(to(notices, SUP).text)
    assert "Wat nu: controleer de plaatsing op het bord" in flat(to(notices, COORD).text)


def test_a_placement_in_english_for_a_reader_who_reads_english() -> None:
    run = Run()
    run.feed(referral())
    notices = run.feed(placement(T0 + timedelta(hours=1)))
    therapist = to(notices, TH)
    assert therapist.language == "en"
    assert therapist.subject == "Placement C-123: De Kreek (Ossendrecht) from Mon 7 Dec 2026"
    assert "MST therapist: Lotte Smit. Trajectbegeleider: Luuk de Wit." in therapist.text
    assert "What now: put the start of MST with the family on Mon 7 Dec 2026 in your calendar" in flat(
        therapist.text
    )
    assert "Plaatsing" not in therapist.subject + therapist.text
    assert to(notices, REF).language == "en" and to(notices, COORD).language == "nl"


def test_the_mail_links_the_case_on_the_board_the_alerts_and_the_ack() -> None:
    run = Run()
    run.feed(referral())
    coach = to(run.feed(placement(T0 + timedelta(hours=1))), TB)
    mail = compose(
        coach,
        alert_id=7,
        token="t0k",
        base_url="https://notifier.example",
        board_url="https://board.example",
        address_of=lambda p: f"{p}@example.org",
        organizer="noreply@example.org",
    )
    assert "Casus C-123 op het bord: https://board.example/casussen/C-123" in mail.text
    assert "Al uw openstaande meldingen: https://board.example/meldingen" in mail.text
    assert "https://notifier.example/v1/notifications/7/ack?token=t0k" in mail.text
    assert "127.0.0.1" not in mail.text and "/v1/cases/" not in mail.text


def test_a_moved_placement_says_it_replaces_the_earlier_one_and_what_changed() -> None:
    run = Run()
    run.feed(referral(), placement(T0 + timedelta(hours=1)))
    moved = run.feed(
        placement(
            T0 + timedelta(hours=2),
            change="moved",
            group="L00-g1",
            location="L00",
            start=date(2026, 12, 9),
            end=date(2027, 2, 3),
            trajectbegeleider="tb-WBW-1",
        )
    )
    coordinator = to(moved, COORD)
    assert coordinator.subject == "Gewijzigd: plaatsing C-123: De Kastanje (Breda) vanaf wo 9 dec 2026"
    assert "Dit bericht vervangt het vorige bericht" in coordinator.text
    for line in (
        "- startdatum: was ma 7 dec 2026; nu wo 9 dec 2026",
        "- einddatum: was ma 1 feb 2027; nu wo 3 feb 2027",
        "- groep: was De Kreek (Ossendrecht); nu De Kastanje (Breda)",
        "- trajectbegeleider: was Luuk de Wit; nu Iris Dijkstra",
    ):
        assert line in coordinator.text, coordinator.text
    assert "MST-therapeut: was" not in coordinator.text  # unchanged: not listed
    therapist = to(moved, TH)
    assert therapist.subject.startswith("Changed: placement C-123")
    assert "- group: was De Kreek (Ossendrecht); now De Kastanje (Breda)" in therapist.text
    # the new trajectbegeleider was never told the earlier placement: theirs is no replacement
    newcomer = to(moved, "tb-WBW-1")
    assert newcomer.subject.startswith("Plaatsing C-123") and "was" not in newcomer.text


def test_a_moved_startgesprek_says_what_changed() -> None:
    run = placed()
    moved = run.feed(
        meeting(T0 + timedelta(hours=3), datetime(2026, 12, 10, 10, 0), 1, place="L00", attendees=[TH, TB])
    )
    invite = to(moved, TB, "startgesprek_invite")
    assert invite.subject == "Gewijzigd: startgesprek C-123 nu op do 10 dec 2026 om 10:00"
    assert "- begin: was di 8 dec 2026 om 13:30; nu do 10 dec 2026 om 10:00" in invite.text
    assert "- plaats: was Ossendrecht; nu Breda" in invite.text
    assert "- deelnemers: was Lotte Smit (MST-therapeut), Luuk de Wit (trajectbegeleider) en Jeroen" in flat(
        invite.text
    )
    dropped = to(moved, REF, "startgesprek_cancelled")
    assert dropped.subject == "Cancelled: startgesprek C-123 on Tue 8 Dec 2026 at 13:30"
    assert "you are no longer needed there" in flat(dropped.text)
    assert invite.meeting is not None and invite.meeting.sequence == 1


def test_a_case_waiting_for_a_machtiging_is_told_so_without_an_expected_start() -> None:
    run = Run()
    run.feed(referral())
    notices = run.feed(waitlisted(T0 + timedelta(minutes=5), "waiting for a machtiging"))
    dutch, english = to(notices, COORD), to(notices, REF)
    assert dutch.subject == "Casus C-123 wacht op een machtiging"
    assert "er is nog geen machtiging gesloten jeugdhulp" in dutch.text
    assert "daarom is er ook geen verwachte startdatum" in flat(dutch.text)
    assert "Verwachte start:" not in dutch.text and "verwachte start" not in dutch.subject.lower()
    assert english.subject == "Case C-123 waits for a machtiging"
    assert "so there is no expected start either" in flat(english.text)
    # by when: the referrer applies now, for the desired start
    assert "reaches the juvenile court as soon as possible: the desired start is Mon 7 Dec 2026" in flat(
        english.text
    )
    assert english.act_by is None and "expected start:" not in english.text.lower()


def test_a_case_waiting_for_a_bed_gets_the_expected_start_and_later_what_changed() -> None:
    run = Run()
    run.feed(referral())
    first = run.feed(waitlisted(T0 + timedelta(minutes=5), "no closed bed in reach before 2027-03-01"))
    assert to(first, COORD).subject == "Casus C-123 wacht op een plek (verwachte start: nog niet bekend)"
    assert "er is nog geen vrij bed op een passende groep" in to(first, COORD).text
    assert "2027-03-01" not in to(first, COORD).text
    later = run.feed(
        waitlisted(T0 + timedelta(hours=5), "not allowed to start before 2027-01-11", date(2027, 1, 11))
    )
    coordinator = to(later, COORD)
    assert coordinator.subject == "Casus C-123 wacht op een plek: nieuwe verwachte start ma 11 jan 2027"
    assert "- verwachte start: was nog niet bekend; nu ma 11 jan 2027" in coordinator.text
    assert to(later, REF).subject == "Case C-123 waits for a place: new expected start Mon 11 Jan 2027"
    assert coordinator.act_by == "2027-01-11"


def test_a_lost_placement_is_named_in_the_waitlisting_and_the_next_placement_is_news() -> None:
    run = Run()
    run.feed(referral(), placement(T0 + timedelta(hours=1)))
    lost = run.feed(
        ev.PlacementCancelled(
            occurred_at=T0 + timedelta(hours=2), case=CASE, reason="no_bed", explanation="x"
        ),
        waitlisted(T0 + timedelta(hours=2), "no_bed_in_time"),
    )
    coordinator = to(lost, COORD, "waitlisted")
    assert coordinator.subject == "Plaatsing C-123 gaat niet door: wacht weer op een plek"
    assert "op groep De Kreek (Ossendrecht) vanaf ma 7 dec 2026 gaat niet door" in flat(coordinator.text)
    assert "no_bed" not in coordinator.text and REASONS["no_bed_in_time"]["nl"] in coordinator.text
    # told once: the next waitlisting is about the wait, not the lost placement again
    later = run.feed(
        waitlisted(T0 + timedelta(hours=3), "not allowed to start before 2026-12-14", START + timedelta(7))
    )
    assert to(later, COORD).subject == "Casus C-123 wacht op een plek: nieuwe verwachte start ma 14 dec 2026"
    # a placement after the lost one is news, not a change of the lost one
    again = run.feed(placement(T0 + timedelta(hours=4), start=date(2026, 12, 14), end=date(2027, 2, 8)))
    assert to(again, COORD).subject == "Plaatsing C-123: De Kreek (Ossendrecht) vanaf ma 14 dec 2026"


def test_a_placement_lost_to_a_lapsed_machtiging_says_a_machtiging_is_needed_first() -> None:
    run = Run()
    run.feed(referral(), placement(T0 + timedelta(hours=1)))
    lost = run.feed(
        ev.PlacementCancelled(
            occurred_at=T0 + timedelta(hours=2), case=CASE, reason="machtiging_lapsed", explanation="x"
        ),
        waitlisted(
            T0 + timedelta(hours=2),
            "no machtiging allows the stay any more (lapsed 3 months after valid_from, or too short); "
            "waiting for a new machtiging",
        ),
    )
    referrer = to(lost, REF, "waitlisted")
    assert referrer.subject == "Placement C-123 is off: a machtiging is needed first"
    assert "so there is no expected start either" in flat(referrer.text)
    assert "Expected start:" not in referrer.text and "valid_from" not in referrer.text


def test_an_escalation_says_who_had_it_and_who_gets_it_next_and_when() -> None:
    run = placed()
    run.until(datetime(2026, 12, 31))
    unconfirmed = [n for n in run.out if n.kind == "startgesprek_unconfirmed"]
    first, escalated = to(unconfirmed, SUP), to(unconfirmed, COORD)
    assert first.subject == "Startgesprek C-123 niet bevestigd"
    assert (
        "Bevestigt niemand deze melding vóór do 10 dec 2026 om 17:00, dan gaat hij ook naar"
        " Annemiek Vermeulen." in flat(first.text)
    )
    assert first.act_by == "2026-12-10T17:00"
    assert escalated.subject == "Escalatie: startgesprek C-123 nog steeds niet bevestigd"
    assert "Deze melding ging eerder naar Marloes de Vries en is nog door niemand bevestigd" in flat(
        escalated.text
    )
    assert "level" not in escalated.subject + escalated.text


def test_the_time_out_texts_name_the_group_and_keep_the_address_at_intake() -> None:
    run = placed()
    urgent = run.feed(
        ev.TimeoutAssigned(
            occurred_at=datetime(2027, 1, 5, 22),
            case=CASE,
            group="L01-g2",
            location="L01",
            start=date(2027, 1, 6),
            end=date(2027, 1, 9),
            mst_therapist=TH,
            trajectbegeleider=TB,
        )
    )
    coach = to(urgent, TB, "timeout_assigned")
    assert coach.urgent and coach.subject == "Time-out C-123: De Kreek (Ossendrecht) vanaf wo 6 jan 2027"
    mail = composed(coach)
    assert mail.subject.startswith("[SPOED] Time-out C-123")


def refused_time_out(at: datetime, reason: str, therapist: str | None = TH) -> ev.RequestRefused:
    return ev.RequestRefused(
        occurred_at=at,
        case=CASE,
        event="timeout_request",
        at=at,
        reason=reason,
        mst_therapist=therapist,
        home_region="WBW",
    )


# What only a message about the family could show: its birth date (as people write it, or ISO), its
# time-out address (or intake's page of it), and any template placeholder left unfilled.
FAMILY = ("ma 14 mrt 2013", "Thu 14 Mar 2013", "2013-03-14", "timeout-address", "adres", "address")


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("no_bed", "no_bed"),
        ("no_machtiging: the machtiging ends before the time-out", "no_machtiging"),
        ("not_in_home_phase", "not_in_home_phase"),
    ],
)
def test_a_refused_time_out_says_it_did_not_happen_why_and_what_to_do_today(reason: str, code: str) -> None:
    run = placed()
    notices = [
        n
        for n in run.feed(refused_time_out(datetime(2027, 1, 5, 21, 30), reason))
        if n.kind == "timeout_refused"
    ]
    coordinator, supervisor, therapist = to(notices, COORD), to(notices, SUP), to(notices, TH)
    assert (coordinator.language, supervisor.language, therapist.language) == ("nl", "nl", "en")
    assert coordinator.subject == f"Geen time-out voor C-123: {REASONS[code]['nl']}"
    assert therapist.subject == f"No time-out for C-123: {REASONS[code]['en']}"
    assert f"een time-out gevraagd, maar die gaat niet door: {REASONS[code]['nl']}." in flat(coordinator.text)
    assert "On Tue 5 Jan 2027 a time-out was requested for case C-123, but it did not happen" in flat(
        therapist.text
    )
    assert "zoek vandaag nog een bed of een andere veilige plek voor de jongere, en bel Lotte Smit" in flat(
        coordinator.text
    )
    assert "What now: contact the family today and arrange a safe alternative to the time-out" in flat(
        therapist.text
    )
    assert "Wat nu: zorg dat het vandaag gebeurt: Lotte Smit neemt contact op met het gezin" in flat(
        supervisor.text
    )
    for n in notices:
        assert n.urgent and n.act_by == "2027-01-05", n.key
        message = f"{n.subject}\n{n.text}"
        assert "{" not in message and "}" not in message, message  # no placeholder left
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", message), message  # no raw code
        assert not [i for i in IDS if i in message], message  # people by name
        assert not [f for f in FAMILY if f in message.lower()], message
        assert "nog niet bekend" not in message and "not known yet" not in message, message
    mail = composed(therapist)
    assert mail.subject.startswith("[URGENT] No time-out for C-123")


def test_a_refused_time_out_of_a_case_without_a_therapist_has_the_coordinators_act_with_the_referrer() -> (
    None
):
    run = Run()
    run.feed(referral(machtiging={"valid_from": date(2026, 12, 1), "valid_until": date(2027, 5, 31)}))
    notices = run.feed(refused_time_out(T0 + timedelta(hours=3), "not_in_home_phase", therapist=None))
    [coordinator] = [n for n in notices if n.kind == "timeout_refused"]
    assert coordinator.to == COORD and coordinator.urgent
    text = flat(coordinator.text)
    assert "MST-therapeut: nog niet bekend." in text
    assert (
        "er is nog geen MST-therapeut, dus spreek met Jeroen de Boer af wie vandaag contact opneemt" in text
    )
    assert "{" not in text and " bel " not in text.split("Wat nu:")[1]  # nobody to call yet


# --- nothing internal, unknown, self-contradicting or identifying ----------------------------


def everything() -> list[Notice]:
    """Every rule's messages for a case that goes through the whole table, plus an open-variant case."""
    run = placed()
    run.feed(
        placement(
            T0 + timedelta(hours=2), change="moved", group="L00-g1", location="L00", start=date(2026, 12, 9)
        ),
        meeting(T0 + timedelta(hours=2), datetime(2026, 12, 10, 10), 1, place="L00", attendees=[TH, TB]),
        ev.TimeoutAssigned(
            occurred_at=datetime(2027, 1, 5, 22),
            case=CASE,
            group="L00-g1",
            location="L00",
            start=date(2027, 1, 6),
            end=date(2027, 1, 9),
            mst_therapist=TH,
            trajectbegeleider=TB,
        ),
    )
    run.until(datetime(2027, 6, 1))
    other = "C-9"
    run.feed(
        referral("thuisbest_open", case=other, has_timeout_address=True, urgency="normal"),
        waitlisted(T0, "no open bed in reach before 2027-03-01").model_copy(update={"case": other}),
        ev.RequestRefused(
            occurred_at=datetime(2026, 12, 20, 20),
            case=other,
            event="timeout_request",
            at=datetime(2026, 12, 20, 20),
            reason="informal_network",
            mst_therapist=TH,
            home_region="WBW",
        ),
    )
    run.feed(refused_time_out(datetime(2027, 1, 20, 21), "no_bed"))
    lapsing = Run()
    lapsing.feed(referral(machtiging={"valid_from": date(2026, 12, 1), "valid_until": date(2027, 6, 1)}))
    lapsing.feed(waitlisted(T0 + timedelta(minutes=1), "waiting for a machtiging"))
    lapsing.until(datetime(2027, 6, 1))
    return run.out + lapsing.out + pathway_v2().out


def on_case(event: Any, case: str) -> Any:
    return event.model_copy(update={"case": case})


def kennismaking(at: datetime, start: datetime, sequence: int, attendees: list[str], case: str) -> Any:
    return meeting(at, start, sequence, place="home", attendees=attendees, case=case, meeting="kennismaking")


def pathway_v2() -> Run:
    """PATHWAY-V2's messages: a kennismakingsgesprek invited, moved and cancelled; an open-variant stay
    starting without a time-out address, handed over, its MST ending, closed with an outcome and
    followed up; a part-time stay of a kind without MST."""
    run = Run()
    case, open_kind, no_mst = "C-200", "thuisbest_open", "beter_met_thuis"
    kennis = datetime(2026, 12, 3, 14, 0)
    run.feed(
        referral(open_kind, case=case),
        kennismaking(T0 + timedelta(minutes=1), kennis, 1, [SUP, TB, REF], case),
        kennismaking(T0 + timedelta(hours=1), kennis + timedelta(hours=1), 2, [SUP, REF], case),
        ev.StartgesprekCancelled(
            occurred_at=T0 + timedelta(hours=2), case=case, meeting="kennismaking", sequence=3
        ),
        kennismaking(T0 + timedelta(hours=3), kennis, 4, [SUP, TB, REF], case),
        on_case(placement(T0 + timedelta(hours=4), kind=open_kind, group="L01-g0"), case),
        on_case(
            placement(
                datetime(2027, 1, 4, 8), kind=open_kind, group="L01-g0", change="handover",
                mst_therapist="th-WBW-1", handed_over_from=[TH],
            ),
            case,
        ),
    )  # fmt: skip
    run.until(datetime(2027, 5, 3))
    run.feed(ev.CaseClosed(occurred_at=datetime(2027, 5, 3, 10), case=case, with_outcome=True))
    run.until(datetime(2027, 12, 31))
    part_time = "C-300"
    run.feed(
        referral(no_mst, case=part_time),
        on_case(
            placement(
                T0 + timedelta(hours=1), kind=no_mst, group="L01-g1", mst_therapist=None,
                nights=["mon", "wed", "fri"],
            ),
            part_time,
        ),
    )  # fmt: skip
    return run


def test_every_rule_is_exercised_in_both_languages() -> None:
    notices = everything()
    kinds = {n.kind for n in notices}
    assert kinds >= {
        "referral_received",
        "placement_assigned",
        "waitlisted",
        "startgesprek_invite",
        "startgesprek_cancelled",
        "meeting_reminder",
        "startgesprek_unconfirmed",
        "return_home_review",
        "stay_exceeded",
        "machtiging_expiring",
        "machtiging_lapsing",
        "timeout_assigned",
        "timeout_informal_network",
        "timeout_refused",
        # PATHWAY-V2
        "kennismaking_invite",
        "kennismaking_cancelled",
        "timeout_address_missing",
        "mst_ending",
        "handover",
        "follow_up_due",
    }, kinds
    assert {n.language for n in notices} == {"nl", "en"}
    for kind in (
        "kennismaking_invite",
        "kennismaking_cancelled",
        "meeting_reminder",
        "mst_ending",
        "handover",
    ):
        assert {n.language for n in notices if n.kind == kind} == {"nl", "en"}, kind


def test_no_message_shows_an_id_a_code_an_unknown_value_or_bookkeeping() -> None:
    for n in everything():
        message = f"{n.subject}\n{n.text}"
        words = re.sub(r"https?://\S+", "", message)  # links carry the case reference, nothing else
        for internal in ("version", "sequence", "level", "None", "null", "#"):
            assert internal not in words, (n.key, internal, message)
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", words), (n.key, message)  # a raw code
        assert not [i for i in IDS if i in words], (n.key, message)  # people and places by name
        assert not re.findall(r"\d{4}-\d{2}-\d{2}", words), (n.key, message)  # dates as people write them
        lines = [line for line in words.splitlines() if not line.startswith("- ")]
        assert not re.findall(r"(?<![\w-])-(?![\w-])", "\n".join(lines)), (n.key, message)
        english = bool(re.search(r"\bthe\b", message, re.IGNORECASE))
        assert english == (n.language == "en"), (n.key, n.language, message)


def test_a_subject_names_the_case_and_never_the_youth_or_family() -> None:
    # The notifier never gets a name of the youth or family (intake keeps them); a rule cannot ask
    # for one (test_notifier_rules.py); every subject says for whom by the case reference.
    birth = date(2013, 3, 14)
    for n in everything():
        assert n.case in n.subject, n.subject
        assert format_day(birth, "nl") not in n.subject + n.text
        assert birth.isoformat() not in n.subject + n.text


def test_a_state_kept_before_the_notifier_remembered_what_it_told_still_reports_changes() -> None:
    run = Run()
    run.feed(referral(), placement(T0 + timedelta(hours=1)))
    state = run.engine.snapshot_case(CASE)
    assert state is not None and state["told"]["placement_assigned"][COORD]["group"] == "L01-g2"
    older = {k: v for k, v in state.items() if k != "told"}
    restored = NotificationEngine(network())
    restored.restore_case(CASE, older)
    moved = restored.handle(
        placement(T0 + timedelta(hours=2), change="moved", group="L00-g1", location="L00"),
        T0 + timedelta(hours=2),
    )
    assert "- groep: was De Kreek (Ossendrecht); nu De Kastanje (Breda)" in to(moved, COORD).text
    assert "Gewijzigd" in to(moved, COORD).subject


def test_a_person_unknown_to_the_network_reads_dutch_and_ids_stand_in_for_missing_names() -> None:
    nameless = load_network(DEMO)
    people = [p.model_copy(update={"name": None}) for p in nameless.people]
    run = Run(nameless.model_copy(update={"people": people}))
    run.feed(referral())
    notices = run.feed(placement(T0 + timedelta(hours=1)))
    assert "MST-therapeut: th-WBW-0. Trajectbegeleider: tb-WBW-0." in to(notices, TB).text
    assert {n.language for n in notices} == {"nl"}


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("waiting for a machtiging", "machtiging"),
        (
            "no machtiging allows the stay any more (lapsed 3 months after valid_from, or too short); "
            "waiting for a new machtiging",
            "machtiging_lapsed",
        ),
        ("too old for thuisbest after 2027-05-02 (or referred a year before)", "age"),
        ("not allowed to start before 2027-01-11", "horizon"),
        ("no closed bed in reach before 2027-03-01", "no_bed"),
        (
            "no closed bed in reach before 2027-02-01: the machtiging no longer allows a start after that"
            " (lapse or end)",
            "no_bed_in_time_machtiging",
        ),
        (
            "no open bed in reach before 2027-02-01: too old for thuisbest_open after 2027-02-01 (or"
            " referred a year before)",
            "no_bed_in_time_age",
        ),
        ("no closed bed with a free therapist and a startgesprek slot yet", "no_staff"),
        ("no_bed_in_time", "no_bed_in_time"),
        ("expected", "expected"),
        ("informal_network", "informal_network"),
        ("not_in_home_phase", "not_in_home_phase"),
        ("no_machtiging", "no_machtiging"),
        ("no_machtiging: the machtiging does not cover the longer stay", "no_machtiging"),
        ("no_bed: the bed is taken after the planned end", "no_bed"),
        ("duplicate: the case is already referred", "other"),
        ("already_withdrawn", "withdrawn"),
        ("something new", "other"),
        ("", None),
    ],
)
def test_a_schedulers_reason_reads_as_plain_words(reason: str, code: str | None) -> None:
    assert reason_code(reason) == code
    if code is not None:
        for lang in ("nl", "en"):
            text = REASONS[code][lang]
            assert "_" not in text and not re.search(r"\d{4}-\d{2}-\d{2}", text)
