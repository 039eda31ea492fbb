"""The kinds table (shared/kinds.py) is the one place that says what differs by trajectory kind.

A hypothetical kind added as one row of the table is honoured by intake's rules, the events, the
planner, the simulation and the independent validator without any other code change; and no
source file outside the table compares or lists kind names.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_planner_support import START, Driver, event, network, placement, referral, run, scenario

from services.intake.rules import referral_problems, to_case_event
from shared.events import ReferralRegistered
from shared.inputs import ReferralEvent
from shared.kinds import (
    KIND_TABLE,
    KINDS,
    KindSpec,
    TimeoutRule,
    kind_for_group_kind,
    kind_spec,
    kinds_on,
)
from shared.network import NetworkIndex
from shared.settings import DEMO_NETWORK
from tools.scenario import load_scenario
from tools.validator import validate_report

ROOT = Path(__file__).resolve().parents[2]
DEMO = NetworkIndex(load_scenario(DEMO_NETWORK).network)
JSON = dict[str, Any]

# A kind for young children on open groups, short stays, no time-out at all (like `beter_met_thuis`).
KLEIN = KindSpec(
    name="klein_open",
    group_kind="open",
    min_age=6,
    max_age=11,
    min_stay=14,
    max_stay=28,
    default_stay=21,
    needs_machtiging=False,
    needs_mst_therapist=True,
    needs_trajectbegeleider=True,
    timeout=TimeoutRule.NO_TIMEOUT,
)
# A kind on closed groups without a court order whose time-outs are served on a closed group.
KORT = KindSpec(
    name="kort_gesloten",
    group_kind="closed",
    min_age=12,
    max_age=17,
    min_stay=14,
    max_stay=28,
    default_stay=28,
    needs_machtiging=False,
    needs_mst_therapist=True,
    needs_trajectbegeleider=True,
    timeout=TimeoutRule.CLOSED_GROUP,
)


@pytest.fixture
def extra_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rows added to the table, and nothing else changed."""
    for spec in (KLEIN, KORT):
        monkeypatch.setitem(KINDS, spec.name, spec)


def d(n: int) -> date:
    return START + timedelta(n)


# --- the table itself ---------------------------------------------------------------------------


def test_the_table_holds_the_domain_kinds() -> None:
    assert KINDS == {spec.name: spec for spec in KIND_TABLE}
    closed, opened = KINDS["thuisbest"], KINDS["thuisbest_open"]
    assert (closed.group_kind, closed.min_age, closed.max_age) == ("closed", 12, 17)
    assert (closed.min_stay, closed.max_stay, closed.default_stay) == (42, 56, 56)
    assert closed.needs_machtiging and closed.timeout_on_group and closed.timeout_refusal is None
    assert closed.timeout_group_kind == "closed" and not closed.timeout_address_expected
    assert (opened.group_kind, opened.min_age, opened.max_age) == ("open", 10, 19)
    assert (opened.min_stay, opened.max_stay, opened.default_stay) == (28, 42, 42)
    assert not opened.needs_machtiging and not opened.timeout_on_group
    assert opened.timeout_refusal == "informal_network" and opened.timeout_address_expected
    plus, thuis = KINDS["gezinsbehandeling_plus"], KINDS["beter_met_thuis"]
    assert (plus.group_kind, plus.min_age, plus.max_age) == ("day", 12, 17)
    assert (plus.min_stay, plus.max_stay, plus.default_stay) == (56, 112, 84) and plus.stay_in_weeks
    assert plus.timeout_refusal == "informal_network" and plus.needs_mst_therapist and not plus.part_time
    assert (thuis.group_kind, thuis.min_age, thuis.max_age) == ("part_time", 6, 15)
    assert (thuis.min_stay, thuis.max_stay, thuis.default_stay) == (182, 364, 273)
    assert thuis.nights_per_week == (2, 5) and thuis.part_time and not thuis.needs_mst_therapist
    assert thuis.timeout_refusal == "no_timeout_in_kind" and not thuis.needs_machtiging
    assert thuis.promise_days == 3 and plus.promise_days is None and plus.stay_field == "program_weeks"
    for spec in KIND_TABLE:
        assert spec.needs_trajectbegeleider


def test_lookups_by_name_and_by_group_kind() -> None:
    assert kind_spec("thuisbest") is KINDS["thuisbest"]
    with pytest.raises(KeyError, match="known: thuisbest, thuisbest_open, gezinsbehandeling_plus"):
        kind_spec("residential")
    assert kind_for_group_kind("closed").name == "thuisbest"
    assert kind_for_group_kind("open").name == "thuisbest_open"
    assert kind_for_group_kind("day").name == "gezinsbehandeling_plus"
    assert [k.name for k in kinds_on("part_time")] == ["beter_met_thuis"]
    assert kinds_on("weekend") == []
    with pytest.raises(ValueError, match="found none"):
        kind_for_group_kind("weekend")


def test_a_row_that_contradicts_itself_is_refused() -> None:
    with pytest.raises(ValueError, match="default_stay"):
        KindSpec("x", "open", 6, 11, 14, 28, 30, False, True, True, TimeoutRule.NO_TIMEOUT)
    with pytest.raises(ValueError, match="min_age"):
        KindSpec("x", "open", 12, 11, 14, 28, 21, False, True, True, TimeoutRule.NO_TIMEOUT)


def test_the_new_kinds_of_pathway_v2_fit_the_row_type() -> None:
    """PATHWAY-V2's kinds are expressible as rows (their group kinds come with another change)."""
    plus = KindSpec(
        "gezinsbehandeling_plus", "day", 12, 17, 56, 112, 84, False, True, True, TimeoutRule.INFORMAL_NETWORK
    )
    thuis = KindSpec(
        "beter_met_thuis", "part_time", 6, 15, 182, 364, 273, False, False, True, TimeoutRule.NO_TIMEOUT
    )
    assert plus.timeout_refusal == "informal_network" and plus.timeout_address_expected
    assert thuis.timeout_refusal == "no_timeout_in_kind" and not thuis.needs_mst_therapist
    assert not thuis.timeout_on_group and thuis.timeout_group_kind is None


def test_event_kinds_are_checked_against_the_table() -> None:
    body: JSON = {
        "case": "c1",
        "occurred_at": "2026-01-05T10:00",
        "kind": "residential",
        "home_region": "N",
        "referrer": "ref-N",
        "urgency": "normal",
        "earliest_start": "2026-01-05",
        "stay_days": 42,
        "eligible_from": "2026-01-05",
        "eligible_until": "2027-01-05",
    }
    with pytest.raises(
        ValidationError, match=r"unknown kind 'residential' \(known: thuisbest, thuisbest_open, gez"
    ):
        ReferralRegistered.model_validate(body)
    assert ReferralRegistered.model_validate(body | {"kind": "thuisbest_open"}).kind == "thuisbest_open"


# --- a new row is honoured everywhere -----------------------------------------------------------


def _referral(**overrides: Any) -> ReferralEvent:
    base: JSON = {
        "at": "2026-01-05T10:00",
        "type": "referral",
        "case": "k1",
        "kind": "klein_open",
        "birth_date": "2017-03-02",
        "home_region": "WBW",
        "referrer": "ref-WBW",
        "urgency": "normal",
        "earliest_start": "2026-01-07",
    }
    return ReferralEvent.model_validate(base | overrides)


@pytest.mark.usefixtures("extra_kinds")
def test_intake_takes_its_age_stay_and_court_order_from_a_new_row() -> None:
    assert referral_problems(_referral(), DEMO) == []
    problems = {p.field: p.reason for p in referral_problems(_referral(birth_date="2013-03-02"), DEMO)}
    assert "age 12 is outside 6-11 for klein_open" in problems["birth_date"]
    problems = {p.field: p.reason for p in referral_problems(_referral(stay_days=35), DEMO)}
    assert "35 is outside 14-28 days for klein_open" in problems["stay_days"]
    machtiging = {"valid_from": "2026-01-07", "valid_until": "2026-06-01"}
    problems = {p.field: p.reason for p in referral_problems(_referral(machtiging=machtiging), DEMO)}
    assert "klein_open has no court order" in problems["machtiging"]
    registered = to_case_event(_referral(), DEMO)
    assert isinstance(registered, ReferralRegistered)
    assert (registered.kind, registered.stay_days) == ("klein_open", 21)
    # Eligible since 2023 and until 2029: published clipped to [referral day, a year later].
    assert (registered.eligible_from, registered.eligible_until) == (date(2026, 1, 5), date(2027, 1, 5))


def test_without_the_row_the_kind_is_unknown() -> None:
    problems = {p.field: p.reason for p in referral_problems(_referral(), DEMO)}
    assert problems["kind"].startswith("unknown kind 'klein_open'")


@pytest.mark.usefixtures("extra_kinds")
def test_planner_and_validator_place_a_new_kind_on_its_group_kind_and_refuse_its_time_out() -> None:
    events = [
        referral("k", kind="klein_open", stay=None, birth=date(2017, 6, 1)),
        event("timeout_request", "k", d(30), days=3),
    ]
    sc = scenario(network(), events)
    report, result = run(sc, "fcfs")  # also asserts the validator finds nothing
    stay = placement(report, "k")
    assert stay is not None and stay["group"] == "n-open"
    assert (date.fromisoformat(stay["end"]) - date.fromisoformat(stay["start"])).days == 21
    refused = [r for r in report["rejected"] if r["event"] == "timeout_request"]
    assert [r["reason"] for r in refused] == ["no_timeout_in_kind"]
    assert result.kpis["timeouts_within_1_day_pct"] == 100.0  # no request of a kind served on a group

    # The validator reads the same row: another refusal reason or another group is wrong.
    wrong = copy.deepcopy(report)
    next(r for r in wrong["rejected"] if r["event"] == "timeout_request")["reason"] = "informal_network"
    assert {v.rule for v in validate_report(sc, wrong).violations} == {"timeout"}
    wrong = copy.deepcopy(report)
    next(s for s in wrong["stays"] if s["case"] == "k")["group"] = "n-closed"
    assert "group_kind" in {v.rule for v in validate_report(sc, wrong).violations}


@pytest.mark.usefixtures("extra_kinds")
def test_a_new_kind_with_time_outs_but_no_court_order_gets_one_on_a_closed_group() -> None:
    events = [referral("k", kind="kort_gesloten", stay=14), event("timeout_request", "k", d(20), days=2)]
    report, result = run(scenario(network(), events), "fcfs")
    stay = placement(report, "k")
    assert stay is not None and stay["group"] == "n-closed"
    timeouts = [s for s in report["stays"] if s["type"] == "timeout"]
    assert [(s["group"], s["start"]) for s in timeouts] == [("n-closed", d(20).isoformat())]
    assert result.kpis["timeouts_within_1_day_pct"] == 100.0


@pytest.mark.usefixtures("extra_kinds")
def test_the_scheduler_refuses_with_the_rows_reason() -> None:
    driver = Driver(network())
    driver.send(referral("k", kind="klein_open", stay=None, birth=date(2017, 6, 1)))
    raw = event("timeout_request", "k", d(1), days=3)
    decisions = driver.send(raw)
    assert [(x.type, getattr(x, "reason", None)) for x in decisions] == [
        ("request_refused", "no_timeout_in_kind")
    ]


# --- no kind names outside the table ------------------------------------------------------------

# String constants equal to a kind name that are not kind names (the CLI program is `thuisbest`).
NOT_A_KIND = {("tools/cli.py", "prog")}


def _kind_constants(path: Path, names: set[str]) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    rel = path.relative_to(ROOT).as_posix()
    skip = {
        id(kw.value)
        for node in ast.walk(tree)
        for kw in getattr(node, "keywords", [])
        if (rel, kw.arg) in NOT_A_KIND
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in names and id(node) not in skip:
            yield node.lineno, str(node.value)


def test_kind_names_appear_only_in_the_kinds_table() -> None:
    names = {spec.name for spec in KIND_TABLE}
    table = ROOT / "shared" / "kinds.py"
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name!r}"
        for top in ("services", "shared", "tools")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path != table
        for line, name in _kind_constants(path, names)
    ]
    assert found == [], "kind names belong in shared/kinds.py only:\n" + "\n".join(found)
    assert set(_kind_constants(table, names)) != set()  # the check does see the table's names
