"""`thuisbest bench`: generated tiers simulated with the optimised and the fcfs policy, validated, compared.

A benchmark, not a test: it prints and writes one markdown table (optimized, fcfs, ratio).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.scheduler.core import SolverConfig
from tools.generator import TIERS, generate
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
    moves_per_placement: float


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
        moves_per_placement=stats.moves / stats.placements if stats.placements else 0.0,
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
]


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
        rows: list[tuple[str, Any, Any]] = [(label, opt.kpis[key], fcfs.kpis[key]) for label, key in ROWS]
        rows += [
            ("moves per published placement", opt.moves_per_placement, fcfs.moves_per_placement),
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
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thuisbest bench", description=__doc__)
    parser.add_argument("--tiers", default=",".join(TIERS), help="comma-separated: region,tight,national")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench.md", help="markdown file to write")
    parser.add_argument("--time-limit", type=float, default=None, help="solver seconds per re-plan")
    args = parser.parse_args(argv)
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        print(
            f"thuisbest bench: unknown tier(s) {', '.join(unknown)}; use {', '.join(TIERS)}", file=sys.stderr
        )
        return 2
    config = SolverConfig() if args.time_limit is None else SolverConfig(time_limit_s=args.time_limit)
    results: dict[str, dict[str, Outcome]] = {}
    for tier in tiers:
        scenario = generate(tier, args.seed)
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
