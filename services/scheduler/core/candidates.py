"""What each unplaced case may get: allowed start days, groups in reach, people, and priced options."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from services.scheduler.core.profiles import Profiles
from services.scheduler.core.state import Case, Placement
from shared.network import NetworkIndex

# Objective weights (integers), in the soft order of DOMAIN.md: an unplaced case outweighs any
# wait; a day of a normal case's wait weighs 100, leaving the home region 150 and a minute of
# travel 2 (so a normal case waits up to ~2.5 days for a bed at home rather than travel 50
# minutes; a crisis case, whose days weigh four times as much, about half a day).
WAIT_PER_DAY = 100
URGENCY_FACTOR = {"crisis": 4, "urgent": 2, "normal": 1}
NOT_HOME = 150
PER_TRAVEL_MINUTE = 2
UNPLACED = 100_000
LOST = 4 * UNPLACED
AGE_PER_DAY = 10  # leaving a case unplaced costs more the longer it has waited (first come, first served)
MOVE = 150  # a published, not yet started placement changes group or start day
RESTAFF = 60  # ... or changes therapist or trajectbegeleider
# PATHWAY-V2 soft goals: keep the family's own MST therapist (strongest after placing: a month of
# a normal case's wait), keep the kennismaking's trajectbegeleider, and use the preferred nights.
KEEP_THERAPIST = 30 * WAIT_PER_DAY
KEEP_TRAJECTBEGELEIDER = RESTAFF
OTHER_NIGHT = 20  # per night of a part-time pattern outside the preferred nights
FULLER_NIGHT = 4  # per bed a night of the pattern has taken more than the emptiest night (balance)


@dataclass
class CaseInput:
    case: Case
    stay: int
    allowed: np.ndarray  # allowed[s]: age, machtiging and start bounds allow a start on day s
    groups: list[str]  # of the right kind, in reach, nearest first
    therapists: list[str]  # serving the home region, network order
    published: Placement | None = None
    published_index: int | None = None  # start day index of `published`
    travel: dict[str, int] = field(default_factory=dict)  # group -> minutes from home
    waited: int = 0  # days the case has been ready to start before today
    deadline: bool = (
        False  # its machtiging or age stops it from starting after the horizon: place now or lose it
    )
    nights: int | None = None  # part-time: nights a week of the pattern
    preferred_nights: list[str] = field(default_factory=list)
    current_therapist: str | None = None  # serving the home region (else None)
    preferred_tb: str | None = None  # the kennismaking's trajectbegeleider

    @property
    def needs_therapist(self) -> bool:
        return self.case.spec.needs_mst_therapist

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def conflicts(self) -> set[str]:
        return set(self.case.conflicts_with)

    def cost(self, group: str, start: int) -> int:
        factor = URGENCY_FACTOR.get(self.case.urgency, 1)
        minutes = self.travel[group]
        cost = WAIT_PER_DAY * factor * start + (0 if minutes == 0 else NOT_HOME) + PER_TRAVEL_MINUTE * minutes
        p, pi = self.published, self.published_index
        if p is not None and (p.group != group or pi != start):
            cost += MOVE
        return cost

    @property
    def unplaced_cost(self) -> int:
        # A case that cannot start after the horizon (machtiging lapse, age) is lost when left out:
        # that outweighs the order of urgency among cases that will all be placed.
        lost = LOST if self.deadline else 0
        return (UNPLACED + AGE_PER_DAY * self.waited) * URGENCY_FACTOR.get(self.case.urgency, 1) + lost


def groups_in_reach(net: NetworkIndex, case: Case, group_kind: str | None = None) -> dict[str, int]:
    """Groups of `group_kind` (default: the case's residence) reachable from home, with the travel minutes."""
    wanted = case.spec.group_kind if group_kind is None else group_kind
    out: dict[str, int] = {}
    for gid, info in net.groups.items():
        if info.group.kind != wanted:
            continue
        minutes = net.travel(case.home_region, info.region)
        if minutes is not None:
            out[gid] = minutes
    return out


def build_input(
    net: NetworkIndex,
    prof: Profiles,
    case: Case,
    horizon: int,
    max_groups: int,
    published: Placement | None = None,
) -> CaseInput:
    """What the case may get; `published` is its placement as told before (promised or expected),
    which a change costs (MOVE, RESTAFF)."""
    reach = groups_in_reach(net, case)
    ordered = sorted(reach, key=lambda g: (reach[g], net.groups[g].region, g))
    home = [g for g in ordered if reach[g] == 0]
    rest = [g for g in ordered if reach[g] != 0]
    groups = home + rest[: max(0, max_groups - len(home))]
    p = published
    if p is not None and p.group in reach and p.group not in groups:
        groups.append(p.group)
    allowed = np.zeros(horizon + 1, dtype=bool)
    for a, b in case.start_windows(prof.today, prof.day(horizon)):
        allowed[prof.index(a) : prof.index(b) + 1] = True
    therapists = []
    if case.spec.needs_mst_therapist:
        therapists = [t.id for t in net.serving("mst_therapist", case.home_region)]
    current = case.current_therapist if case.current_therapist in therapists else None
    if current is not None:  # tried first by the greedy plans
        therapists.remove(current)
        therapists.insert(0, current)
    published_index = prof.index(p.start) if p is not None else None
    return CaseInput(
        case=case,
        stay=case.stay_days,
        allowed=allowed,
        groups=groups,
        therapists=therapists,
        published=p,
        published_index=published_index,
        travel={g: reach[g] for g in groups},
        waited=max(0, (prof.today - case.ready_day()).days),
        deadline=bool(allowed.any()) and not allowed[-1],
        nights=case.nights_per_week if case.spec.part_time else None,
        preferred_nights=list(case.preferred_nights),
        current_therapist=current,
        preferred_tb=case.kennismaking_tb,
    )


def tbs_for(net: NetworkIndex, group: str) -> list[str]:
    return [t.id for t in net.serving("trajectbegeleider", net.groups[group].region)]


def feasible_starts(net: NetworkIndex, prof: Profiles, ci: CaseInput, group: str) -> np.ndarray:
    """ok[s] for s in 0..horizon: the case could start in `group` on day s given the profiles."""
    n = len(ci.allowed)
    ok: np.ndarray = ci.allowed & prof.bed_ok(group, ci.stay, ci.nights)[:n]
    if not ok.any():
        return ok
    if ci.needs_therapist:
        staff = np.zeros(n, dtype=bool)
        for t in ci.therapists:
            staff |= prof.staff_ok(t)[:n]
        ok &= staff
        if not ok.any():
            return ok
    staff = np.zeros(n, dtype=bool)
    for t in tbs_for(net, group):
        staff |= prof.staff_ok(t)[:n]
    ok &= staff
    if ok.any() and ci.conflicts:
        ok &= prof.conflict_free(group, ci.stay, ci.conflicts, n)
    return ok


def first_true(mask: np.ndarray, after: int = 0) -> int | None:
    idx = np.flatnonzero(mask[after:])
    return int(idx[0]) + after if len(idx) else None


def openings(mask: np.ndarray, limit: int) -> list[int]:
    """The first day and the days where the mask turns from False to True, at most `limit`."""
    if not mask.any():
        return []
    rises = np.flatnonzero(mask[1:] & ~mask[:-1]) + 1
    days = ([0] if mask[0] else []) + [int(r) for r in rises]
    return days[:limit]


def describe_window(case: Case, today: date, horizon_end: date) -> tuple[str, str]:
    """(code, plain reason) why a case cannot start at all in [today, horizon_end] by the rules alone."""
    if not case.open:
        return case.status, case.status
    if case.needs_machtiging and not case.machtigingen:
        return "machtiging", "waiting for a machtiging"
    if case.eligible_until < max(today, case.earliest_start):
        return "age", f"too old for {case.kind} after {case.eligible_until} (or referred a year before)"
    if case.needs_machtiging and not case.start_windows(today, date.max):
        return "machtiging_lapsed", (
            "no machtiging allows the stay any more (lapsed 3 months after valid_from, or too short); "
            "waiting for a new machtiging"
        )
    return "horizon", f"not allowed to start before {horizon_end}"
