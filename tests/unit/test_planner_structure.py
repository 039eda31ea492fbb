"""The placement model's constraint families one at a time, on the CP-SAT model itself.

`test_planner_rules.py` checks the published plan, which for the optimized policy may come from
the greedy fallback when the model is INFEASIBLE or finds nothing in time. Here every family of
`_ModelBuilder` is built alone (after the choice of options it rests on), options are forced on,
and the solver must find the forced plan infeasible exactly when the family forbids it.
"""

from __future__ import annotations

import time as clock
from datetime import datetime, time, timedelta

import pytest
from test_planner_support import JSON, START, Driver, network, referral

from services.scheduler.core.greedy import Assignment
from services.scheduler.core.model import SolveResult, _ModelBuilder
from services.scheduler.core.scheduler import STAY_MARGIN
from services.scheduler.core.state import Placement

NOW = datetime.combine(START, time(18))
Option = tuple[str, int]


def builder(
    net: JSON,
    referrals: list[JSON],
    options: dict[str, list[Option]],
    *,
    started: dict[str, Placement] | None = None,
    beds: tuple[str, int, int, int] | None = None,
) -> _ModelBuilder:
    """The model of the referred cases with the given options, after the choice of options only.

    `started` placements (from today) and a capacity change `beds` = (group, beds, from day,
    until day) are fixed data.
    """
    drv = Driver(net)
    for raw in referrals:
        drv.send(raw)
    s = drv.scheduler
    for c in s.cases.values():  # forget the first decisions: the model decides here
        c.placement = c.expected = c.meeting = c.waiting = None
    for cid, p in (started or {}).items():
        s.cases[cid].placement = p
    if beds is not None:
        g, n, a, z = beds
        s.set_capacity(g, n, START + timedelta(a), START + timedelta(z), NOW)
    fixed = s._fixed_profile(START, s.config.horizon_days + STAY_MARGIN, s.load_days)
    pending = [c for c in s.cases.values() if c.id not in (started or {})]
    inputs = s._inputs(pending, fixed, NOW, [], {})
    b = _ModelBuilder(s.net, fixed, inputs, options)
    b.choose_options()
    return b


def solve_forced(b: _ModelBuilder, *forced: tuple[str, str, int]) -> SolveResult:
    """Solve with the options `forced` = (case, group, start day) chosen."""
    for key in forced:
        b.m.add(b.x[key] == 1)
    b.objective()
    return b.solve(clock.perf_counter(), time_limit_s=10.0, deterministic_time=None, seed=7, workers=1)


def infeasible(result: SolveResult) -> bool:
    # INFEASIBLE is handled like every status without a solution: no assignments, no objective.
    if result.status == "INFEASIBLE":
        assert result.assignments == {} and result.objective is None and result.bound is None
        return True
    assert result.status == "OPTIMAL", result.status
    return False


def started(group: str, therapist: str = "th-N", begeleider: str = "tb-N") -> Placement:
    return Placement(group, START, START + timedelta(42), therapist, begeleider)


# --- choice of option, therapist and trajectbegeleider per case ---------------------------------


def test_a_case_takes_at_most_one_option() -> None:
    # Two of each person in N: staffing alone would allow both options (one person each).
    net = network()
    net["people"] += [
        {"id": "th-N2", "role": "mst_therapist", "regions": ["N"], "max_cases": 4, "supervisor": "sup"},
        {"id": "tb-N2", "role": "trajectbegeleider", "regions": ["N"], "max_cases": 8},
    ]
    opts = {"a": [("n-closed", 0), ("n-closed", 3)]}
    result = solve_forced(builder(net, [referral("a")], opts), ("a", "n-closed", 0))
    assert (result.assignments["a"].group, result.assignments["a"].start) == ("n-closed", 0)
    both = [("a", "n-closed", 0), ("a", "n-closed", 3)]
    assert infeasible(solve_forced(builder(net, [referral("a")], opts), *both))


def test_a_placed_case_gets_a_home_therapist_and_a_trajectbegeleider() -> None:
    result = solve_forced(builder(network(), [referral("a")], {"a": [("n-closed", 0)]}), ("a", "n-closed", 0))
    assert result.assignments == {"a": Assignment("n-closed", 0, "th-N", "tb-N")}
    b = builder(network(), [referral("a")], {"a": [("n-closed", 0)]})
    b.m.add(b.th_of["a"]["th-N"] == 0)  # the only therapist of N
    assert infeasible(solve_forced(b, ("a", "n-closed", 0)))


def test_the_trajectbegeleider_serves_the_chosen_groups_region() -> None:
    net = network(closed=[("n-closed", "N", 2, 0), ("z-closed", "Z", 2, 0)])
    opts = {"a": [("n-closed", 0), ("z-closed", 0)]}
    result = solve_forced(builder(net, [referral("a")], opts), ("a", "z-closed", 0))
    assert result.assignments == {"a": Assignment("z-closed", 0, "th-N", "tb-Z")}
    b = builder(net, [referral("a")], opts)
    b.m.add(b.tb_of["a"]["tb-N"] == 1)  # tb-N serves N only
    assert infeasible(solve_forced(b, ("a", "z-closed", 0)))


# --- beds (rule 1) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cases", "with_beds", "fits"), [("ab", True, True), ("abc", True, False), ("abc", False, True)]
)
def test_beds_bound_the_cases_on_a_group_per_night(cases: str, with_beds: bool, fits: bool) -> None:
    # n-closed has 2 beds; the third case arrives on the last night of the first two stays.
    starts = {"a": 0, "b": 0, "c": 41}
    b = builder(network(), [referral(c) for c in cases], {c: [("n-closed", starts[c])] for c in cases})
    if with_beds:
        b.beds()
    assert infeasible(solve_forced(b, *[(c, "n-closed", starts[c]) for c in cases])) is not fits


@pytest.mark.parametrize(
    ("beds", "fits"), [(("n-closed", 0, 10, 20), False), (("n-closed", 0, 42, 50), True)]
)
def test_a_capacity_cut_during_the_stay_binds(beds: tuple[str, int, int, int], fits: bool) -> None:
    # The free count drops on a night where no option starts.
    b = builder(network(), [referral("a")], {"a": [("n-closed", 0)]}, beds=beds)
    b.beds()
    assert infeasible(solve_forced(b, ("a", "n-closed", 0))) is not fits


@pytest.mark.parametrize(("cases", "fits"), [("a", True), ("ab", False)])
def test_started_stays_hold_their_beds(cases: str, fits: bool) -> None:
    b = builder(
        network(),
        [referral("s"), *(referral(c) for c in cases)],
        {c: [("n-closed", 5)] for c in cases},
        started={"s": started("n-closed")},
    )
    b.beds()
    assert infeasible(solve_forced(b, *[(c, "n-closed", 5) for c in cases])) is not fits


def test_a_bed_is_free_again_the_night_a_stay_ends() -> None:
    b = builder(
        network(),
        [referral(c) for c in "abc"],
        {"a": [("n-closed", 0)], "b": [("n-closed", 0)], "c": [("n-closed", 42)]},
    )
    b.beds()
    assert not infeasible(solve_forced(b, ("a", "n-closed", 0), ("b", "n-closed", 0), ("c", "n-closed", 42)))


# --- caseloads (rule 7) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("therapists", "second_start", "with_caseloads", "fits"),
    [
        (1, 0, True, False),
        (1, 0, False, True),
        (2, 0, True, True),
        (1, 139, True, False),
        (1, 140, True, True),
    ],
)
def test_caseloads_bound_the_cases_per_person(
    therapists: int, second_start: int, with_caseloads: bool, fits: bool
) -> None:
    # th-N takes every case from N for mst_weeks = 20 weeks (140 days) from its start.
    net = network(therapists=therapists)
    opts = {"a": [("n-closed", 0)], "b": [("n-closed", second_start)]}
    b = builder(net, [referral("a"), referral("b")], opts)
    if with_caseloads:
        b.caseloads()
    forced = solve_forced(b, ("a", "n-closed", 0), ("b", "n-closed", second_start))
    assert infeasible(forced) is not fits


@pytest.mark.parametrize(("therapists", "fits"), [(1, False), (2, True)])
def test_the_caseload_of_started_cases_counts(therapists: int, fits: bool) -> None:
    b = builder(
        network(therapists=therapists),
        [referral("s"), referral("a")],
        {"a": [("n-closed", 60)]},  # the started case loads th-N for 140 days
        started={"s": started("n-closed")},
    )
    b.caseloads()
    assert infeasible(solve_forced(b, ("a", "n-closed", 60))) is not fits


# --- conflicts (rule 6) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b_option", "fits"),
    [(("n-closed", 0), False), (("n-closed", 42), True), (("n-closed-2", 0), True)],
)
def test_conflicting_cases_never_share_a_groups_night(b_option: Option, fits: bool) -> None:
    net = network(closed=[("n-closed", "N", 2, 0), ("n-closed-2", "N", 2, 0)])
    events = [referral("a", conflicts=["b"]), referral("b", conflicts=["a"], hour=11)]
    b = builder(net, events, {"a": [("n-closed", 0)], "b": [b_option]})
    b.conflicts()
    assert infeasible(solve_forced(b, ("a", "n-closed", 0), ("b", *b_option))) is not fits
