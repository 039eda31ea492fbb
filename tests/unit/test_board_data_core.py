"""The board's reads computed from a published plan: beds per night, wait codes and deadlines, the
waiting list's order, and the difference a capacity change makes."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any, get_args

from hypothesis import given
from hypothesis import strategies as st
from test_planner_support import START, Driver, event, network, referral

from services.scheduler.board import (
    BedStay,
    Published,
    capacity_effects,
    change_of,
    group_beds,
    not_started,
    waiting_list,
)
from services.scheduler.core.state import Case, Placement, Waiting
from services.scheduler.core.waitlist import (
    WAIT_CODES,
    WaitCode,
    lapsing_soon,
    last_machtiging_start,
    start_limit,
    wait_code,
)
from services.scheduler.views import PlanView
from shared.kinds import WEEKDAYS, kind_for_group_kind
from shared.network import Group, GroupInfo, Location, Network, NetworkIndex
from shared.workdays import WorkCalendar

TODAY = date(2026, 3, 2)


def d(n: int) -> date:
    return TODAY + timedelta(n)


def case(cid: str = "a", **extra: Any) -> Case:
    fields: dict[str, Any] = {
        "id": cid,
        "kind": "thuisbest",
        "home_region": "N",
        "referrer": "ref-N",
        "urgency": "normal",
        "earliest_start": TODAY,
        "stay_days": 42,
        "eligible_from": date(2024, 1, 1),
        "eligible_until": date(2029, 12, 31),
        "conflicts_with": [],
        "machtigingen": [],
        "referred_at": datetime(2026, 3, 2, 10),
    }
    return Case(**(fields | extra))


def placement(
    group: str = "n-closed", start: date | None = None, therapist: str = "th-N", tb: str = "tb-N"
) -> Placement:
    first = d(3) if start is None else start
    return Placement(group, first, first + timedelta(42), therapist, tb)


def group_info(beds: int = 4, timeout_beds: int = 1) -> GroupInfo:
    net = network(closed=[("g", "N", beds, timeout_beds)], open_=[])
    return NetworkIndex(Network.model_validate(net)).groups["g"]


# --- beds per night ------------------------------------------------------------------------------


def test_a_night_counts_regular_stays_and_timeouts_against_its_capacity() -> None:
    stays = [
        BedStay("a", True, d(-5), d(3)),  # under way, leaves after night d(2)
        BedStay("b", True, d(1), d(10)),  # planned
        BedStay("c", False, d(2), d(4)),  # a time-out
        BedStay("x", True, d(-60), d(-1)),  # gone before the window
    ]
    capacity = {d(3).toordinal(): 2, d(4).toordinal(): 0}  # an announced cut on two nights
    row = group_beds(group_info(), capacity, stays, TODAY, 6, TODAY, lambda c: c != "b", [])
    assert (row.group, row.kind, row.location, row.region, row.beds, row.timeout_beds) == (
        "g",
        "closed",
        "loc-N",
        "N",
        4,
        1,
    )
    night = {n.date: n for n in row.days}
    assert list(night) == [d(n) for n in range(6)]
    got = {
        day: (n.capacity, n.timeout_capacity, n.occupied, n.timeouts, n.free, n.timeout_free)
        for day, n in night.items()
    }
    assert got == {
        d(0): (4, 1, 1, 0, 2, 3),
        d(1): (4, 1, 2, 0, 1, 2),
        d(2): (4, 1, 2, 1, 1, 1),  # the time-out takes the kept bed: regular beds stay free
        d(3): (2, 1, 1, 1, 0, 0),
        d(4): (0, 0, 1, 0, 0, 0),  # a cut below a stay under way: never negative
        d(5): (4, 1, 1, 0, 2, 3),
    }
    assert [(e.kind, e.case) for e in night[d(2)].entries] == [
        ("stay", "a"),
        ("planned", None),  # b's home region is not the person's: the bed is taken, the case hidden
        ("timeout", "c"),
    ]
    assert [(e.kind, e.case) for e in night[d(3)].entries] == [("planned", None), ("timeout", "c")]
    # Seen from a later day, b is under way.
    later = group_beds(group_info(), capacity, stays, TODAY, 6, d(1), lambda c: True, [])
    assert {e.kind for n in later.days for e in n.entries if e.case == "b"} == {"stay"}


def v2_group(kind: str, beds: int) -> GroupInfo:
    """A part-time group (`beds`) or a day group (`places`) of region N."""
    sizes = {"places": beds} if kind == "day" else {"beds": beds}
    group = Group(id=f"n-{kind}", kind=kind, **sizes)  # type: ignore[arg-type]
    return GroupInfo(group, Location(id="loc-N", name="N", region="N", groups=[group]))


def test_a_part_time_stay_is_on_the_nights_of_its_pattern_only() -> None:
    # TODAY is a Monday. Two youths share one bed: a on Monday to Wednesday, b on Thursday and
    # Friday; c (planned, from Wednesday) on Monday and Saturday; nobody on Sunday.
    stays = [
        BedStay("a", True, d(-14), d(60), ("wed", "mon", "tue")),  # any order in, week order out
        BedStay("b", True, d(-7), d(60), ("thu", "fri")),
        BedStay("c", True, d(2), d(60), ("mon", "sat")),
    ]
    row = group_beds(v2_group("part_time", 1), {}, stays, TODAY, 14, TODAY, lambda c: c != "b", [])
    assert row.part_time and not row.day_places and row.kind == "part_time"
    on = {n.date: [(e.case, e.nights) for e in n.entries] for n in row.days}
    a, b, c = ("a", ["mon", "tue", "wed"]), (None, ["thu", "fri"]), ("c", ["mon", "sat"])
    assert [on[d(i)] for i in range(7)] == [[a], [a], [a], [b], [b], [c], []]
    assert on[d(7)] == [a, c]  # the second Monday: both, one bed: over capacity is shown as it is
    occupied = {n.date: (n.occupied, n.free) for n in row.days}
    assert [occupied[d(i)] for i in range(7)] == [(1, 0)] * 6 + [(0, 1)]
    assert occupied[d(7)] == (2, 0)
    assert all(n.in_use for n in row.days)


def test_day_places_are_used_on_working_days_only() -> None:
    # Monday 30 March to Sunday 12 April 2026: Good Friday (3 April) and Easter Monday (6 April) are
    # Dutch public holidays.
    first = date(2026, 3, 30)
    stays = [
        BedStay("g", True, first, first + timedelta(84)),
        BedStay("h", True, date(2026, 4, 2), date(2026, 6, 1)),
    ]
    row = group_beds(v2_group("day", 3), {}, stays, first, 14, first, lambda c: True, [])
    assert row.day_places and not row.part_time and row.beds == 3
    used = {n.date: n for n in row.days}
    closed = {day for day, n in used.items() if not n.in_use}
    holidays = {date(2026, 4, 3), date(2026, 4, 6)}
    weekends = {date(2026, 4, 4), date(2026, 4, 5), date(2026, 4, 11), date(2026, 4, 12)}
    assert closed == holidays | weekends
    for day in closed:
        n = used[day]
        assert (n.capacity, n.occupied, n.free, n.entries) == (0, 0, 0, [])
    assert [e.case for e in used[date(2026, 4, 1)].entries] == ["g"]
    assert [e.case for e in used[date(2026, 4, 7)].entries] == ["g", "h"]
    assert (used[date(2026, 4, 7)].capacity, used[date(2026, 4, 7)].free) == (3, 1)
    # The network's own holidays count too, when the caller passes its calendar.
    own = WorkCalendar([date(2026, 4, 8)])
    row = group_beds(v2_group("day", 3), {}, stays, first, 14, first, lambda c: True, [], own)
    assert {n.date for n in row.days if not n.in_use} == closed | {date(2026, 4, 8)}


def test_the_published_plan_gives_each_stay_its_pattern() -> None:
    part_time = kind_for_group_kind("part_time").name
    view = PlanView.model_validate(
        {
            "stays": [
                {
                    "case": "p",
                    "type": "placement",
                    "group": "n-part_time",
                    "location": "loc-N",
                    "start": "2026-03-02",
                    "end": "2026-12-07",
                    "mst_therapist": None,
                    "trajectbegeleider": "tb-N",
                    "kind": part_time,
                    "nights": ["fri", "mon"],
                },
                {
                    "case": "q",
                    "type": "placement",
                    "group": "n-closed",
                    "location": "loc-N",
                    "start": "2026-03-02",
                    "end": "2026-04-13",
                    "mst_therapist": "th-N",
                    "trajectbegeleider": "tb-N",
                },
            ],
            "meetings": [],
            "waiting": [],
            "rejected": [],
        }
    )
    stays = Published(view, {}, {}).stays()
    assert stays["n-part_time"][0].nights == ("mon", "fri") and stays["n-closed"][0].nights is None


week = st.lists(st.sampled_from(WEEKDAYS), min_size=2, max_size=5, unique=True)


@given(st.lists(st.tuples(st.integers(-10, 20), st.integers(1, 40), week), max_size=6), st.integers(1, 3))
def test_every_part_time_night_agrees_with_the_patterns_on_it(
    raw: list[tuple[int, int, list[str]]], beds: int
) -> None:
    stays = [BedStay(f"c{i}", True, d(a), d(a + n), tuple(ns)) for i, (a, n, ns) in enumerate(raw)]
    row = group_beds(v2_group("part_time", beds), {}, stays, TODAY, 21, TODAY, lambda c: True, [])
    for n in row.days:
        on = [
            s for s in stays if s.start <= n.date < s.end and WEEKDAYS[n.date.weekday()] in (s.nights or ())
        ]
        assert sorted(e.case or "" for e in n.entries) == sorted(s.case for s in on)
        assert n.occupied == len(on) and n.free == max(0, beds - len(on))
        assert all(e.nights == [w for w in WEEKDAYS if w in (e.nights or [])] for e in n.entries)


window = st.integers(min_value=-20, max_value=30)


@given(
    st.lists(st.tuples(window, st.integers(1, 20), st.booleans()), max_size=8),
    st.dictionaries(st.integers(0, 13), st.integers(0, 6), max_size=6),
    st.integers(1, 6),
    st.integers(0, 2),
)
def test_every_night_agrees_with_the_stays_on_it(
    raw: list[tuple[int, int, bool]], cuts: dict[int, int], beds: int, timeout_beds: int
) -> None:
    stays = [BedStay(f"c{i}", regular, d(a), d(a + n)) for i, (a, n, regular) in enumerate(raw)]
    capacity = {d(k).toordinal(): v for k, v in cuts.items()}
    info = group_info(beds, min(timeout_beds, beds))
    row = group_beds(info, capacity, stays, TODAY, 14, TODAY, lambda c: True, [])
    for n in row.days:
        on = [s for s in stays if s.start <= n.date < s.end]
        assert sorted(e.case or "" for e in n.entries) == sorted(s.case for s in on)
        assert n.occupied == sum(s.regular for s in on) and n.timeouts == len(on) - n.occupied
        assert n.capacity == capacity.get(n.date.toordinal(), beds)
        assert n.timeout_capacity == min(info.group.timeout_beds, n.capacity)
        assert 0 <= n.free <= n.timeout_free
        assert n.timeout_free == max(0, n.capacity - len(on))
        assert n.free == max(0, min(n.capacity - n.timeout_capacity - n.occupied, n.timeout_free))


def test_the_beds_of_a_plan_of_sixty_stays_take_milliseconds() -> None:
    infos = [group_info() for _ in range(9)]
    stays = [BedStay(f"c-{i}", i % 7 != 0, d(i % 20 * 2 - 10), d(i % 20 * 2 + 32)) for i in range(60)]
    began = time.perf_counter()
    rows = [
        group_beds(info, {}, stays[i::9], TODAY, 56, TODAY, lambda c: True, [])
        for i, info in enumerate(infos)
    ]
    seconds = time.perf_counter() - began
    assert sum(len(n.entries) for r in rows for n in r.days) > 0
    assert seconds < 0.25, seconds


# --- wait codes and deadlines --------------------------------------------------------------------


def test_every_wait_code_is_documented_and_every_core_wait_has_one() -> None:
    assert set(WAIT_CODES) == set(get_args(WaitCode)) and all(WAIT_CODES.values())
    core_codes = {
        "machtiging": "machtiging_needed",
        "machtiging_lapsed": "machtiging_lapsed",
        "age": "too_old",
        "horizon": "not_yet_allowed",
        "no_bed": "no_bed",
        "no_bed_in_time": "no_bed_in_time",
    }
    for core, public in core_codes.items():
        assert wait_code(case(waiting=Waiting("r", None, core))) == public, core
    assert wait_code(case(waiting=Waiting("r", None, "no_bed", staff_or_slot=True))) == "no_staff_or_slot"
    assert (
        wait_code(case(waiting=Waiting("r", None, "no_bed_in_time", staff_or_slot=True)))
        == "no_staff_or_slot"
    )
    assert wait_code(case()) == "not_planned_yet"
    assert wait_code(case(placement=placement())) == "planned"


def test_the_core_leaves_the_waits_the_codes_name() -> None:
    drv = Driver(network(closed=[("n-closed", "N", 1, 0)]))
    start = START
    short = (start, start + timedelta(50))  # the last start day is 9 days on: one of two gets the bed
    drv.send(referral("first", start, machtiging=short))
    drv.send(referral("second", start, machtiging=short, hour=11))
    drv.send(referral("no-order", start, machtiging=None, hour=12))
    drv.send(referral("lapsed", start, machtiging=(start - timedelta(200), start + timedelta(200)), hour=13))
    drv.send(referral("later", start, kind="thuisbest_open", earliest=start + timedelta(200), hour=14))
    drv.scheduler.set_capacity(
        "n-open", 0, start, start + timedelta(400), datetime.combine(start, datetime.min.time())
    )
    drv.send(referral("no-open-bed", start, kind="thuisbest_open", hour=15))
    drv.replan(start)
    codes = {cid: wait_code(c) for cid, c in drv.scheduler.cases.items()}
    assert sorted([codes.pop("first"), codes.pop("second")]) == ["no_bed_in_time", "planned"]
    assert codes == {
        "no-order": "machtiging_needed",
        "lapsed": "machtiging_lapsed",
        "later": "not_yet_allowed",
        "no-open-bed": "no_bed",
    }
    # The published copy the board reads (restored from the snapshot) keeps them.
    published = Published(PlanView.model_validate(drv.scheduler.plan()), drv.scheduler.snapshot(), {})
    copies = published.open_cases()
    assert {cid: wait_code(c) for cid, c in copies.items()} == {
        cid: wait_code(c) for cid, c in drv.scheduler.cases.items()
    }
    assert copies["first"] is not drv.scheduler.cases["first"]
    drv.send(event("close", "later", start, hour=16))
    published = Published(PlanView.model_validate(drv.scheduler.plan()), drv.scheduler.snapshot(), {})
    assert set(published.open_cases()) == set(drv.scheduler.cases) - {"later"}
    [placed] = [c.placement for c in drv.scheduler.cases.values() if c.placement is not None]
    assert placed is not None
    [stay] = published.stays()[placed.group]
    assert (stay.regular, stay.start, stay.end) == (True, placed.start, placed.end)


def test_a_machtiging_allows_starts_until_it_lapses_or_the_stay_no_longer_fits() -> None:
    lapsing = case(machtigingen=[(date(2025, 12, 10), date(2026, 12, 1))])
    assert last_machtiging_start(lapsing) == date(2026, 3, 10)  # three months after valid_from
    short = case(machtigingen=[(date(2026, 3, 1), date(2026, 4, 30))])
    assert last_machtiging_start(short) == date(2026, 3, 20)  # 42 nights must fit before its end
    assert last_machtiging_start(case(machtigingen=[short.machtigingen[0], lapsing.machtigingen[0]])) == date(
        2026, 3, 20
    )
    assert last_machtiging_start(case()) is None

    last = date(2026, 3, 10)
    assert lapsing_soon(last, None, TODAY) and lapsing_soon(last, date(2026, 3, 11), TODAY)
    assert not lapsing_soon(last, date(2026, 3, 10), TODAY)  # a placement starts in time
    assert not lapsing_soon(last, None, date(2026, 2, 23))  # 15 days ahead: not yet
    assert lapsing_soon(last, None, date(2026, 2, 24))  # 14 days ahead
    assert not lapsing_soon(last, None, date(2026, 3, 11))  # lapsed already
    assert not lapsing_soon(None, None, TODAY)


def test_the_start_limit_is_the_machtiging_or_the_age_whichever_ends_first() -> None:
    assert start_limit(case(machtigingen=[(date(2025, 12, 10), date(2026, 12, 1))]), TODAY) == date(
        2026, 3, 10
    )
    assert start_limit(case(), TODAY) == date(2029, 12, 31)  # no machtiging yet: the age only
    young_limit = case(machtigingen=[(TODAY, date(2027, 3, 1))], eligible_until=d(20))
    assert start_limit(young_limit, TODAY) == d(20)
    assert start_limit(case(kind="thuisbest_open"), TODAY) == date(2029, 12, 31)
    assert start_limit(case(eligible_until=d(-1)), TODAY) is None  # too old: no start any more


# --- the waiting list ----------------------------------------------------------------------------


def test_the_waiting_list_puts_the_most_urgent_then_the_longest_waiting_first() -> None:
    net = NetworkIndex(Network.model_validate(network()))
    cases = [
        case("normal-new"),
        case("normal-old", referred_at=datetime(2026, 2, 1, 9), earliest_start=date(2026, 2, 1)),
        case("urgent-new", urgency="urgent"),
        case("crisis-planned", urgency="crisis", placement=placement()),
        case("normal-later", earliest_start=d(10), referred_at=datetime(2026, 3, 2, 11)),
        case("started", placement=placement(start=TODAY)),
        case("closed", status="closed"),
    ]
    entries = waiting_list(net, cases, TODAY)
    assert [e.case for e in entries] == [
        "crisis-planned",
        "urgent-new",
        "normal-old",
        "normal-new",
        "normal-later",
    ]
    by_case = {e.case: e for e in entries}
    old = by_case["normal-old"]
    assert (old.waiting_since, old.days_waiting, old.state, old.code) == (
        date(2026, 2, 1),
        29,
        "waiting",
        "not_planned_yet",
    )
    assert by_case["normal-later"].days_waiting == 0 and by_case["normal-later"].waiting_since == d(10)
    planned = by_case["crisis-planned"]
    assert planned.state == "planned" and planned.planned is not None
    assert (planned.planned.group, planned.planned.location, planned.planned.start) == (
        "n-closed",
        "loc-N",
        d(3),
    )
    assert planned.expected_start == d(3) and planned.code == "planned"
    assert not not_started(cases[5], TODAY) and not_started(cases[5], TODAY - timedelta(1))


# --- what a capacity change does -----------------------------------------------------------------


def test_a_capacity_change_moves_cancels_places_and_restaffs() -> None:
    p = placement()
    before = {
        "same": p,
        "moved": p,
        "later": p,
        "cancelled": p,
        "restaffed": p,
        "new": None,
        "waiting": None,
    }
    after = {
        "same": placement(),
        "moved": placement(group="other"),
        "later": placement(start=d(9)),
        "cancelled": None,
        "restaffed": placement(therapist="th-2"),
        "new": placement(),
        "waiting": None,
    }
    effects = capacity_effects(before, after)
    assert [(e.case, e.change) for e in effects] == [
        ("cancelled", "cancelled"),
        ("later", "moved"),
        ("moved", "moved"),
        ("new", "new"),
        ("restaffed", "restaffed"),
    ]
    [cancelled] = [e for e in effects if e.case == "cancelled"]
    assert cancelled.after is None and cancelled.before is not None and cancelled.before.group == "n-closed"
    [new] = [e for e in effects if e.case == "new"]
    assert new.before is None and new.after is not None and new.after.end == d(45)
    assert change_of(None, None) is None and change_of(p, placement()) is None


def test_a_part_time_youth_on_other_nights_has_moved_and_a_kind_without_mst_has_no_therapist() -> None:
    first = Placement("n-part_time", d(3), d(200), None, "tb-N", nights=("mon", "tue"))
    other_nights = Placement("n-part_time", d(3), d(200), None, "tb-N", nights=("tue", "wed"))
    same_nights = Placement("n-part_time", d(3), d(200), None, "tb-N", nights=("tue", "mon"))
    assert change_of(first, other_nights) == "moved" and change_of(first, same_nights) is None
    [effect] = capacity_effects({"p": first}, {"p": other_nights})
    assert effect.before is not None and effect.after is not None
    assert (effect.before.mst_therapist, effect.before.nights, effect.after.nights) == (
        None,
        ["mon", "tue"],
        ["tue", "wed"],
    )
