"""The rules file: the shipped one is valid and covers DOMAIN.md's table; a new rule needs no code; mistakes
are reported with the rule and the key."""

from __future__ import annotations

import copy
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
    assert rules["startgesprek_invite"].ical == "request"


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
            "rule 'meeting_reminder', key 'offset': give exactly one of hours, days, working_days",
        ),
        (
            "meeting_reminder",
            ["subject"],
            "Reminder for {youth_name}",
            "rule 'meeting_reminder': key 'subject': unknown placeholder {youth_name}",
        ),
        ("meeting_reminder", ["colour"], "red", "rule 'meeting_reminder', key 'colour': unknown key"),
        ("meeting_reminder", ["anchor"], "meeting.start", "rule 'meeting_reminder', key 'anchor'"),
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
            "rule 'placement_assigned': key 'body': {timeout_address_link} needs address_to",
        ),
        (
            "timeout_informal_network",
            ["body"],
            "Address: {timeout_address}",
            "rule 'timeout_informal_network': key 'body': {timeout_address} is gone: the address stays at"
            " intake",
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
