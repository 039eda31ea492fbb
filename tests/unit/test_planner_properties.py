"""Property tests: on small generated scenarios the independent validator finds no violation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_planner_support import START, event, network, referral, run, scenario

from services.scheduler.core import SolverConfig

CONFIG = SolverConfig(time_limit_s=0.5, deterministic_time=0.5, horizon_days=90)


def d(n: int) -> date:
    return START + timedelta(n)


@st.composite
def small_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    closed = [("n-closed", "N", draw(st.integers(1, 3)), draw(st.integers(0, 1)))]
    if draw(st.booleans()):
        closed.append(("z-closed", "Z", draw(st.integers(1, 2)), 0))
    closed = [(g, r, beds, min(tob, beds)) for g, r, beds, tob in closed]
    busy = [
        {
            "person": draw(st.sampled_from(["th-N", "tb-N", "ref-N", "ref-Z"])),
            "from": f"{d(k)}T{h:02d}:00",
            "until": f"{d(k)}T{h + draw(st.integers(1, 8)):02d}:00",
        }
        for k, h in draw(st.lists(st.tuples(st.integers(0, 30), st.integers(8, 12)), max_size=6))
    ]
    net = network(
        closed=closed,
        open_=[("n-open", "N", draw(st.integers(1, 2)))],
        therapists=draw(st.integers(1, 3)),
        tbs=draw(st.integers(1, 3)),
        busy=busy,
        within=draw(st.integers(0, 3)),
    )
    events: list[dict[str, Any]] = []
    n = draw(st.integers(1, 6))
    cases = [f"c{i}" for i in range(n)]
    for i, case in enumerate(cases):
        day = draw(st.integers(0, 30))
        kind = draw(st.sampled_from(["thuisbest", "thuisbest", "thuisbest_open"]))
        stay = draw(st.sampled_from([42, 49, 56])) if kind == "thuisbest" else draw(st.sampled_from([28, 42]))
        machtiging: Any = "auto"
        if kind == "thuisbest":
            machtiging = draw(st.sampled_from(["auto", None, "short"]))
            if machtiging == "short":
                machtiging = (d(day), d(day + stay + draw(st.integers(0, 20))))
        others = [c for c in cases if c != case]
        conflicts = draw(st.lists(st.sampled_from(others), max_size=1)) if others else []
        events.append(
            referral(
                case,
                d(day),
                kind=kind,
                stay=stay,
                machtiging=machtiging,
                conflicts=conflicts,
                region=draw(st.sampled_from(["N", "N", "Z"])),
                urgency=draw(st.sampled_from(["normal", "urgent", "crisis"])),
                earliest=d(day + draw(st.integers(0, 10))),
                hour=9 + i,
            )
        )
        later = day + draw(st.integers(1, 80))
        what = draw(st.sampled_from(["none", "machtiging", "timeout", "discharge", "withdraw", "close"]))
        if what == "machtiging":
            events.append(
                event(
                    "machtiging",
                    case,
                    d(later),
                    valid_from=d(later).isoformat(),
                    valid_until=d(later + 150).isoformat(),
                )
            )
        elif what == "timeout":
            events.append(event("timeout_request", case, d(later), days=draw(st.integers(1, 14))))
        elif what == "discharge":
            events.append(
                event("discharge", case, d(later), date=d(later + draw(st.integers(-5, 5))).isoformat())
            )
        elif what in ("withdraw", "close"):
            events.append(event(what, case, d(later)))
    if draw(st.booleans()):
        first = draw(st.integers(0, 60))
        events.append(
            {
                "at": f"{d(max(0, first - 3))}T08:00",
                "type": "capacity",
                "group": "n-closed",
                "beds": draw(st.integers(0, 2)),
                "from": d(first).isoformat(),
                "until": d(first + draw(st.integers(1, 30))).isoformat(),
            }
        )
    sc = scenario(net, events)
    sc["end"] = d(100).isoformat()
    return sc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios())
def test_optimized_plans_pass_the_validator(sc: dict[str, Any]) -> None:
    run(sc, "optimized", CONFIG)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios())
def test_fcfs_plans_pass_the_validator(sc: dict[str, Any]) -> None:
    run(sc, "fcfs", CONFIG)
