"""`thuisbest bench`: generated tiers simulated with the optimised and the fcfs policy, validated, compared.

A benchmark, not a test: it prints and writes one markdown table (optimized, fcfs, ratio), then the
targets of issue 11 for the contended tiers, each with its figure and pass or fail. It never fails.
With `--v2` every tier is generated as a PATHWAY-V2 scenario (the `parttime` tier always is), and the
table adds the version 2 KPIs and the part-time youths each policy fits on the same beds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.scheduler.core import SolverConfig
from shared.kinds import KINDS
from tools.generator import ALL_TIERS, TIERS, generate
from tools.scenario import load_scenario_dict
from tools.simulate import run_simulation
from tools.validator import validate_report


@dataclass
class Outcome:
    kpis: dict[str, Any]
    violations: int
    replans: int
    mean_replan: float
    max_replan: float
    gap_pct: float | None
    gap_max_pct: float | None
    optimal_pct: float | None
    fallbacks: int
    sim_seconds: float
    notifications: int = 0
    stay_exceeded: int = 0  # `stay_exceeded` notifications (noise in a simulation: stays end as planned)
    short_notice: int = 0  # meetings announced less than one working day ahead (`meeting_notice`)
    part_time_placed: int = 0  # placements of a part-time kind (PATHWAY-V2 weekly night patterns)
    part_time_referred: int = 0

    def kpi(self, key: str) -> Any:
        """A KPI of the report; None when the report does not carry it."""
        return self.kpis.get(key)

    @property
    def notifications_per_referral(self) -> float | None:
        referrals = self.kpis.get("referrals") or 0
        return self.notifications / referrals if referrals else None


def measure(scenario: dict[str, Any], policy: str, config: SolverConfig) -> Outcome:
    began = time.perf_counter()
    report, stats = run_simulation(load_scenario_dict(scenario), policy, config)
    seconds = time.perf_counter() - began
    data = report.model_dump(mode="json", by_alias=True)
    result = validate_report(scenario, data)
    gaps = stats.gaps
    return Outcome(
        kpis=data["kpis"],
        violations=len(result.violations),
        replans=stats.runs,
        mean_replan=stats.total_seconds / stats.runs if stats.runs else 0.0,
        max_replan=stats.max_seconds,
        gap_pct=100.0 * sum(gaps) / len(gaps) if gaps else None,
        gap_max_pct=100.0 * max(gaps) if gaps else None,
        optimal_pct=100.0 * stats.optimal / stats.runs if stats.runs and policy == "optimized" else None,
        fallbacks=stats.fallbacks,
        sim_seconds=seconds,
        notifications=len(data["notifications"]),
        stay_exceeded=sum(n["kind"] == "stay_exceeded" for n in data["notifications"]),
        short_notice=sum(v.rule == "meeting_notice" for v in result.violations),
        part_time_placed=sum(
            s["type"] == "placement" and KINDS[s["kind"]].part_time for s in data["stays"] if s.get("kind")
        ),
        part_time_referred=sum(
            e["type"] == "referral" and e["kind"] in KINDS and KINDS[e["kind"]].part_time
            for e in scenario["events"]
        ),
    )


ROWS: list[tuple[str, str]] = [
    ("placed", "placed"),
    ("mean wait (days)", "mean_wait_days"),
    ("p90 wait (days)", "p90_wait_days"),
    ("home region (%)", "home_region_pct"),
    ("mean travel (min)", "mean_travel_minutes"),
    ("startgesprek on time (%)", "startgesprek_on_time_pct"),
    ("time-outs within 1 day (%)", "timeouts_within_1_day_pct"),
    ("bed-nights used (%)", "bed_nights_used_pct"),
    ("mean days without care", "mean_days_without_care"),
    ("moves per announced placement", "moves_per_announced_placement"),
    # PATHWAY-V2 (a version 2 scenario)
    ("MST continuity (%)", "mst_continuity_pct"),
    ("kennismaking on time (%)", "kennismaking_on_time_pct"),
    ("mean residential days", "mean_residential_days"),
    ("at home after close (%)", "at_home_pct"),
    ("day activity after close (%)", "day_activity_pct"),
    ("no relapse at follow-up (%)", "no_relapse_pct"),
]
# The tiers whose targets the bench checks (issue 11), and those held to the national time limits.
TARGET_TIERS = ("tight", "national-tight")
NATIONAL_TIERS = ("national", "national-tight")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _ratio(a: Any, b: Any) -> str:
    if a is None or b is None or not isinstance(a, int | float) or not isinstance(b, int | float):
        return "-"
    if b == 0:
        return "-" if a == 0 else "inf"
    return f"{a / b:.2f}"


def table(results: dict[str, dict[str, Outcome]], seed: int) -> str:
    lines = [
        f"# ThuisBest bench (seed {seed})",
        "",
        "| tier | measure | optimized | fcfs | ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for tier, pair in results.items():
        opt, fcfs = pair["optimized"], pair["fcfs"]
        rows: list[tuple[str, Any, Any]] = [(label, opt.kpi(key), fcfs.kpi(key)) for label, key in ROWS]
        rows += [
            ("part-time youths placed", opt.part_time_placed, fcfs.part_time_placed),
            ("part-time youths referred", opt.part_time_referred, fcfs.part_time_referred),
            ("notifications per referral", opt.notifications_per_referral, fcfs.notifications_per_referral),
            ("stay_exceeded notifications", opt.stay_exceeded, fcfs.stay_exceeded),
            ("meetings announced < 1 working day ahead", opt.short_notice, fcfs.short_notice),
            ("violations", opt.violations, fcfs.violations),
            ("re-plans", opt.replans, fcfs.replans),
            ("re-plan seconds (mean)", opt.mean_replan, fcfs.mean_replan),
            ("re-plan seconds (max)", opt.max_replan, fcfs.max_replan),
            ("gap to CP-SAT bound (mean %)", opt.gap_pct, None),
            ("gap to CP-SAT bound (max %)", opt.gap_max_pct, None),
            ("re-plans proven optimal (%)", opt.optimal_pct, None),
            ("greedy fallbacks", opt.fallbacks, None),
            ("total sim seconds", opt.sim_seconds, fcfs.sim_seconds),
        ]
        for label, a, b in rows:
            lines.append(f"| {tier} | {label} | {_fmt(a)} | {_fmt(b)} | {_ratio(a, b)} |")
    for tier, pair in results.items():
        if tier in TARGET_TIERS:
            lines += ["", f"## Targets: {tier} (optimized against fcfs)", ""]
            lines += ["| target | figure | result |", "| --- | ---: | --- |"]
            for label, figure, ok in targets(tier, pair["optimized"], pair["fcfs"]):
                lines.append(f"| {label} | {_fmt(figure)} | {'pass' if ok else 'FAIL'} |")
    return "\n".join(lines) + "\n"


def targets(tier: str, opt: Outcome, fcfs: Outcome) -> list[tuple[str, Any, bool]]:
    """Issue 11's targets for the optimized run of `tier`: (what, the figure, met). A missing figure fails."""

    def check(label: str, figure: Any, ok: Callable[[float], bool]) -> tuple[str, Any, bool]:
        return label, figure, isinstance(figure, int | float) and ok(figure)

    def times(factor: float, base: Any) -> float:
        return factor * base if isinstance(base, int | float) else float("nan")

    base_notices = fcfs.notifications_per_referral
    base_without = fcfs.kpi("mean_days_without_care")
    out = [
        check(
            f"notifications per referral <= 1.2 x fcfs ({_fmt(base_notices)})",
            opt.notifications_per_referral,
            lambda v: v <= times(1.2, base_notices),
        ),
        check(f"placed >= fcfs ({fcfs.kpi('placed')})", opt.kpi("placed"), lambda v: v >= fcfs.kpi("placed")),
        check(
            f"mean days without care <= 0.85 x fcfs ({_fmt(base_without)})",
            opt.kpi("mean_days_without_care"),
            lambda v: v <= times(0.85, base_without),
        ),
        check(
            "moves per announced placement <= 0.2",
            opt.kpi("moves_per_announced_placement"),
            lambda v: v <= 0.2,
        ),
        check(
            f"time-outs within 1 day (%) >= fcfs ({_fmt(fcfs.kpi('timeouts_within_1_day_pct'))})",
            opt.kpi("timeouts_within_1_day_pct"),
            lambda v: v >= fcfs.kpi("timeouts_within_1_day_pct"),
        ),
        check("meetings announced < 1 working day ahead == 0", opt.short_notice, lambda v: v == 0),
        check("violations == 0", opt.violations, lambda v: v == 0),
    ]
    if tier in NATIONAL_TIERS:
        out += [
            check("re-plan seconds (max) <= 2", opt.max_replan, lambda v: v <= 2.0),
            check("total optimized sim seconds <= 300", opt.sim_seconds, lambda v: v <= 300.0),
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thuisbest bench", description=__doc__)
    parser.add_argument("--tiers", default=",".join(TIERS), help=f"comma-separated, of {','.join(ALL_TIERS)}")
    parser.add_argument("--v2", action="store_true", help="generate PATHWAY-V2 scenarios (version 2)")
    parser.add_argument("--days", type=int, default=None, help="days each scenario spans (the tier's own)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench.md", help="markdown file to write")
    parser.add_argument("--time-limit", type=float, default=None, help="solver seconds per re-plan")
    args = parser.parse_args(argv)
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    unknown = [t for t in tiers if t not in ALL_TIERS]
    if unknown:
        print(
            f"thuisbest bench: unknown tier(s) {', '.join(unknown)}; use {', '.join(ALL_TIERS)}",
            file=sys.stderr,
        )
        return 2
    config = SolverConfig() if args.time_limit is None else SolverConfig(time_limit_s=args.time_limit)
    results: dict[str, dict[str, Outcome]] = {}
    for tier in tiers:
        scenario = generate(tier, args.seed, days=args.days, version=2 if args.v2 else None)
        results[tier] = {}
        for policy in ("optimized", "fcfs"):
            print(f"{tier}: simulating with {policy} ...", file=sys.stderr, flush=True)
            results[tier][policy] = measure(scenario, policy, config)
    text = table(results, args.seed)
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
