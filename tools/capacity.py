"""`thuisbest capacity`: how many beds and staff per region meet a wait target, by simulation.

A one-factor-at-a-time sweep: one resource of one region is moved around the scenario's current
capacity while everything else stays as it is; each capacity point is simulated for several
replications of the arrivals with the very simulator of `thuisbest simulate` (no second model).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from services.scheduler.core import SolverConfig
from shared.inputs import CapacityEvent
from shared.network import ScenarioError, read_json_file
from tools.scenario import Report, Scenario, load_scenario_dict
from tools.simulate import p90, run_simulation, youth_waits

BED_RESOURCES = {"closed_beds": "closed", "open_beds": "open"}
STAFF_RESOURCES = {"mst_therapists": "mst_therapist", "trajectbegeleiders": "trajectbegeleider"}
RESOURCES = (*BED_RESOURCES, *STAFF_RESOURCES)
# KPIs a target may name: all are per run, averaged over the replications.
KPI_NAMES = (
    "mean_wait_days",
    "p90_wait_days",
    "placed",
    "placed_pct",
    "waiting",
    "bed_nights",
    "cost_per_placement",
    "home_region_pct",
    "startgesprek_on_time_pct",
)
# The wait KPIs a region's answer is judged on: its own youths' waits (home region), counting the
# youths still waiting at the end of the run with the days waited so far. The network-wide KPIs of
# the simulator's report count placed youths only.
REGION_KPIS = ("mean_wait_days", "p90_wait_days")
ENDED = ("withdrawn", "closed")  # the report's waiting list also names cases that ended


def kpi_of(kpis: dict[str, Any], region: str, name: str) -> float:
    """A run's (or the replications' mean) value of KPI `name` as it counts for `region`."""
    if name in REGION_KPIS:
        return float(kpis["region_wait"][f"{region}/{name}"])
    return float(kpis[name])


OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}
JITTER_DAYS = 3  # a resampled case arrives up to this many days earlier or later
MAX_STEP = 50  # a range reaching further than this from the current capacity is a typo


class CapacityInputError(ValueError):
    """Bad input, named by its option: the command prints it on one line and exits 2."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")


# --- options -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    kpi: str
    op: str
    value: float

    def met(self, value: float) -> bool:
        return OPS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.kpi}{self.op}{self.value:g}"


def parse_target(text: str) -> Target:
    """`KPI OP NUMBER`, e.g. `p90_wait_days<=14`."""
    match = re.fullmatch(r"\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*([-+]?\d+(?:\.\d+)?)\s*", text)
    if not match:
        raise CapacityInputError("--target", f"{text!r} is not KPI OP NUMBER (OP one of <=, >=, <, >)")
    kpi, op, number = match.groups()
    if kpi not in KPI_NAMES:
        raise CapacityInputError("--target", f"unknown KPI {kpi!r}; known KPIs: {', '.join(KPI_NAMES)}")
    return Target(kpi, op, float(number))


def parse_range(option: str, text: str) -> tuple[int, int]:
    """`LOW..HIGH` steps relative to the current capacity (`-2..+2`), or one step (`+1`)."""
    match = re.fullmatch(r"\s*([-+]?\d+)\s*(?:\.\.\s*([-+]?\d+)\s*)?", text)
    if not match:
        raise CapacityInputError(option, f"{text!r} is not a range LOW..HIGH of whole steps, e.g. -2..+2")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    if low > high:
        raise CapacityInputError(option, f"range {text!r} runs backwards: write LOW..HIGH with LOW <= HIGH")
    if max(abs(low), abs(high)) > MAX_STEP:
        raise CapacityInputError(option, f"range {text!r} reaches more than {MAX_STEP} steps from now")
    return low, high


def parse_list(option: str, text: str, known: Iterable[str], what: str) -> list[str]:
    """A comma-separated list, each item one of `known`."""
    allowed = list(known)
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise CapacityInputError(option, f"name at least one {what}")
    for item in items:
        if item not in allowed:
            raise CapacityInputError(option, f"unknown {what} {item!r}; known: {', '.join(allowed)}")
    return items


# --- capacity of a scenario --------------------------------------------------------------------


def _groups(data: dict[str, Any], region: str, kind: str) -> list[dict[str, Any]]:
    return [
        g for loc in data["locations"] if loc["region"] == region for g in loc["groups"] if g["kind"] == kind
    ]


def _staff(data: dict[str, Any], region: str, role: str) -> list[dict[str, Any]]:
    return [p for p in data["people"] if p["role"] == role and region in p.get("regions", [])]


def current_capacity(data: dict[str, Any], region: str, resource: str) -> int:
    """Beds of the region's groups of a kind, or people of a role working in the region."""
    if resource in BED_RESOURCES:
        return sum(int(g["beds"]) for g in _groups(data, region, BED_RESOURCES[resource]))
    return len(_staff(data, region, STAFF_RESOURCES[resource]))


def floor_capacity(data: dict[str, Any], region: str, resource: str) -> int:
    """The least the sweep can go to: staff who also serve other regions are never removed."""
    if resource in BED_RESOURCES:
        return 0
    role = STAFF_RESOURCES[resource]
    return sum(1 for p in _staff(data, region, role) if p.get("regions") != [region])


def with_capacity(data: dict[str, Any], region: str, resource: str, value: int) -> dict[str, Any]:
    """A copy of the scenario dict with `value` of `resource` in `region`.

    Beds: added one at a time to the region's group of that kind with the fewest beds, removed from
    the one with the most (time-out beds and `capacity` events of a changed group move with it, never
    below 0). Staff: people of the role are added as copies of one of the region's own (same
    `max_cases` and supervisor, no busy blocks) or the last ones serving only this region removed.
    """
    out = copy.deepcopy(data)
    now = current_capacity(out, region, resource)
    if resource in BED_RESOURCES:
        groups = _groups(out, region, BED_RESOURCES[resource])
        before = {g["id"]: int(g["beds"]) for g in groups}
        for _ in range(abs(value - now)):
            if value > now:
                min(groups, key=lambda g: g["beds"])["beds"] += 1
            else:
                max(groups, key=lambda g: g["beds"])["beds"] -= 1
        for g in groups:
            g["timeout_beds"] = min(int(g.get("timeout_beds", 0)), int(g["beds"]))
        delta = {g["id"]: int(g["beds"]) - before[g["id"]] for g in groups}
        for ev in out.get("events", []):
            if ev.get("type") == "capacity" and delta.get(ev["group"]):
                ev["beds"] = max(0, int(ev["beds"]) + delta[ev["group"]])
        return out
    role = STAFF_RESOURCES[resource]
    own = [p for p in _staff(out, region, role) if p.get("regions") == [region]]
    if value > now:
        template = (own or _staff(out, region, role))[0]
        ids = {p["id"] for p in out["people"]}
        for k in range(value - now):
            person = dict(template, regions=[region])
            n = k
            while f"{template['id']}-extra{n}" in ids:
                n += 1
            person["id"] = f"{template['id']}-extra{n}"
            ids.add(person["id"])
            out["people"].append(person)
    elif value < now:
        gone = {p["id"] for p in own[len(own) - (now - value) :]}
        out["people"] = [p for p in out["people"] if p["id"] not in gone]
        out["busy"] = [b for b in out.get("busy", []) if b["person"] not in gone]
    return out


# --- replications ------------------------------------------------------------------------------

_DATE_FIELDS = ("earliest_start", "valid_from", "valid_until", "date")


def _shift_event(ev: dict[str, Any], days: int) -> dict[str, Any]:
    """The event `days` later: its time and every date of it (not the birth date)."""
    out = copy.deepcopy(ev)
    out["at"] = (datetime.fromisoformat(ev["at"]) + timedelta(days)).strftime("%Y-%m-%dT%H:%M")
    for key in _DATE_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = (date.fromisoformat(out[key]) + timedelta(days)).isoformat()
    m = out.get("machtiging")
    if isinstance(m, dict):
        for key in ("valid_from", "valid_until"):
            m[key] = (date.fromisoformat(m[key]) + timedelta(days)).isoformat()
    return out


def replicate(data: dict[str, Any], replication: int, seed: int = 1) -> dict[str, Any]:
    """The scenario's arrivals for one replication: 0 is the scenario itself; each other one draws its
    referrals with replacement (bootstrap, same count) and moves each drawn case, with all its events,
    by up to JITTER_DAYS days (never before the scenario's start). Seeded: the same for the same
    arguments."""
    if replication == 0:
        return data
    rng = random.Random(f"thuisbest-capacity-{seed}-{replication}")
    events = data.get("events", [])
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    referrals: list[dict[str, Any]] = []
    for ev in events:
        if ev["type"] == "referral":
            if ev["case"] not in by_case:
                referrals.append(ev)
        if "case" in ev and ev["type"] != "capacity":
            by_case[ev["case"]].append(ev)
    start = datetime.fromisoformat(data["start"]) if data.get("start") else None
    drawn: list[dict[str, Any]] = [ev for ev in events if ev["type"] == "capacity"]
    copies: dict[str, int] = defaultdict(int)
    names: list[tuple[str, str]] = []  # (original case, this copy's case)
    for ref in (rng.choice(referrals) for _ in referrals):
        case = ref["case"]
        copies[case] += 1
        name = case if copies[case] == 1 else f"{case[:30]}.{copies[case]}"
        names.append((case, name))
        days = rng.randint(-JITTER_DAYS, JITTER_DAYS)
        if start is not None:
            days = max(days, -(datetime.fromisoformat(ref["at"]) - start).days)
        for ev in by_case[case]:
            moved = _shift_event(ev, days)
            moved["case"] = name
            drawn.append(moved)
    present = {name for _, name in names}
    for ev in drawn:
        if ev["type"] == "referral" and ev.get("conflicts_with"):
            ev["conflicts_with"] = [c for c in ev["conflicts_with"] if c in present and c != ev["case"]]
    drawn.sort(key=lambda ev: ev["at"])  # stable: equal times keep their order
    return dict(data, events=drawn)


# --- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One capacity of the sweep: `resource` of `region` at `value` (None: the scenario as it is)."""

    region: str | None
    resource: str | None
    value: int | None


def run_kpis(scenario: Scenario, report: Report, price_per_bed_night: float) -> dict[str, Any]:
    """The sweep's KPIs of one run: the simulator's own wait KPIs, occupancy and bed-nights."""
    k = report.kpis
    first = scenario.start or min((s.start for s in report.stays), default=date.today())
    last = scenario.end or max((s.end for s in report.stays), default=first)
    kind_of, region_of, beds = {}, {}, {}
    for loc in scenario.locations:
        for g in loc.groups:
            kind_of[g.id], region_of[g.id], beds[g.id] = g.kind, loc.region, g.beds
    nights = (last - first).days + 1
    offered: dict[str, float] = defaultdict(float)
    for gid, b in beds.items():
        offered[kind_of[gid]] += b * nights
        offered[f"{region_of[gid]}/{kind_of[gid]}"] += b * nights
    # `capacity` events change the beds offered on their nights (the latest event wins).
    per_night: dict[tuple[str, int], int] = {}
    for ev in scenario.events:
        if isinstance(ev, CapacityEvent) and ev.group in beds:
            for n in range(ev.from_.toordinal(), ev.until.toordinal()):
                if first.toordinal() <= n <= last.toordinal():
                    per_night[(ev.group, n)] = ev.beds
    for (gid, _), b in per_night.items():
        for key in (kind_of[gid], f"{region_of[gid]}/{kind_of[gid]}"):
            offered[key] += b - beds[gid]
    used: dict[str, int] = defaultdict(int)
    total = 0
    for s in report.stays:
        a = max(first.toordinal(), s.start.toordinal())
        b = min(last.toordinal(), s.end.toordinal() - 1)
        n = max(0, b - a + 1)
        total += n
        if s.group in kind_of:
            used[kind_of[s.group]] += n
            used[f"{region_of[s.group]}/{kind_of[s.group]}"] += n
    occupancy = {key: round(100.0 * used[key] / off, 2) if off > 0 else 0.0 for key, off in offered.items()}
    still = [w.case for w in report.waiting if w.reason not in ENDED]
    stays = [stay.model_dump(mode="json") for stay in report.stays]
    by_region: dict[str, list[int]] = defaultdict(list)
    for region, wait in youth_waits(scenario, stays, still, last).values():
        by_region[region].append(wait)
    region_wait: dict[str, float] = {}
    for code in sorted(r.code for r in scenario.regions):
        waits = by_region.get(code, [])
        region_wait[f"{code}/mean_wait_days"] = round(sum(waits) / len(waits), 2) if waits else 0.0
        region_wait[f"{code}/p90_wait_days"] = p90(waits)
        region_wait[f"{code}/youths"] = len(waits)
    accepted = k.referrals - sum(1 for r in report.rejected if r.event == "referral")
    return {
        "mean_wait_days": k.mean_wait_days,
        "p90_wait_days": k.p90_wait_days,
        "placed": k.placed,
        "placed_pct": round(100.0 * k.placed / accepted, 2) if accepted > 0 else 100.0,
        "waiting": len(report.waiting),
        "bed_nights": total,
        "cost_per_placement": round(total * price_per_bed_night / k.placed, 2) if k.placed else 0.0,
        "home_region_pct": k.home_region_pct,
        "startgesprek_on_time_pct": k.startgesprek_on_time_pct,
        "occupancy_pct": {key: v for key, v in sorted(occupancy.items()) if "/" not in key},
        "occupancy_by_region_pct": {key: v for key, v in sorted(occupancy.items()) if "/" in key},
        "region_wait": region_wait,
    }


@dataclass(frozen=True)
class Job:
    data: dict[str, Any]  # the scenario of this replication
    point: Point
    replication: int
    policy: str
    time_limit_s: float | None
    price_per_bed_night: float


def run_job(job: Job) -> tuple[Point, int, dict[str, Any]]:
    """Simulate one capacity point of one replication (runs in a worker process)."""
    data = job.data
    if job.point.region is not None and job.point.resource is not None and job.point.value is not None:
        data = with_capacity(data, job.point.region, job.point.resource, job.point.value)
    scenario = load_scenario_dict(data)
    config = SolverConfig() if job.time_limit_s is None else SolverConfig(time_limit_s=job.time_limit_s)
    report, _ = run_simulation(scenario, job.policy, config)
    return job.point, job.replication, run_kpis(scenario, report, job.price_per_bed_night)


# --- the sweep ---------------------------------------------------------------------------------


@dataclass
class Sweep:
    target: Target
    nows: dict[tuple[str, str], int]  # (region, resource) -> the scenario's capacity
    values: dict[tuple[str, str], list[int]]  # (region, resource) -> capacities swept
    replications: int
    results: dict[tuple[Point, int], dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def kpis(self, region: str, resource: str, value: int) -> list[dict[str, Any]]:
        """The runs' KPIs at a capacity, one per replication (the baseline run at the current one)."""
        point = (
            Point(None, None, None)
            if value == self.nows[(region, resource)]
            else Point(region, resource, value)
        )
        return [self.results[(point, r)] for r in range(self.replications)]


def plan_points(
    data: dict[str, Any], regions: list[str], resources: list[str], steps: dict[str, tuple[int, int]]
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], list[int]], list[str]]:
    """The one-factor-at-a-time grid: for each region and resource, now + each step, clipped."""
    nows: dict[tuple[str, str], int] = {}
    values: dict[tuple[str, str], list[int]] = {}
    notes: list[str] = []
    for region in regions:
        for resource in resources:
            if resource in BED_RESOURCES and not _groups(data, region, BED_RESOURCES[resource]):
                notes.append(f"{region} has no {BED_RESOURCES[resource]} groups: {resource} not swept")
                continue
            if resource in STAFF_RESOURCES and not _staff(data, region, STAFF_RESOURCES[resource]):
                notes.append(f"{region} has no {STAFF_RESOURCES[resource]}: {resource} not swept")
                continue
            now = current_capacity(data, region, resource)
            low, high = steps[resource]
            floor = floor_capacity(data, region, resource)
            wanted = range(now + low, now + high + 1)
            kept = sorted({max(floor, v) for v in wanted} | {now})
            if now + low < floor:
                notes.append(f"{region} {resource}: below {floor} clipped (now {now}, asked {now + low})")
            nows[(region, resource)] = now
            values[(region, resource)] = kept
    return nows, values, notes


def run_sweep(
    data: dict[str, Any],
    target: Target,
    *,
    regions: list[str],
    resources: list[str],
    steps: dict[str, tuple[int, int]],
    replications: int,
    policy: str,
    jobs: int,
    seed: int = 1,
    price_per_bed_night: float = 0.0,
    time_limit_s: float | None = None,
    progress: bool = True,
) -> Sweep:
    """Simulate every capacity point of the grid for every replication."""
    nows, values, notes = plan_points(data, regions, resources, steps)
    sweep = Sweep(target, nows, values, replications, notes=notes)
    points = [Point(None, None, None)] + [
        Point(region, resource, v)
        for (region, resource), vs in values.items()
        for v in vs
        if v != nows[(region, resource)]
    ]
    reps = [replicate(data, r, seed) for r in range(replications)]
    todo = [
        Job(reps[r], p, r, policy, time_limit_s, price_per_bed_night)
        for p in points
        for r in range(replications)
    ]
    from tqdm import tqdm  # type: ignore[import-untyped]

    bar = tqdm(total=len(todo), desc="capacity", unit="run", file=sys.stderr, disable=not progress)
    try:
        if jobs <= 1:
            for job in todo:
                point, rep, kpis = run_job(job)
                sweep.results[(point, rep)] = kpis
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(run_job, job) for job in todo]
                for future in as_completed(futures):
                    point, rep, kpis = future.result()
                    sweep.results[(point, rep)] = kpis
                    bar.update(1)
    finally:
        bar.close()
    return sweep


# --- answers -----------------------------------------------------------------------------------


def mean_kpis(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The KPIs averaged over replications (occupancies per key too), to 2 decimals."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = {k: round(sum(r[key][k] for r in runs) / len(runs), 2) for k in value}
        else:
            out[key] = round(sum(float(r[key]) for r in runs) / len(runs), 2)
    return out


def smallest_meeting(values: list[int], met: list[bool]) -> int | None:
    """The smallest capacity from which on every larger one swept meets the target too (so one lucky
    replication at a small capacity does not count); None when even the largest misses it."""
    needed: int | None = None
    for value, ok in sorted(zip(values, met, strict=True), reverse=True):
        if not ok:
            break
        needed = value
    return needed


def answers(sweep: Sweep) -> list[dict[str, Any]]:
    """Per region and resource: now, the smallest capacity meeting the target in the mean over the
    replications, the range of the per-replication smallest ones, and the mean KPIs there."""
    target = sweep.target
    out: list[dict[str, Any]] = []
    for (region, resource), values in sweep.values.items():
        per_value = {v: sweep.kpis(region, resource, v) for v in values}

        def met(kpis: dict[str, Any], region: str = region) -> bool:
            return target.met(kpi_of(kpis, region, target.kpi))

        mean_met = [met(mean_kpis(per_value[v])) for v in values]
        needed = smallest_meeting(values, mean_met)
        per_rep = [
            smallest_meeting(values, [met(per_value[v][r]) for v in values])
            for r in range(sweep.replications)
        ]
        found = [n for n in per_rep if n is not None]
        interval: list[int | None] = [
            min(found) if found else None,
            max(found) if len(found) == len(per_rep) else None,
        ]
        out.append(
            {
                "region": region,
                "resource": resource,
                "now": sweep.nows[(region, resource)],
                "needed": needed,
                "interval": interval,
                "kpis_at_needed": mean_kpis(per_value[needed]) if needed is not None else None,
            }
        )
    return out


def marginal(sweep: Sweep, region: str, resource: str) -> dict[str, dict[str, float] | None]:
    """Change of the target KPI and of the mean wait with one more and one fewer unit than now."""
    now = sweep.nows[(region, resource)]
    base = mean_kpis(sweep.kpis(region, resource, now))
    out: dict[str, dict[str, float] | None] = {}
    for label, value in (("plus_one", now + 1), ("minus_one", now - 1)):
        if value not in sweep.values[(region, resource)]:
            out[label] = None
            continue
        there = mean_kpis(sweep.kpis(region, resource, value))
        out[label] = {
            sweep.target.kpi: round(
                kpi_of(there, region, sweep.target.kpi) - kpi_of(base, region, sweep.target.kpi), 2
            ),
            "mean_wait_days": round(
                kpi_of(there, region, "mean_wait_days") - kpi_of(base, region, "mean_wait_days"), 2
            ),
        }
    return out


def capacity_vector(sweep: Sweep, point: Point) -> dict[str, int]:
    """Every swept resource's capacity in a run, as `REGION/resource`."""
    vector = {f"{r}/{res}": now for (r, res), now in sweep.nows.items()}
    if point.region is not None and point.value is not None:
        vector[f"{point.region}/{point.resource}"] = point.value
    return vector


def answers_document(sweep: Sweep) -> dict[str, Any]:
    """The contents of answers.json."""
    runs = [
        {"capacity": capacity_vector(sweep, point), "replication": rep, "kpis": kpis}
        for (point, rep), kpis in sorted(
            sweep.results.items(),
            key=lambda item: (
                item[0][0].region or "",
                item[0][0].resource or "",
                item[0][0].value or 0,
                item[0][1],
            ),
        )
    ]
    return {"target": str(sweep.target), "answers": answers(sweep), "runs": runs}


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def table_rows(sweep: Sweep, found: list[dict[str, Any]]) -> list[list[str]]:
    """The answers as text cells: header first."""
    rows = [
        [
            "region",
            "resource",
            "now",
            "needed",
            "interval",
            f"{sweep.target.kpi} at needed",
            "+1: Δ target / Δ mean wait",
            "-1: Δ target / Δ mean wait",
            "occupancy % at now",
            "cost/placement at now",
        ]
    ]
    for a in found:
        m = marginal(sweep, a["region"], a["resource"])
        base = mean_kpis(sweep.kpis(a["region"], a["resource"], a["now"]))
        kind = BED_RESOURCES.get(a["resource"])
        occ = (
            f"{a['region']}/{kind} {base['occupancy_by_region_pct'].get(a['region'] + '/' + kind, 0.0):g}"
            if kind
            else " ".join(f"{k} {v:g}" for k, v in base["occupancy_pct"].items())
        )
        deltas = [
            "-" if m[s] is None else f"{m[s][sweep.target.kpi]:+g} / {m[s]['mean_wait_days']:+g}"  # type: ignore[index]
            for s in ("plus_one", "minus_one")
        ]
        at_needed = None
        if a["kpis_at_needed"]:
            at_needed = kpi_of(a["kpis_at_needed"], a["region"], sweep.target.kpi)
        needed = (
            _fmt(a["needed"])
            if a["needed"] is not None
            else f">{max(sweep.values[(a['region'], a['resource'])])}"
        )
        rows.append(
            [
                a["region"],
                a["resource"],
                str(a["now"]),
                needed,
                f"[{_fmt(a['interval'][0])}, {_fmt(a['interval'][1])}]",
                _fmt(at_needed),
                *deltas,
                occ,
                _fmt(base["cost_per_placement"]),
            ]
        )
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------------

_RANGE_OPTIONS = ("--beds", "--therapists", "--trajectbegeleiders")


def _join_range_values(argv: Sequence[str]) -> list[str]:
    """`--beds -2..+2` as `--beds=-2..+2`: argparse would take `-2..+2` for an option."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        if items[i] in _RANGE_OPTIONS and i + 1 < len(items):
            out.append(f"{items[i]}={items[i + 1]}")
            i += 2
        else:
            out.append(items[i])
            i += 1
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thuisbest capacity",
        description="Sweep beds and staff per region around a scenario's capacity by simulation and "
        "answer how much is needed to meet a target (one resource of one region at a time).",
    )
    parser.add_argument("scenario", help="scenario JSON file (SCENARIO.md)")
    parser.add_argument("--out", required=True, help="folder for answers.json, the pictures and report.html")
    parser.add_argument(
        "--events", default=None, help="take the events from this scenario (for a network file without any)"
    )
    parser.add_argument(
        "--target", default="p90_wait_days<=14", help="KPI OP NUMBER (default p90_wait_days<=14)"
    )
    parser.add_argument(
        "--beds", default="-2..+2", help="bed steps per region and group kind (default -2..+2)"
    )
    parser.add_argument(
        "--therapists", default="-1..+1", help="MST therapist steps per region (default -1..+1)"
    )
    parser.add_argument(
        "--trajectbegeleiders", default="-1..+1", help="trajectbegeleider steps per region (default -1..+1)"
    )
    parser.add_argument("--regions", default=None, help="comma-separated region codes (default: all)")
    parser.add_argument(
        "--resources",
        default=",".join(RESOURCES),
        help=f"comma-separated, of {', '.join(RESOURCES)} (default all)",
    )
    parser.add_argument("--replications", default="3", help="replications per capacity (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the resampled arrivals (default 1)")
    parser.add_argument(
        "--policy",
        choices=("fcfs", "optimized"),
        default="fcfs",
        help="planner policy (default fcfs: 6x faster)",
    )
    parser.add_argument("--time-limit", type=float, default=None, help="optimized: seconds per re-plan")
    parser.add_argument(
        "--price-per-bed-night", default="0", help="price of a bed-night, for the cost per placement"
    )
    parser.add_argument("--jobs", default=None, help="worker processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def _positive_int(option: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise CapacityInputError(option, f"{text!r} is not a whole number") from None
    if value < 1:
        raise CapacityInputError(option, f"{value} is less than 1")
    return value


def _load(path: str, events_from: str | None) -> dict[str, Any]:
    """The scenario dict, checked; its events from `events_from` when given."""
    try:
        raw = read_json_file(path)
        if not isinstance(raw, dict):
            raise ScenarioError("not a JSON object")
        data: dict[str, Any] = raw
        if events_from is not None:
            try:
                other = read_json_file(events_from)
            except ScenarioError as exc:
                raise CapacityInputError("--events", " ".join(str(exc).split())) from None
            data = dict(data, events=other.get("events", []) if isinstance(other, dict) else [])
        load_scenario_dict(data)
    except ScenarioError as exc:
        reason = " ".join(str(exc).split())
        raise CapacityInputError(
            "SCENARIO", reason if reason.startswith(path) else f"{path}: {reason}"
        ) from None
    if not any(ev.get("type") == "referral" for ev in data.get("events", [])):
        raise CapacityInputError(
            "SCENARIO",
            f"{path} has no referrals to plan: give --events SCENARIO_FILE or a generated scenario "
            "(thuisbest generate region)",
        )
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_join_range_values(sys.argv[1:] if argv is None else argv))
    try:
        target = parse_target(args.target)
        steps = {
            "closed_beds": parse_range("--beds", args.beds),
            "open_beds": parse_range("--beds", args.beds),
            "mst_therapists": parse_range("--therapists", args.therapists),
            "trajectbegeleiders": parse_range("--trajectbegeleiders", args.trajectbegeleiders),
        }
        resources = parse_list("--resources", args.resources, RESOURCES, "resource")
        replications = _positive_int("--replications", args.replications, 3)
        jobs = _positive_int("--jobs", args.jobs, os.cpu_count() or 1)
        try:
            price = float(args.price_per_bed_night)
        except ValueError:
            raise CapacityInputError(
                "--price-per-bed-night", f"{args.price_per_bed_night!r} is no number"
            ) from None
        if not math.isfinite(price) or price < 0:
            raise CapacityInputError("--price-per-bed-night", f"{price:g} must be 0 or more")
        data = _load(args.scenario, args.events)
        codes = [r["code"] for r in data["regions"]]
        regions = parse_list("--regions", args.regions, codes, "region") if args.regions else codes
    except CapacityInputError as exc:
        print(f"thuisbest capacity: {exc}", file=sys.stderr)
        return 2
    sweep = run_sweep(
        data,
        target,
        regions=regions,
        resources=resources,
        steps=steps,
        replications=replications,
        policy=args.policy,
        jobs=jobs,
        seed=args.seed,
        price_per_bed_night=price,
        time_limit_s=args.time_limit,
        progress=not args.no_progress,
    )
    for note in sweep.notes:
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    document = answers_document(sweep)
    (out / "answers.json").write_text(
        json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    from tools.capacity_report import write_pictures, write_report

    rows = table_rows(sweep, document["answers"])
    pictures = write_pictures(sweep, document["answers"], out)
    write_report(
        sweep, rows, pictures, out, scenario_name=str(data.get("name", args.scenario)), policy=args.policy
    )
    print(f"target {target}, {replications} replication(s), policy {args.policy}, {len(sweep.results)} runs")
    print(format_table(rows))
    print(f"-> {out / 'answers.json'}, {out / 'report.html'} and {len(pictures)} pictures (PNG and SVG)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
