"""`tools.simulate.compute_kpis`, step by step, against the validator's KPIs on hand-built reports.

A simulation report carries the KPIs `compute_kpis` makes; `tools.validator.validate_report`
recomputes them independently. The sample-scenario test compares the two on one run only, which
never reaches some boundaries: the machtiging a wait counts from (a stay ending the day after
its valid_until is still covered) and the one-day window of a served time-out. Here both
implementations must agree on those boundaries, with the expected values pinned.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_validator import feasible, kpi_case, referral, stay, with_timeout

from tools.scenario import load_scenario_dict
from tools.simulate import compute_kpis
from tools.validator import validate_report

JSON = dict[str, Any]


def both_kpis(scenario: JSON, report: JSON) -> tuple[JSON, JSON]:
    """The KPIs of `compute_kpis` and of the validator on the same scenario and report."""
    scenario["events"].sort(key=lambda e: e["at"])
    ours = compute_kpis(load_scenario_dict(scenario), report["stays"], report["meetings"])
    return ours.model_dump(mode="json"), validate_report(scenario, report).kpis


def late_machtiging(referral_until: str) -> tuple[JSON, JSON]:
    """c3 is placed 01-12..03-09 with its referral's machtiging (from 01-06) and a later one (from 01-10)."""
    scenario, report = feasible()
    scenario["events"].append(
        referral(
            "c3", home="Z", referrer="ref-z", earliest="2026-01-06", machtiging=("2026-01-06", referral_until)
        )
    )
    scenario["events"].append(
        {
            "at": "2026-01-09T09:00",
            "type": "machtiging",
            "case": "c3",
            "valid_from": "2026-01-10",
            "valid_until": "2026-12-31",
        }
    )
    report["stays"].append(stay("c3", "z-closed", "2026-01-12", "2026-03-09", therapist="th-z"))
    return scenario, report


@pytest.mark.parametrize(
    ("referral_until", "c3_wait"),
    [
        ("2026-03-08", 6),  # the stay ends the day after valid_until: still covered, wait from 01-06
        ("2026-03-07", 2),  # not covered: the wait counts from the later machtiging's 01-10
    ],
)
def test_wait_counts_from_the_first_machtiging_covering_the_stay(referral_until: str, c3_wait: int) -> None:
    ours, validator = both_kpis(*late_machtiging(referral_until))
    assert ours == validator
    assert ours["mean_wait_days"] == round(c3_wait / 3, 2)  # c1 and c2 start on their earliest day


@pytest.mark.parametrize(
    ("timeout_start", "served_pct"),
    [("2026-03-10", 100.0), ("2026-03-11", 100.0), ("2026-03-12", 0.0), ("2026-03-09", 0.0)],
)
def test_a_timeout_is_served_on_the_request_day_or_the_next(timeout_start: str, served_pct: float) -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)  # asked 03-10; its stay is moved to `timeout_start` below
    report["stays"][-1]["start"] = timeout_start
    ours, validator = both_kpis(scenario, report)
    assert ours == validator
    assert ours["timeouts_within_1_day_pct"] == served_pct


def test_one_timeout_stay_serves_one_request() -> None:
    scenario, report = feasible()
    with_timeout(scenario, report)
    scenario["events"].append({"at": "2026-03-10T11:00", "type": "timeout_request", "case": "c1", "days": 5})
    ours, validator = both_kpis(scenario, report)
    assert ours == validator
    assert ours["timeouts_requested"] == 2
    assert ours["timeouts_within_1_day_pct"] == 50.0


@pytest.mark.parametrize("case", ["feasible", "kpi_case", "nothing_placed", "no_meetings"])
def test_compute_kpis_matches_the_validator(case: str) -> None:
    scenario, report = kpi_case() if case == "kpi_case" else feasible()
    if case == "nothing_placed":
        report["stays"], report["meetings"] = [], []
    if case == "no_meetings":
        report["meetings"] = []
    ours, validator = both_kpis(scenario, report)
    assert ours == validator
