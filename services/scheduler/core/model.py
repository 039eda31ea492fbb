"""Stage 1 of a re-plan: one CP-SAT model choosing group, start day, therapist and trajectbegeleider.

Only not-yet-started cases are variables. Started stays, time-outs, capacity changes and the
caseloads of started cases are fixed data, folded into the free-bed and free-caseload profiles.

Variables
  x[o]       one Boolean per option o = (case, group, start day). A case's options are a few
             start days per group in reach (home region first, then the nearest `max_groups`):
             the earliest day the fixed data allow, the openings left by the greedy plan, the
             days of the two greedy plans (keeping the published plan / from scratch by
             priority) and the published day. Every option is allowed by age, machtiging
             (cover and lapse), start bounds and the referrer's calendar.
  start[c]   the chosen start day (0 when unplaced), linked to the options.
  th[c,p]    the case's MST therapist p (serving the home region).
  tb[c,q]    the case's trajectbegeleider q (serving the chosen group's region).

Constraints: at most one option per case; per group and night the options fit the regular beds
left (linear, at the nights where an option starts or the free count drops); per person an
AddCumulative of optional load intervals (start[c], mst_weeks) over the fixed load; NoOverlap
per group for cases in conflict.

Objective (integer weights, `candidates.py`): unplaced cases by urgency (more when the case
would be lost to a lapsing machtiging or its age, and the longer it has waited), then waiting
days by urgency, then leaving the home region and travel minutes, then moves and restaffing of
published placements. The greedy plan is the hint, and the fallback when the solver returns
UNKNOWN, INFEASIBLE or MODEL_INVALID.

The startgesprek is planned in a second, small CP-SAT stage over the fixed assignment
(`meetings.py`): in the joint model every option would carry the ~50 slots of three calendars,
which does not fit the 2 s per re-plan of the national tier. A start day whose window has no
slot for the referrer is never an option; when a meeting still finds no slot, that start day is
blocked for the case and stage 1 runs again (at most three rounds within the same time limit).

Reproducibility: `max_deterministic_time` bounds the search next to the wall-clock limit, with a
fixed `random_seed`; most re-plans end OPTIMAL well before either limit.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from services.scheduler.core.candidates import (
    RESTAFF,
    CaseInput,
    feasible_starts,
    first_true,
    openings,
    tbs_for,
)
from services.scheduler.core.greedy import Assignment
from services.scheduler.core.profiles import Profiles
from shared.network import NetworkIndex


@dataclass
class SolveResult:
    assignments: dict[str, Assignment]
    status: str
    objective: float | None = None
    bound: float | None = None
    seconds: float = 0.0
    options: int = 0
    used_fallback: bool = False
    alternatives: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


def candidate_options(
    net: NetworkIndex,
    fixed: Profiles,
    after_greedy: Profiles,
    ci: CaseInput,
    hint: Assignment | None,
    per_group: int,
    alternative: Assignment | None,
) -> list[tuple[str, int]]:
    """A few promising (group, start day) options of one case, each allowed by the fixed data."""
    out: set[tuple[str, int]] = set()
    for g in ci.groups:
        ok_fixed = feasible_starts(net, fixed, ci, g)
        first = first_true(ok_fixed)
        if first is None:
            continue
        days = {first}
        ok_greedy = feasible_starts(net, after_greedy, ci, g) & ok_fixed
        days.update(openings(ok_greedy, per_group))
        for other in (hint, alternative):
            if other is not None and other.group == g:
                days.add(other.start)
        if ci.published is not None and ci.published.group == g and ci.published_index is not None:
            days.add(ci.published_index)
        out.update((g, s) for s in days if 0 <= s < len(ok_fixed) and ok_fixed[s])
    return sorted(out, key=lambda o: (o[1], ci.travel[o[0]], o[0]))


def _segments(values: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs (start, length, value) of equal consecutive values."""
    if len(values) == 0:
        return []
    cuts = [0, *(int(i) + 1 for i in np.flatnonzero(values[1:] != values[:-1])), len(values)]
    return [(a, b - a, int(values[a])) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def solve(
    net: NetworkIndex,
    fixed: Profiles,
    inputs: list[CaseInput],
    options: dict[str, list[tuple[str, int]]],
    hint: dict[str, Assignment],
    *,
    time_limit_s: float,
    deterministic_time: float | None,
    seed: int,
    workers: int,
) -> SolveResult:
    began = time.perf_counter()
    m = cp_model.CpModel()
    load = fixed.load_days
    by_id = {ci.id: ci for ci in inputs}
    x: dict[tuple[str, str, int], cp_model.IntVar] = {}
    intervals: dict[tuple[str, str, int], cp_model.IntervalVar] = {}
    placed: dict[str, cp_model.LinearExprT] = {}
    start: dict[str, cp_model.IntVar] = {}
    constant = 0

    obj_vars: list[cp_model.IntVar] = []
    obj_coeffs: list[int] = []
    th_of: dict[str, dict[str, cp_model.IntVar]] = {}
    tb_of: dict[str, dict[str, cp_model.IntVar]] = {}
    per_case_x: dict[str, list[tuple[str, int, cp_model.IntVar]]] = {}

    for ci in inputs:
        opts = options.get(ci.id, [])
        constant += ci.unplaced_cost
        if not opts:
            continue
        # One option at most per case; `placed` is its sum.
        lits = []
        mine: list[tuple[str, int, cp_model.IntVar]] = []
        for g, s in opts:
            v = m.new_bool_var(f"x[{ci.id},{g},{s}]")
            x[(ci.id, g, s)] = v
            intervals[(ci.id, g, s)] = m.new_optional_fixed_size_interval_var(s, ci.stay, v, "")
            lits.append(v)
            mine.append((g, s, v))
            obj_vars.append(v)
            obj_coeffs.append(ci.cost(g, s) - ci.unplaced_cost)
        per_case_x[ci.id] = mine
        m.add_at_most_one(lits)
        placed[ci.id] = cp_model.LinearExpr.sum(lits)
        days = sorted({s for _, s in opts} | {0})
        sv = m.new_int_var_from_domain(cp_model.Domain.from_values(days), f"start[{ci.id}]")
        m.add(sv == cp_model.LinearExpr.weighted_sum(lits, [s for _, s in opts]))
        start[ci.id] = sv
        # Therapist: one of those serving the home region when placed.
        th_of[ci.id] = {p: m.new_bool_var(f"th[{ci.id},{p}]") for p in ci.therapists}
        m.add(cp_model.LinearExpr.sum(list(th_of[ci.id].values())) == placed[ci.id])
        # Trajectbegeleider: one serving the region of the chosen group.
        regions: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for g, _, v in mine:
            regions[net.groups[g].region].append(v)
        tbs = sorted({q for g, _ in opts for q in tbs_for(net, g)})
        tb_of[ci.id] = {}
        for q in tbs:
            v = m.new_bool_var(f"tb[{ci.id},{q}]")
            tb_of[ci.id][q] = v
            served = [lit for r, ls in regions.items() if r in net.people[q].regions for lit in ls]
            m.add(v <= cp_model.LinearExpr.sum(served))
        m.add(cp_model.LinearExpr.sum(list(tb_of[ci.id].values())) == placed[ci.id])
        # Continuity: keep the published therapist and trajectbegeleider when there is one.
        p = ci.published
        if p is not None:
            for person, v in [*th_of[ci.id].items(), *tb_of[ci.id].items()]:
                if person not in (p.therapist, p.trajectbegeleider):
                    obj_vars.append(v)
                    obj_coeffs.append(RESTAFF)

    # Beds (rule 1): per group, at every night where an option starts or the free count drops,
    # the options covering it fit in the regular beds left by the fixed stays.
    by_group: dict[str, list[tuple[int, int, cp_model.IntVar]]] = defaultdict(list)
    for (cid, g, s), v in x.items():
        by_group[g].append((s, s + by_id[cid].stay, v))
    longest = max((ci.stay for ci in inputs), default=0)
    for g, items in by_group.items():
        items.sort(key=lambda item: item[0])
        starts = [s for s, _, _ in items]
        free = fixed.regular_free(g)
        last = min(max(e for _, e, _ in items), len(free))
        points = set(starts)
        points.update(int(i) + 1 for i in np.flatnonzero(free[1:last] < free[: last - 1]))
        for n in sorted(points):
            lo, hi = bisect_left(starts, n - longest + 1), bisect_right(starts, n)
            covering = [v for s, e, v in items[lo:hi] if n < e]
            cap = max(int(free[n]), 0) if n < len(free) else 0
            if len(covering) > cap:
                m.add(cp_model.LinearExpr.sum(covering) <= cap)

    # Caseload (rule 7): per person, the optional load intervals of the cases given to them and
    # the fixed load of started cases never exceed max_cases.
    per_person: dict[str, list[tuple[str, cp_model.IntVar]]] = defaultdict(list)
    for cid in th_of:
        for person, v in [*th_of[cid].items(), *tb_of[cid].items()]:
            per_person[person].append((cid, v))
    for person, loads in per_person.items():
        cap = fixed.max_cases[person]
        ivs: list[cp_model.IntervalVar] = []
        demands: list[int] = []
        for cid, v in loads:
            ivs.append(m.new_optional_fixed_size_interval_var(start[cid], load, v, ""))
            demands.append(1)
        used = np.minimum(fixed.caseload[person], cap)
        for a, length, value in _segments(used):
            if value > 0:
                ivs.append(m.new_fixed_size_interval_var(a, length, ""))
                demands.append(value)
        m.add_cumulative(ivs, demands, cap)

    # Conflicts (rule 6): cases listed in each other's conflicts_with never share a group's night.
    done: set[tuple[str, str]] = set()
    for ci in inputs:
        for other in ci.conflicts:
            pair = (min(ci.id, other), max(ci.id, other))
            if other not in per_case_x or ci.id not in per_case_x or pair in done:
                continue
            done.add(pair)
            shared = {g for g, _, _ in per_case_x[ci.id]} & {g for g, _, _ in per_case_x[other]}
            for g in shared:
                m.add_no_overlap(
                    [intervals[(c, gg, s)] for c in pair for gg, s, _ in per_case_x[c] if gg == g]
                )

    # Objective: unplaced cases (by urgency), waits, distance from home, moves and restaffing.
    m.minimize(cp_model.LinearExpr.weighted_sum(obj_vars, obj_coeffs) + constant)

    # Hint: the greedy plan (feasible by construction).
    for cid, mine in per_case_x.items():
        h = hint.get(cid)
        if h is None or (cid, h.group, h.start) not in x:
            h = None
        for g, s, v in mine:
            m.add_hint(v, h is not None and (h.group, h.start) == (g, s))
        m.add_hint(start[cid], h.start if h is not None else 0)
        for person, v in [*th_of[cid].items(), *tb_of[cid].items()]:
            m.add_hint(v, h is not None and person in (h.therapist, h.trajectbegeleider))

    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.max_time_in_seconds = max(0.01, time_limit_s - (time.perf_counter() - began))
    if deterministic_time is not None:
        prm.max_deterministic_time = deterministic_time
    prm.random_seed = seed
    prm.num_workers = workers
    status = solver.solve(m)
    name = solver.status_name(status)
    result = SolveResult({}, name, seconds=time.perf_counter() - began, options=len(x))
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        result.objective = solver.objective_value
        result.bound = solver.best_objective_bound
        for ci in inputs:
            chosen = [(g, s) for g, s in options.get(ci.id, []) if solver.boolean_value(x[(ci.id, g, s)])]
            if not chosen:
                continue
            g, s = chosen[0]
            therapist = next(p for p, v in th_of[ci.id].items() if solver.boolean_value(v))
            begeleider = next(q for q, v in tb_of[ci.id].items() if solver.boolean_value(v))
            result.assignments[ci.id] = Assignment(g, s, therapist, begeleider)
    return result
