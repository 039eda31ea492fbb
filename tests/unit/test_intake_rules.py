"""Intake's rules and the scenario loader: every refusal names the field (or key and place) and the reason."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.intake.rules import looks_like_bsn, referral_problems, to_case_event
from shared.inputs import ReferralEvent
from shared.kinds import KINDS, add_months, eligible_window, lapse_date
from shared.network import NetworkIndex, ScenarioError
from shared.settings import DEMO_NETWORK
from tools.scenario import load_scenario, load_scenario_dict

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "scenarios" / "landsdeel-zuid.json"
NET = NetworkIndex(load_scenario(DEMO_NETWORK).network)


def ref(**overrides: Any) -> ReferralEvent:
    base: dict[str, Any] = {
        "at": "2026-01-05T10:00",
        "type": "referral",
        "case": "c1",
        "kind": "thuisbest",
        "birth_date": "2011-03-02",
        "home_region": "WBW",
        "referrer": "ref-WBW",
        "urgency": "normal",
        "earliest_start": "2026-01-07",
        "stay_days": 56,
        "machtiging": {"valid_from": "2026-01-07", "valid_until": "2026-07-06"},
    }
    return ReferralEvent.model_validate(base | overrides)


def fields(event: ReferralEvent) -> set[str]:
    return {p.field for p in referral_problems(event, NET)}


def test_a_valid_referral_has_no_problems() -> None:
    assert referral_problems(ref(), NET) == []


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"kind": "residential"}, "kind", "unknown kind"),
        ({"home_region": "XX"}, "home_region", "unknown region"),
        ({"referrer": "th-WBW-0"}, "referrer", "unknown referrer"),
        ({"birth_date": "2015-01-01"}, "birth_date", "age 11 is outside 12-17"),
        ({"birth_date": "2007-01-01"}, "birth_date", "age 19 is outside 12-17"),
        ({"stay_days": 70}, "stay_days", "outside 42-56"),
        (
            {"machtiging": {"valid_from": "2026-01-07", "valid_until": "2026-02-01"}},
            "stay_days",
            "cannot fit",
        ),
        ({"earliest_start": "2026-01-01"}, "earliest_start", "before the referral"),
        ({"case": "111222333"}, "case", "BSN"),
        ({"kind": "thuisbest_open", "stay_days": 30}, "machtiging", "no court order"),
    ],
)
def test_each_refusal_names_field_and_reason(overrides: dict[str, Any], field: str, words: str) -> None:
    problems = referral_problems(ref(**overrides), NET)
    assert any(p.field == field and words in p.reason for p in problems), problems


def test_all_problems_are_listed_at_once() -> None:
    assert fields(ref(home_region="XX", referrer="nobody", birth_date="2000-01-01")) >= {
        "home_region",
        "referrer",
        "birth_date",
    }


def test_machtiging_lapsing_before_the_earliest_start_is_refused() -> None:
    late = ref(
        earliest_start="2026-05-01", machtiging={"valid_from": "2026-01-07", "valid_until": "2026-12-31"}
    )
    assert "machtiging" in fields(late)


def test_bsn_elfproef() -> None:
    assert looks_like_bsn("111222333")
    assert not looks_like_bsn("111222334")
    assert not looks_like_bsn("c0001")
    assert not looks_like_bsn("1112223330")


def test_month_arithmetic_and_age_window() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert lapse_date(date(2026, 11, 30)) == date(2027, 2, 28)
    first, last = eligible_window(KINDS["thuisbest"], date(2012, 2, 29))
    assert first == date(2024, 2, 29) and last == date(2030, 2, 28)
    assert eligible_window(KINDS["thuisbest"], date(2011, 2, 28))[1] == date(2029, 2, 27)


def test_published_referral_carries_no_identity() -> None:
    event = to_case_event(ref(timeout_address="aunt, same town"), NET)
    payload = json.loads(event.model_dump_json())
    assert "birth_date" not in payload and "timeout_address" not in payload
    # The window is clipped to a year after the referral: the 18th birthday (2029) is not shown.
    assert payload["eligible_until"] == "2027-01-05"
    assert payload["stay_days"] == 56


def test_sample_scenario_loads() -> None:
    scenario = load_scenario(SAMPLE)
    assert len(scenario.events) == 185
    assert scenario.events[0].at == datetime(2026, 1, 5, 13, 30)


def test_unknown_key_is_named_with_its_place() -> None:
    data = json.loads(SAMPLE.read_text())
    data["locations"][1]["groups"][0]["colour"] = "red"
    data["events"][3]["foo"] = 1
    with pytest.raises(ScenarioError) as err:
        load_scenario_dict(data)
    text = str(err.value)
    assert "locations[1].groups[0].colour: unknown key" in text
    assert "events[3]" in text and "foo: unknown key" in text


def test_malformed_time_and_bad_reference_are_named() -> None:
    data = json.loads(SAMPLE.read_text())
    data["events"][0]["at"] = "2026-01-05 13:30"
    data["people"][1]["supervisor"] = "ghost"
    with pytest.raises(ScenarioError) as err:
        load_scenario_dict(data)
    assert "YYYY-MM-DDTHH:MM" in str(err.value)
    data["events"][0]["at"] = "2026-01-05T13:30"
    with pytest.raises(ScenarioError) as err:
        load_scenario_dict(data)
    assert "supervisor: unknown person 'ghost'" in str(err.value)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "s.json"
    broken.write_text("{not json")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load_scenario(broken)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")
