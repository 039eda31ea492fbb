"""`thuisbest bench`: the table rows and the targets section, formatted from made-up outcomes."""

from __future__ import annotations

from typing import Any

from tools.bench import Outcome, table, targets


def outcome(**changes: Any) -> Outcome:
    kpis = {
        "referrals": 100,
        "placed": 80,
        "mean_wait_days": 10.0,
        "p90_wait_days": 30.0,
        "home_region_pct": 50.0,
        "mean_travel_minutes": 20.0,
        "startgesprek_on_time_pct": 100.0,
        "bed_nights_used_pct": 60.0,
        "timeouts_requested": 10,
        "timeouts_within_1_day_pct": 90.0,
        "mean_days_without_care": 20.0,
        "moves_per_announced_placement": 0.05,
    }
    kpis.update(changes.pop("kpis", {}))
    fields: dict[str, Any] = {
        "kpis": kpis,
        "violations": 0,
        "replans": 50,
        "mean_replan": 0.5,
        "max_replan": 1.5,
        "gap_pct": 1.0,
        "gap_max_pct": 4.0,
        "optimal_pct": 80.0,
        "fallbacks": 0,
        "sim_seconds": 200.0,
        "notifications": 1000,
        "stay_exceeded": 0,
        "short_notice": 0,
    }
    return Outcome(**(fields | changes))


def test_targets_pass_when_optimized_beats_fcfs() -> None:
    fcfs = outcome(kpis={"placed": 75, "mean_days_without_care": 30.0}, notifications=900, stay_exceeded=4)
    opt = outcome()
    results = targets("national-tight", opt, fcfs)
    for label, figure, ok in results:
        print(f"{label}: {figure} {'pass' if ok else 'FAIL'}")
    assert len(results) == 9  # seven for every target tier, two more for a national one
    assert all(ok for _, _, ok in results)
    assert len(targets("tight", opt, fcfs)) == 7


def test_each_target_can_fail() -> None:
    fcfs = outcome(notifications=500)  # 5.0 per referral: the optimized 10.0 is over 1.2 x
    opt = outcome(
        kpis={
            "placed": 79,
            "mean_days_without_care": 18.0,  # over 0.85 x 20.0
            "moves_per_announced_placement": 0.25,
            "timeouts_within_1_day_pct": 80.0,
        },
        short_notice=1,
        violations=1,
        max_replan=2.5,
        sim_seconds=301.0,
    )
    results = targets("national-tight", opt, fcfs)
    print(results)
    assert [ok for _, _, ok in results] == [False] * 9


def test_a_missing_kpi_fails_its_target() -> None:
    opt = outcome()
    del opt.kpis["mean_days_without_care"]
    failed = [label for label, _, ok in targets("tight", opt, outcome()) if not ok]
    assert len(failed) == 1 and failed[0].startswith("mean days without care")


def test_table_has_the_new_rows_and_a_targets_section_per_target_tier() -> None:
    pair = {"optimized": outcome(stay_exceeded=0, short_notice=0), "fcfs": outcome(stay_exceeded=3)}
    text = table({"region": pair, "national-tight": pair}, seed=1)
    print(text)
    for row in (
        "| region | notifications per referral | 10.00 | 10.00 | 1.00 |",
        "| region | stay_exceeded notifications | 0 | 3 | 0.00 |",
        "| region | mean days without care | 20.00 | 20.00 | 1.00 |",
        "| region | moves per announced placement | 0.05 | 0.05 | 1.00 |",
        "| region | meetings announced < 1 working day ahead | 0 | 0 | - |",
        "| region | time-outs within 1 day (%) | 90.00 | 90.00 | 1.00 |",
    ):
        assert row in text
    assert "## Targets: national-tight" in text and "## Targets: region" not in text
    assert "| total optimized sim seconds <= 300 | 200.00 | pass |" in text
    assert "| mean days without care <= 0.85 x fcfs (20.00) | 20.00 | FAIL |" in text
