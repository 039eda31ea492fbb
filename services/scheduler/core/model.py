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

Part-time cases (PATHWAY-V2) also choose their weekly pattern here:
  night[c,d] one Boolean per weekday d: the case's pattern holds d (exactly nights_per_week when
             placed); a night outside the preferred nights costs OTHER_NIGHT, and each bed already
             taken on it (more than on the emptiest night) FULLER_NIGHT.
  y[o,d]     >= x[o] + night[c,d] - 1: option o occupies the nights with weekday d.
so that youths whose patterns do not overlap share a bed (the point of part-time residence).

Constraints: at most one option per case; per group and night the options fit the regular beds
left (linear, at the nights where an option starts or the free count drops; on a part-time group
per weekday, with the y literals); per person an
AddCumulative of optional load intervals (start[c], mst_weeks) over the fixed load; NoOverlap
per group for cases in conflict.

Objective (integer weights, `candidates.py`): unplaced cases by urgency (more when the case
would be lost to a lapsing machtiging or its age, and the longer it has waited), then waiting
days by urgency, then leaving the home region and travel minutes, then moves and restaffing of
the expected placements told before (promised placements are fixed data, not variables). The
greedy plan is the hint, and the fallback when the solver returns UNKNOWN, INFEASIBLE or
MODEL_INVALID.

The startgesprek is planned in a second, small CP-SAT stage over the fixed assignment
(`meetings.py`): in the joint model every option would carry the ~50 slots of three calendars,
which does not fit the 2 s per re-plan of the national tier. A start day whose window has no
slot for the referrer is never an option; when a meeting still finds no slot, that start day is
blocked for the case and stage 1 runs again (at most MEETING_ROUNDS rounds within the same time
limit).

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
    FULLER_NIGHT,
    KEEP_THERAPIST,
    KEEP_TRAJECTBEGELEIDER,
    OTHER_NIGHT,
    RESTAFF,
    CaseInput,
    feasible_starts,
    first_true,
    openings,
    tbs_for,
)
from services.scheduler.core.greedy import Assignment
from services.scheduler.core.profiles import Profiles
from shared.kinds import WEEKDAYS
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


class _ModelBuilder:
    """Builds the stage-1 CP-SAT model, one method per constraint family, and reads its solution.

    The methods must run in the order of `solve`: each adds variables and constraints to the
    model in a fixed order, which keeps the model (and with the fixed seed, the plan) reproducible.
    """

    def __init__(
        self,
        net: NetworkIndex,
        fixed: Profiles,
        inputs: list[CaseInput],
        options: dict[str, list[tuple[str, int]]],
    ) -> None:
        self.net = net
        self.fixed = fixed
        self.inputs = inputs
        self.options = options
        self.m = cp_model.CpModel()
        self.x: dict[tuple[str, str, int], cp_model.IntVar] = {}
        self.intervals: dict[tuple[str, str, int], cp_model.IntervalVar] = {}
        self.start: dict[str, cp_model.IntVar] = {}
        self.per_case_x: dict[str, list[tuple[str, int, cp_model.IntVar]]] = {}
        self.th_of: dict[str, dict[str, cp_model.IntVar]] = {}
        self.tb_of: dict[str, dict[str, cp_model.IntVar]] = {}
        self.night_of: dict[str, list[cp_model.IntVar]] = {}  # part-time cases: one per weekday
        # Objective terms in the order they are created; `constant` is the cost of placing nobody.
        self.obj_vars: list[cp_model.IntVar] = []
        self.obj_coeffs: list[int] = []
        self.constant = 0

    def staff_of(self, cid: str) -> list[tuple[str, cp_model.IntVar]]:
        """The case's therapist and trajectbegeleider literals, therapists first."""
        return [*self.th_of[cid].items(), *self.tb_of[cid].items()]

    # -- choice of option, therapist and trajectbegeleider per case ----------------------------

    def choose_options(self) -> None:
        for ci in self.inputs:
            opts = self.options.get(ci.id, [])
            # Every case counts as unplaced in the constant; choosing an option adds the difference.
            self.constant += ci.unplaced_cost
            if not opts:
                continue
            placed = self._one_option(ci, opts)
            self._therapist(ci, placed)
            self._trajectbegeleider(ci, opts, placed)
            self._nights(ci, placed)
            self._available(ci)
            self._continuity(ci)

    def _one_option(self, ci: CaseInput, opts: list[tuple[str, int]]) -> cp_model.LinearExprT:
        """At most one option per case; returns `placed`, their sum, and links start[c] to it."""
        m = self.m
        lits = []
        mine: list[tuple[str, int, cp_model.IntVar]] = []
        for g, s in opts:
            v = m.new_bool_var(f"x[{ci.id},{g},{s}]")
            self.x[(ci.id, g, s)] = v
            # The stay's interval on the group, only present when chosen (for the conflicts).
            self.intervals[(ci.id, g, s)] = m.new_optional_fixed_size_interval_var(s, ci.stay, v, "")
            lits.append(v)
            mine.append((g, s, v))
            self.obj_vars.append(v)
            self.obj_coeffs.append(ci.cost(g, s) - ci.unplaced_cost)
        self.per_case_x[ci.id] = mine
        m.add_at_most_one(lits)
        placed = cp_model.LinearExpr.sum(lits)
        # start[c] is 0 when unplaced; the caseload intervals start there.
        days = sorted({s for _, s in opts} | {0})
        sv = m.new_int_var_from_domain(cp_model.Domain.from_values(days), f"start[{ci.id}]")
        m.add(sv == cp_model.LinearExpr.weighted_sum(lits, [s for _, s in opts]))
        self.start[ci.id] = sv
        return placed

    def _therapist(self, ci: CaseInput, placed: cp_model.LinearExprT) -> None:
        """One MST therapist serving the home region when placed, none otherwise (none at all for a
        kind without MST); the family's own therapist is kept when they can (KEEP_THERAPIST)."""
        th = {p: self.m.new_bool_var(f"th[{ci.id},{p}]") for p in ci.therapists}
        self.th_of[ci.id] = th
        if not ci.needs_therapist:
            return
        self.m.add(cp_model.LinearExpr.sum(list(th.values())) == placed)
        if ci.current_therapist is not None:
            for p, v in th.items():
                if p != ci.current_therapist:
                    self.obj_vars.append(v)
                    self.obj_coeffs.append(KEEP_THERAPIST)

    def _nights(self, ci: CaseInput, placed: cp_model.LinearExprT) -> None:
        """A part-time case's weekly pattern: nights_per_week weekdays when placed."""
        if ci.nights is None:
            return
        nights = [self.m.new_bool_var(f"night[{ci.id},{d}]") for d in WEEKDAYS]
        self.night_of[ci.id] = nights
        self.m.add(cp_model.LinearExpr.sum(nights) == ci.nights * placed)
        # Balance: a night already fuller (at the case's earliest part-time option) costs more, so
        # that the beds left stay usable for the youths of several nights who come next.
        first = next(((g, s) for g, s in self.options[ci.id] if g in self.fixed.part_time), None)
        room = self.fixed.night_room(first[0], ci.stay, first[1]) if first else np.zeros(7, dtype=int)
        for d, v in zip(WEEKDAYS, nights, strict=True):
            cost = FULLER_NIGHT * int(room.max() - room[WEEKDAYS.index(d)])
            if ci.preferred_nights and d not in ci.preferred_nights:
                cost += OTHER_NIGHT
            if cost:
                self.obj_vars.append(v)
                self.obj_coeffs.append(cost)

    def _trajectbegeleider(
        self, ci: CaseInput, opts: list[tuple[str, int]], placed: cp_model.LinearExprT
    ) -> None:
        """One trajectbegeleider when placed, serving the region of the chosen group (not the home)."""
        m = self.m
        regions: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for g, _, v in self.per_case_x[ci.id]:
            regions[self.net.groups[g].region].append(v)
        tbs = sorted({q for g, _ in opts for q in tbs_for(self.net, g)})
        tb: dict[str, cp_model.IntVar] = {}
        self.tb_of[ci.id] = tb
        for q in tbs:
            v = m.new_bool_var(f"tb[{ci.id},{q}]")
            tb[q] = v
            served = [lit for r, ls in regions.items() if r in self.net.people[q].regions for lit in ls]
            m.add(v <= cp_model.LinearExpr.sum(served))
        m.add(cp_model.LinearExpr.sum(list(tb.values())) == placed)

    def _available(self, ci: CaseInput) -> None:
        """A person takes no new case on a start day the fixed data rule out for them: full for the
        whole load, or away (a staff change: absent, or leaving before the load would end)."""
        for person, lit in self.staff_of(ci.id):
            ok = self.fixed.staff_ok(person)
            for _, s, v in self.per_case_x[ci.id]:
                if s < len(ok) and not ok[s]:
                    self.m.add_bool_or([v.negated(), lit.negated()])

    def _continuity(self, ci: CaseInput) -> None:
        """Restaffing a published placement costs RESTAFF per person changed; not keeping the
        kennismaking's trajectbegeleider costs KEEP_TRAJECTBEGELEIDER."""
        if ci.preferred_tb is not None and ci.preferred_tb in self.tb_of[ci.id]:
            for q, v in self.tb_of[ci.id].items():
                if q != ci.preferred_tb:
                    self.obj_vars.append(v)
                    self.obj_coeffs.append(KEEP_TRAJECTBEGELEIDER)
        p = ci.published
        if p is None:
            return
        for person, v in self.staff_of(ci.id):
            if person not in (p.therapist, p.trajectbegeleider):
                self.obj_vars.append(v)
                self.obj_coeffs.append(RESTAFF)

    # -- beds (rule 1) ----------------------------------------------------------------------------

    def beds(self) -> None:
        """Per group, at every night where an option starts or the free count drops, the options
        covering it fit in the regular beds left by the fixed stays (nights in between add nothing:
        coverage only grows at a start and capacity only shrinks at a drop)."""
        by_id = {ci.id: ci for ci in self.inputs}
        by_group: dict[str, list[tuple[int, int, cp_model.IntVar]]] = defaultdict(list)
        part_time: dict[str, list[tuple[int, int, str, cp_model.IntVar]]] = defaultdict(list)
        for (cid, g, s), v in self.x.items():
            if cid in self.night_of and g in self.fixed.part_time:
                part_time[g].append((s, s + by_id[cid].stay, cid, v))
            else:
                by_group[g].append((s, s + by_id[cid].stay, v))
        for g, pt_items in part_time.items():
            self._part_time_beds(g, pt_items)
        longest = max((ci.stay for ci in self.inputs), default=0)
        for g, items in by_group.items():
            items.sort(key=lambda item: item[0])
            starts = [s for s, _, _ in items]
            free = self.fixed.regular_free(g)
            last = min(max(e for _, e, _ in items), len(free))
            points = set(starts)
            points.update(int(i) + 1 for i in np.flatnonzero(free[1:last] < free[: last - 1]))
            for n in sorted(points):
                # Only stays starting in (n - longest, n] can cover night n.
                lo, hi = bisect_left(starts, n - longest + 1), bisect_right(starts, n)
                covering = [v for s, e, v in items[lo:hi] if n < e]
                cap = max(int(free[n]), 0) if n < len(free) else 0
                if len(covering) > cap:
                    self.m.add(cp_model.LinearExpr.sum(covering) <= cap)

    def _part_time_beds(self, g: str, items: list[tuple[int, int, str, cp_model.IntVar]]) -> None:
        """Per part-time group, weekday d and night n with weekday d: the options covering n whose
        pattern holds d fit in the beds left on n. Checked at the first night with weekday d of
        every option (coverage grows only there) and where the free count of d-nights drops."""
        free = self.fixed.regular_free(g)
        weekday = self.fixed.weekdays(0, len(free))
        y: dict[tuple[str, int, int], cp_model.IntVar] = {}

        def occupies(cid: str, s: int, d: int, v: cp_model.IntVar) -> cp_model.IntVar:
            key = (cid, s, d)
            if key not in y:
                lit = self.m.new_bool_var("")
                self.m.add(lit >= v + self.night_of[cid][d] - 1)
                y[key] = lit
            return y[key]

        last = min(max(e for _, e, _, _ in items), len(free))
        for d in range(7):
            points = {s + (d - int(weekday[s])) % 7 for s, _, _, _ in items if s < len(free)}
            days_d = np.flatnonzero(weekday[:last] == d)
            drops = days_d[1:][free[days_d[1:]] < free[days_d[:-1]]]
            points.update(int(n) for n in drops)
            for n in sorted(p for p in points if p < last):
                covering = [(cid, s, v) for s, e, cid, v in items if s <= n < e]
                cap = max(int(free[n]), 0)
                if len(covering) > cap:
                    self.m.add(
                        cp_model.LinearExpr.sum([occupies(cid, s, d, v) for cid, s, v in covering]) <= cap
                    )

    # -- caseloads (rule 7) -----------------------------------------------------------------------

    def caseloads(self) -> None:
        """Per person, the optional load intervals of the cases given to them and the fixed load of
        started cases never exceed max_cases."""
        m = self.m
        load = self.fixed.load_days
        per_person: dict[str, list[tuple[str, cp_model.IntVar]]] = defaultdict(list)
        for cid in self.th_of:
            for person, v in self.staff_of(cid):
                per_person[person].append((cid, v))
        for person, loads in per_person.items():
            cap = self.fixed.max_cases[person]
            ivs: list[cp_model.IntervalVar] = []
            demands: list[int] = []
            for cid, v in loads:
                ivs.append(m.new_optional_fixed_size_interval_var(self.start[cid], load, v, ""))
                demands.append(1)
            # The fixed load as constant intervals, one per run of equal load (capped: a person
            # over max_cases by fixed data must not make the model infeasible).
            used = np.minimum(self.fixed.caseload[person], cap)
            for a, length, value in _segments(used):
                if value > 0:
                    ivs.append(m.new_fixed_size_interval_var(a, length, ""))
                    demands.append(value)
            m.add_cumulative(ivs, demands, cap)

    # -- conflicts (rule 6) -----------------------------------------------------------------------

    def conflicts(self) -> None:
        """Cases listed in each other's conflicts_with never share a group's night: one NoOverlap
        per pair and group both could use."""
        per_case_x = self.per_case_x
        done: set[tuple[str, str]] = set()
        for ci in self.inputs:
            for other in sorted(ci.conflicts):
                pair = (min(ci.id, other), max(ci.id, other))
                if other not in per_case_x or ci.id not in per_case_x or pair in done:
                    continue
                done.add(pair)
                shared = {g for g, _, _ in per_case_x[ci.id]} & {g for g, _, _ in per_case_x[other]}
                for g in sorted(shared):
                    self.m.add_no_overlap(
                        [self.intervals[(c, gg, s)] for c in pair for gg, s, _ in per_case_x[c] if gg == g]
                    )

    # -- objective and hint -----------------------------------------------------------------------

    def objective(self) -> None:
        """Unplaced cases (by urgency), waits, distance from home, moves and restaffing."""
        self.m.minimize(cp_model.LinearExpr.weighted_sum(self.obj_vars, self.obj_coeffs) + self.constant)

    def hints(self, hint: dict[str, Assignment]) -> None:
        """The greedy plan (feasible by construction); a case whose greedy option is not among its
        options is hinted as unplaced."""
        for cid, mine in self.per_case_x.items():
            h = hint.get(cid)
            if h is None or (cid, h.group, h.start) not in self.x:
                h = None
            for g, s, v in mine:
                self.m.add_hint(v, h is not None and (h.group, h.start) == (g, s))
            self.m.add_hint(self.start[cid], h.start if h is not None else 0)
            for person, v in self.staff_of(cid):
                self.m.add_hint(v, h is not None and person in (h.therapist, h.trajectbegeleider))
            for d, v in zip(WEEKDAYS, self.night_of.get(cid, []), strict=False):
                self.m.add_hint(v, h is not None and h.nights is not None and d in h.nights)

    # -- solve and read the solution --------------------------------------------------------------

    def solve(
        self, began: float, *, time_limit_s: float, deterministic_time: float | None, seed: int, workers: int
    ) -> SolveResult:
        """Solve within what is left of `time_limit_s` since `began`.

        OPTIMAL and FEASIBLE give assignments (with objective and bound). UNKNOWN (no solution in
        time), INFEASIBLE and MODEL_INVALID give none: the caller keeps the greedy plan.
        """
        solver = cp_model.CpSolver()
        prm = solver.parameters
        prm.max_time_in_seconds = max(0.01, time_limit_s - (time.perf_counter() - began))
        if deterministic_time is not None:
            prm.max_deterministic_time = deterministic_time
        prm.random_seed = seed
        prm.num_workers = workers
        status = solver.solve(self.m)
        name = solver.status_name(status)
        result = SolveResult({}, name, seconds=time.perf_counter() - began, options=len(self.x))
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            result.objective = solver.objective_value
            result.bound = solver.best_objective_bound
            result.assignments = self._assignments(solver)
        return result

    def _assignments(self, solver: cp_model.CpSolver) -> dict[str, Assignment]:
        """The chosen option and people of every placed case, in the order of the inputs."""
        out: dict[str, Assignment] = {}
        for ci in self.inputs:
            chosen = [
                (g, s) for g, s in self.options.get(ci.id, []) if solver.boolean_value(self.x[(ci.id, g, s)])
            ]
            if not chosen:
                continue
            g, s = chosen[0]
            therapist = next((p for p, v in self.th_of[ci.id].items() if solver.boolean_value(v)), None)
            begeleider = next(q for q, v in self.tb_of[ci.id].items() if solver.boolean_value(v))
            nights = None
            if ci.id in self.night_of:
                nights = tuple(
                    d for d, v in zip(WEEKDAYS, self.night_of[ci.id], strict=True) if solver.boolean_value(v)
                )
            out[ci.id] = Assignment(g, s, therapist, begeleider, nights)
        return out


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
    """Choose an option and people for the cases of `inputs` (see the module docstring)."""
    began = time.perf_counter()
    builder = _ModelBuilder(net, fixed, inputs, options)
    builder.choose_options()
    builder.beds()
    builder.caseloads()
    builder.conflicts()
    builder.objective()
    builder.hints(hint)
    return builder.solve(
        began, time_limit_s=time_limit_s, deterministic_time=deterministic_time, seed=seed, workers=workers
    )
