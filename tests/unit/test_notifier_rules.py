"""The rules file: the shipped one is valid and covers DOMAIN.md's table; a new rule needs no code; mistakes
are reported with the rule and the key."""

from __future__ import annotations

import copy
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.notifier.engine import NotificationEngine
from services.notifier.rules import DEFAULT_RULES, RulesError, load_rules, parse_rules
from shared import events as ev
from tools.scenario import load_scenario

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "scenarios" / "landsdeel-zuid.json"
T0 = datetime(2026, 1, 5, 10, 0)

TABLE = {
    "referral_received",
    "placement_assigned",
    "waitlisted",
    "startgesprek_invite",
    "meeting_reminder",
    "startgesprek_unconfirmed",
    "return_home_review",
    "stay_exceeded",
    "machtiging_expiring",
    "machtiging_lapsing",
    "timeout_assigned",
    "timeout_informal_network",
    # PATHWAY-V2.md
    "kennismaking_invite",
    "timeout_refused",
    "timeout_address_missing",
    "mst_ending",
    "handover",
    "follow_up_due",
}


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    return data


def referral(case: str = "c1") -> ev.ReferralRegistered:
    return ev.ReferralRegistered(
        occurred_at=T0,
        case=case,
        kind="thuisbest",
        home_region="WBW",
        referrer="ref-WBW",
        urgency="normal",
        earliest_start=date(2026, 1, 7),
        stay_days=56,
        eligible_from=date(2021, 1, 1),
        eligible_until=date(2027, 1, 1),
    )


def test_shipped_rules_cover_the_domain_table() -> None:
    rules = load_rules()
    assert TABLE <= {r.name for r in rules.rules}
    assert rules["timeout_assigned"].urgent
    assert rules["timeout_informal_network"].address_to == ["therapist"]
    assert rules["timeout_refused"].urgent
    assert rules["timeout_refused"].recipients == ["coordinators", "therapist", "therapist_supervisor"]
    assert rules["startgesprek_invite"].ical == "request"
    assert rules["kennismaking_invite"].ical == "request" and rules["kennismaking_invite"].meetings == [
        "kennismaking"
    ]
    assert rules["meeting_reminder"].meetings == ["startgesprek", "kennismaking"]
    assert rules["startgesprek_unconfirmed"].meetings == ["startgesprek"]  # a kennismaking has none
    assert rules["timeout_address_missing"].recipients == ["therapist", "trajectbegeleider"]
    assert rules["mst_ending"].recipients == ["therapist", "therapist_supervisor", "referrer"]
    assert rules["handover"].recipients == ["successors", "coordinators", "therapist_supervisor", "referrer"]
    assert rules["follow_up_due"].recipients == ["trajectbegeleider"]


def test_a_rule_added_to_the_yaml_fires_without_code_changes(tmp_path: Path) -> None:
    data = shipped()
    data["rules"].append(
        {
            "name": "kennismaking_overdue",
            "description": "no kennismakingsgesprek held within 5 working days of the referral",
            "anchor": "referral.at",
            "offset": {"working_days": 5},
            "at": "10:30",
            "stop_on": [{"event": "meeting_held", "meeting": "kennismaking"}],
            "recipients": ["home_supervisors"],
            "escalation": {"every": {"hours": 24}, "max_levels": 1, "chain": [["coordinators"]]},
            "subject": "Kennismaking for {case} not held yet",
            "body": "Referral {case} from {referrer} has no kennismakingsgesprek yet (level {level}).",
        }
    )
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    network = load_scenario(SAMPLE).network
    engine = NotificationEngine(network, load_rules(path))
    engine.handle(referral("c1"), T0)
    engine.handle(referral("c2"), T0)
    engine.handle(
        ev.MeetingHeld(occurred_at=T0 + timedelta(days=1), case="c2", meeting="kennismaking"),
        T0 + timedelta(days=1),
    )
    fired = [n for n in engine.due(datetime(2026, 1, 31)) if n.kind == "kennismaking_overdue"]
    assert [(n.case, n.to, n.at, n.level) for n in fired] == [
        ("c1", "sup0", datetime(2026, 1, 12, 10, 30), 0),
        ("c1", "coord", datetime(2026, 1, 13, 10, 30), 1),
    ]
    assert "ref-WBW" in fired[0].text


def test_a_rule_can_be_dropped_too() -> None:
    data = shipped()
    data["rules"] = [r for r in data["rules"] if r["name"] != "referral_received"]
    engine = NotificationEngine(load_scenario(SAMPLE).network, parse_rules(data))
    assert engine.handle(referral(), T0) == []


def mutate(path: list[Any], value: Any = None, *, delete: bool = False, rule: str) -> dict[str, Any]:
    data = shipped()
    target = next(r for r in data["rules"] if r["name"] == rule)
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = copy.deepcopy(value)
    return data


@pytest.mark.parametrize(
    ("rule", "path", "value", "expected"),
    [
        ("waitlisted", ["recipients"], ["coordinators", "bosses"], "rule 'waitlisted', key 'recipients[1]'"),
        (
            "placement_assigned",
            ["trigger"],
            {"event": "placement_plannd"},
            "unknown event 'placement_plannd'",
        ),
        (
            "placement_assigned",
            ["trigger"],
            {"event": "placement_planned", "chnge": "new"},
            "rule 'placement_assigned', key 'trigger[0]': event placement_planned has no field 'chnge'",
        ),
        (
            "meeting_reminder",
            ["offset"],
            {"working_days": -1, "hours": 3},
            "rule 'meeting_reminder', key 'offset': give exactly one of hours, days, working_days, months",
        ),
        (
            "meeting_reminder",
            ["subject"],
            "Reminder for {case} on {colour}",
            "rule 'meeting_reminder': key 'subject.nl': unknown placeholder {colour}",
        ),
        (
            "meeting_reminder",
            ["subject", "en"],
            "Reminder for {case}, {youth_name}",
            "rule 'meeting_reminder': key 'subject.en': {youth_name}: a message never carries the youth's"
            " or the family's name",
        ),
        (
            "placement_assigned",
            ["body", "nl"],
            "Geboren op {birth_date}",
            "rule 'placement_assigned': key 'body.nl': {birth_date}: a message never carries",
        ),
        ("meeting_reminder", ["colour"], "red", "rule 'meeting_reminder', key 'colour': unknown key"),
        ("meeting_reminder", ["anchor"], "meeting.begin", "rule 'meeting_reminder', key 'anchor'"),
        (
            "meeting_reminder",
            ["anchor"],
            "startgesprek.start",
            "rule 'meeting_reminder': key 'anchor': startgesprek.start is the startgesprek's; a rule about"
            " startgesprek, kennismaking is anchored on meeting.start",
        ),
        ("meeting_reminder", ["meetings"], ["intake"], "rule 'meeting_reminder', key 'meetings[0]'"),
        (
            "meeting_reminder",
            ["meetings"],
            ["kennismaking", "kennismaking"],
            "rule 'meeting_reminder', key 'meetings': names a meeting twice",
        ),
        (
            "meeting_reminder",
            ["meetings"],
            ["startgesprek"],
            "rule 'meeting_reminder': key 'variants[0].when': 'kennismaking' needs kennismaking among the"
            " meetings",
        ),
        (
            "return_home_review",
            ["meetings"],
            ["startgesprek", "kennismaking"],
            "rule 'return_home_review': key 'meetings': a scheduled rule about several meetings is anchored"
            " on meeting.start or meeting.end",
        ),
        ("meeting_reminder", ["at"], 540, "rule 'meeting_reminder', key 'at': write the time in quotes"),
        ("meeting_reminder", ["at"], "nine", "rule 'meeting_reminder', key 'at': 'nine' is not"),
        (
            "startgesprek_unconfirmed",
            ["escalation", "chain"],
            [["boss"]],
            "rule 'startgesprek_unconfirmed', key 'escalation.chain[0][0]'",
        ),
        (
            "startgesprek_unconfirmed",
            ["escalation", "every"],
            {},
            "rule 'startgesprek_unconfirmed', key 'escalation.every': give exactly one",
        ),
        (
            "referral_received",
            ["deadline"],
            "{eligible_from}",
            "rule 'referral_received': key 'deadline': placeholder {eligible_from} is neither a fact",
        ),
        (
            "timeout_informal_network",
            ["address_to"],
            ["referrer"],
            "rule 'timeout_informal_network': key 'address_to': 'referrer' is not among the recipients",
        ),
        (
            "placement_assigned",
            ["body"],
            "Address: {timeout_address_link}",
            "rule 'placement_assigned': key 'body.nl': {timeout_address_link} needs address_to",
        ),
        (
            "timeout_informal_network",
            ["body", "en"],
            "Address: {timeout_address}",
            "rule 'timeout_informal_network': key 'body.en': {timeout_address} is gone: the address stays"
            " at intake",
        ),
        ("stay_exceeded", ["stop_on", 0, "if"], ["raining"], "rule 'stay_exceeded', key 'stop_on[0].if[0]'"),
        ("waitlisted", ["channel"], "emial", "rule 'waitlisted', key 'channel': 'emial' is not known"),
        (
            "timeout_informal_network",
            ["channel"],
            "webhook",
            "rule 'timeout_informal_network': key 'address_to': the link to the family's address is sent"
            " by email only",
        ),
        (
            "placement_assigned",
            ["trigger"],
            {"event": "placement_planned", "change": ["new", "moving"]},
            "rule 'placement_assigned', key 'trigger[0]': filter 'change': placement_planned never has"
            " 'moving' (known: new, moved, discharged, handover)",
        ),
        (
            "timeout_refused",
            ["trigger"],
            {"event": "request_refused", "reason": "no_bed: all full"},
            "rule 'timeout_refused', key 'trigger[0]': filter 'reason': 'no_bed: all full' is not one word",
        ),
        (
            "timeout_refused",
            ["trigger"],
            {"event": "request_refused", "reason": []},
            "rule 'timeout_refused', key 'trigger[0]': filter 'reason' lists no value",
        ),
        (
            "timeout_refused",
            ["trigger"],
            {"event": "request_refused", "if": ["timeout_on_groups"]},
            "rule 'timeout_refused', key 'trigger[0].if[0]'",
        ),
        (
            "startgesprek_unconfirmed",
            ["escalation", "every"],
            {"hours": 0},
            "rule 'startgesprek_unconfirmed', key 'escalation.every': must be a positive interval",
        ),
    ],
)
def test_a_bad_rule_is_reported_by_rule_and_key(
    rule: str, path: list[Any], value: Any, expected: str
) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(mutate(path, value, rule=rule), "custom.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("custom.yaml: invalid rules:")


def refusal(reason: str, event: str = "timeout_request") -> ev.RequestRefused:
    return ev.RequestRefused(occurred_at=T0, case="c1", event=event, at=T0, reason=reason)


def test_a_filter_matches_a_listed_value_or_a_listed_code_with_its_explanation() -> None:
    [matcher] = (
        parse_rules(
            mutate(
                ["trigger"],
                {"event": "request_refused", "when": {"event": "timeout_request"}, "reason": ["no_bed", "x"]},
                rule="timeout_refused",
            )
        )["timeout_refused"].trigger
        or []
    )
    assert matcher.when == {"event": ["timeout_request"], "reason": ["no_bed", "x"]}
    assert matcher.matches(refusal("no_bed"))
    assert matcher.matches(refusal("no_bed: every closed group is full"))
    assert matcher.matches(refusal("x"))
    assert not matcher.matches(refusal("no_bed_in_time"))  # another code, not an explanation
    assert not matcher.matches(refusal("no closed bed in reach before 2027-03-01"))
    assert not matcher.matches(refusal("informal_network"))
    assert not matcher.matches(refusal("no_bed", event="discharge"))
    assert not matcher.matches(referral())


def test_a_rule_with_neither_trigger_nor_anchor() -> None:
    with pytest.raises(RulesError, match="rule 'meeting_reminder': key 'trigger' or 'anchor'"):
        parse_rules(mutate(["anchor"], delete=True, rule="meeting_reminder"))


def test_duplicate_rule_names() -> None:
    data = shipped()
    data["rules"].append(copy.deepcopy(data["rules"][0]))
    with pytest.raises(RulesError, match="rule 'referral_received' appears twice"):
        parse_rules(data)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(bad)


# --- texts in every language -----------------------------------------------------------------


def test_every_shipped_text_is_given_in_dutch_and_english_and_differs() -> None:
    rules = load_rules()
    for rule in rules.rules:
        texts = [rule.subject, rule.body, *(t for v in rule.variants for t in (v.subject, v.body) if t)]
        texts += [*rule.actions.values(), *(t for v in rule.variants for t in v.actions.values())]
        for text in texts:
            assert text.nl.strip() and text.en.strip() and text.nl != text.en, (rule.name, text)


def test_a_plain_string_serves_every_language() -> None:
    data = mutate(["subject"], "Plaatsing {case}", rule="placement_assigned")
    rule = parse_rules(data)["placement_assigned"]
    assert rule.subject.nl == rule.subject.en == "Plaatsing {case}"


@pytest.mark.parametrize(
    ("rule", "path", "value", "expected"),
    [
        ("waitlisted", ["subject", "en"], None, "rule 'waitlisted', key 'subject.en': missing: every text"),
        ("waitlisted", ["subject", "de"], "Fall {case}", "rule 'waitlisted', key 'subject.de': unknown key"),
        (
            "waitlisted",
            ["variants", 0, "body", "nl"],
            None,
            "rule 'waitlisted', key 'variants[0].body.nl': missing",
        ),
        (
            "waitlisted",
            ["actions", "referrer", "en"],
            None,
            "rule 'waitlisted', key 'actions.referrer.en': missing",
        ),
        (
            "waitlisted",
            ["subject", "en"],
            "Waiting for a place",
            "rule 'waitlisted': key 'subject.en': a subject says for whom: put the case reference {case}",
        ),
        (
            "startgesprek_invite",
            ["body", "en"],
            "Invitation {case} (version {sequence})",
            "rule 'startgesprek_invite': key 'body.en': {sequence} is bookkeeping for dedupe keys",
        ),
        (
            "waitlisted",
            ["variants", 0, "when"],
            ["raining"],
            "rule 'waitlisted', key 'variants[0].when': unknown condition 'raining'",
        ),
        (
            "meeting_reminder",
            ["variants"],
            [{"when": ["escalated"], "subject": "Again {case}"}],
            "rule 'meeting_reminder': key 'variants[0].when': 'escalated' needs an escalation",
        ),
        ("meeting_reminder", ["variants"], [{"when": ["start"]}], "key 'variants[0]': give a subject"),
        (
            "waitlisted",
            ["actions", "therapist"],
            {"nl": "doe iets", "en": "do something"},
            "rule 'waitlisted': key 'actions.therapist': the rule never reaches 'therapist'",
        ),
        (
            "waitlisted",
            ["actions", "referrer"],
            None,
            "rule 'waitlisted': key 'actions': no text for referrer: give one, or a 'default'",
        ),
        (
            "referral_received",
            ["actions"],
            None,
            "rule 'referral_received': key 'body.nl': {action} needs actions",
        ),
        (
            "waitlisted",
            ["tracks"],
            None,
            "rule 'waitlisted': key 'variants[3].body.nl': {changes} needs tracks",
        ),
        (
            "waitlisted",
            ["tracks"],
            ["case"],
            "rule 'waitlisted': key 'tracks': 'case' cannot be tracked",
        ),
        (
            "meeting_reminder",
            ["tracks"],
            ["meeting_start"],
            "rule 'meeting_reminder': key 'tracks': only for immediate rules",
        ),
        ("waitlisted", ["act_by"], "reason", "rule 'waitlisted': key 'act_by': 'reason' is not a date fact"),
        (
            "meeting_reminder",
            ["act_by"],
            "next_escalation",
            "rule 'meeting_reminder': key 'act_by': next_escalation needs an escalation",
        ),
    ],
)
def test_a_bad_text_is_reported_by_rule_key_and_language(
    rule: str, path: list[Any], value: Any, expected: str
) -> None:
    data = mutate(path, value, delete=value is None, rule=rule)
    with pytest.raises(RulesError) as info:
        parse_rules(data, "custom.yaml")
    assert expected in str(info.value), str(info.value)


def test_the_readme_lists_every_shipped_rule() -> None:
    readme = (DEFAULT_RULES.parent / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", readme, re.MULTILINE))
    assert listed == {rule.name for rule in load_rules().rules}
