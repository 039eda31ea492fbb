"""The report's optional KPIs (PATHWAY-V2 "Report additions"): `mean_days_without_care`, recomputed by
the validator, and `moves_per_announced_placement`, counted from the scheduler's decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from test_validator import feasible, referral

from services.scheduler.core import SolverConfig
from shared.events import PlacementCancelled, PlacementPlanned, ReferralWithdrawn
from tools.generator import generate
from tools.scenario import Report, load_scenario_dict
from tools.simulate import _DecisionCounts, compute_kpis, simulate
from tools.validator import validate_report

JSON = dict[str, Any]
NOW = datetime(2026, 1, 5, 10, 0)


def both(scenario: JSON, report: JSON) -> tuple[JSON, JSON]:
    """compute_kpis (given the waiting cases) and the validator's recomputation, on one report."""
    scenario["events"].sort(key=lambda e: e["at"])
    waiting = [w["case"] for w in report["waiting"]]
    ours = compute_kpis(load_scenario_dict(scenario), report["stays"], report["meetings"], waiting=waiting)
    report["kpis"] = ours.model_dump(mode="json")
    return report["kpis"], validate_report(scenario, report).kpis


def test_days_without_care_counts_waiting_cases_to_the_end_or_their_withdraw() -> None:
    scenario, report = feasible()  # c1 and c2 start on their first possible day: 0 days each
    scenario["events"] += [
        referral("c3", earliest="2026-01-10"),  # still waiting at the end (06-30): 171 days
        referral("c4"),  # withdrawn on 01-20 before any start: 13 days (from 01-07)
        {"at": "2026-01-20T09:00", "type": "withdraw", "case": "c4"},
        referral("c5", machtiging=None),  # no machtiging yet: not eligible
        referral("c6", earliest="2026-07-03"),  # could not start before the end: not eligible
    ]
    report["waiting"] = [
        {"case": c, "reason": r}
        for c, r in [("c3", "no_bed"), ("c4", "withdrawn"), ("c5", "machtiging"), ("c6", "horizon")]
    ]
    ours, validator = both(scenario, report)
    print("mean_days_without_care", ours["mean_days_without_care"])
    assert ours == validator
    assert ours["mean_days_without_care"] == round((0 + 0 + 171 + 13) / 4, 2)
    assert ours["mean_wait_days"] == 0.0  # the placed cases' wait alone hides the waiting ones


def test_a_machtiging_granted_later_makes_a_waiting_case_eligible_from_its_valid_from() -> None:
    scenario, report = feasible()
    scenario["events"] += [
        referral("c5", machtiging=None),
        {
            "at": "2026-06-01T11:00",
            "type": "machtiging",
            "case": "c5",
            "valid_from": "2026-06-02",
            "valid_until": "2026-12-01",
        },
    ]
    report["waiting"] = [{"case": "c5", "reason": "no_bed"}]
    ours, validator = both(scenario, report)
    assert ours == validator
    assert ours["mean_days_without_care"] == round(28 / 3, 2)  # 06-02 .. 06-30


def test_reports_without_the_extras_load_and_dump_as_before() -> None:
    scenario, report = feasible()
    old = Report.model_validate(report)
    assert old.kpis.mean_days_without_care is None
    dumped = old.model_dump(mode="json")["kpis"]
    assert "mean_days_without_care" not in dumped and "moves_per_announced_placement" not in dumped
    # ... and the validator then recomputes only the KPIs it always did.
    assert "mean_days_without_care" not in validate_report(scenario, report).kpis


def planned(case: str, change: str, start: str = "2026-01-12") -> PlacementPlanned:
    day = date.fromisoformat(start)
    return PlacementPlanned(
        occurred_at=NOW,
        case=case,
        change=change,  # type: ignore[arg-type]
        kind="thuisbest",
        home_region="N",
        referrer="ref-n",
        group="g",
        location="loc",
        region="N",
        start=day,
        end=date(day.year, day.month + 2, day.day),
        mst_therapist="th",
        trajectbegeleider="tb",
        explanation="",
    )


def cancelled(case: str, reason: str = "no_bed") -> PlacementCancelled:
    return PlacementCancelled(occurred_at=NOW, case=case, reason=reason, explanation="")


def test_moves_count_moved_placements_and_cancels_of_cases_that_go_on() -> None:
    counts = _DecisionCounts()
    for item in [
        planned("a", "new"),
        planned("a", "moved", "2026-01-14"),  # a move
        planned("b", "new"),
        cancelled("b"),  # back on the waiting list: a move
        planned("b", "new", "2026-02-02"),  # announced again
        planned("c", "new"),
        ReferralWithdrawn(occurred_at=NOW, case="c"),
        cancelled("c", "withdrawn"),  # the family withdrew: not a move
        planned("d", "new"),
        planned("d", "discharged"),  # an ended stay's new end: not a move
    ]:
        counts.see(item)
    assert (counts.announced, counts.moves) == (5, 2)
    assert counts.moves_per_announced_placement == 0.4


@pytest.fixture(scope="module")
def generated() -> tuple[JSON, JSON]:
    scenario = generate("tight", 1, days=90)
    report = simulate(load_scenario_dict(scenario), "fcfs", SolverConfig(time_limit_s=0.5))
    return scenario, report.model_dump(mode="json", by_alias=True)


def test_simulation_and_validator_agree_on_a_generated_scenario(generated: tuple[JSON, JSON]) -> None:
    scenario, report = generated
    kpis = report["kpis"]
    print({k: kpis[k] for k in ("placed", "mean_wait_days", "mean_days_without_care")})
    print("moves_per_announced_placement", kpis["moves_per_announced_placement"])
    assert validate_report(scenario, report).kpis == kpis
    # Waiting youths count too: no less than the placed youths' wait, and some do wait here.
    assert len(report["waiting"]) > 0
    assert kpis["mean_days_without_care"] > 0 and kpis["mean_wait_days"] > 0
    assert 0 <= kpis["moves_per_announced_placement"] <= 1
