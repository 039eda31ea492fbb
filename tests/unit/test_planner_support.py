"""Builders shared by the planner tests: a small hand-made network, scenario events, a run + validation."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from services.intake.rules import to_case_event
from services.scheduler.core import Scheduler, SolverConfig
from shared.events import Decision
from shared.network import Network, NetworkIndex
from tools.scenario import load_scenario_dict
from tools.simulate import simulate
from tools.validator import ValidationResult, validate_report

JSON = dict[str, Any]
START = date(2026, 1, 5)  # a Monday
END = date(2026, 6, 30)
FAST = SolverConfig(time_limit_s=1.0, deterministic_time=1.0, horizon_days=150)


def network(
    *,
    closed: list[tuple[str, str, int, int]] | None = None,
    open_: list[tuple[str, str, int]] | None = None,
    therapists: int = 4,
    tbs: int = 8,
    travel: list[tuple[str, str, int]] | None = None,
    busy: list[JSON] | None = None,
    within: int = 3,
) -> JSON:
    """Regions N and Z (40 minutes apart); groups given as (id, region, beds[, timeout_beds])."""
    closed = [("n-closed", "N", 2, 0)] if closed is None else closed
    open_ = [("n-open", "N", 2)] if open_ is None else open_
    locations: dict[str, JSON] = {}
    for gid, region, beds, tob in closed:
        loc = locations.setdefault(
            region, {"id": f"loc-{region}", "name": region, "region": region, "groups": []}
        )
        loc["groups"].append({"id": gid, "kind": "closed", "beds": beds, "timeout_beds": tob})
    for gid, region, beds in open_:
        loc = locations.setdefault(
            region, {"id": f"loc-{region}", "name": region, "region": region, "groups": []}
        )
        loc["groups"].append({"id": gid, "kind": "open", "beds": beds, "timeout_beds": 0})
    people: list[JSON] = [{"id": "sup", "role": "mst_supervisor", "regions": ["N", "Z"]}]
    for r in ("N", "Z"):
        people += [
            {
                "id": f"th-{r}",
                "role": "mst_therapist",
                "regions": [r],
                "max_cases": therapists,
                "supervisor": "sup",
            },
            {"id": f"tb-{r}", "role": "trajectbegeleider", "regions": [r], "max_cases": tbs},
            {"id": f"ref-{r}", "role": "referrer", "regions": [r]},
        ]
    people.append({"id": "coord", "role": "coordinator", "regions": ["N", "Z"]})
    return {
        "scenario_version": 1,
        "name": "unit",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "settings": {
            "startgesprek_within_working_days": within,
            "meeting_minutes": 90,
            "working_hours": ["09:00", "17:00"],
            "holidays": [],
            "mst_weeks": 20,
        },
        "regions": [{"code": "N", "name": "Noord"}, {"code": "Z", "name": "Zuid"}],
        "travel_minutes": [list(t) for t in (travel if travel is not None else [("N", "Z", 40)])],
        "locations": list(locations.values()),
        "people": people,
        "busy": busy or [],
    }


def at(day: date, hour: int = 10, minute: int = 0) -> str:
    return (
        datetime.combine(day, datetime.min.time())
        .replace(hour=hour, minute=minute)
        .strftime("%Y-%m-%dT%H:%M")
    )


def referral(
    case: str,
    day: date = START,
    *,
    kind: str = "thuisbest",
    region: str = "N",
    urgency: str = "normal",
    earliest: date | None = None,
    stay: int | None = 42,
    machtiging: tuple[date, date] | None | str = "auto",
    conflicts: list[str] | None = None,
    birth: date = date(2011, 6, 1),
    hour: int = 10,
) -> JSON:
    if machtiging == "auto":
        machtiging = (day, day + timedelta(200)) if kind == "thuisbest" else None
    ev: JSON = {
        "at": at(day, hour),
        "type": "referral",
        "case": case,
        "kind": kind,
        "birth_date": birth.isoformat(),
        "home_region": region,
        "referrer": f"ref-{region}",
        "urgency": urgency,
        "earliest_start": (earliest or day).isoformat(),
        "stay_days": stay,
        "conflicts_with": conflicts or [],
        "timeout_address": "informal network: aunt" if kind == "thuisbest_open" else None,
        "machtiging": None
        if machtiging is None
        else {"valid_from": machtiging[0].isoformat(), "valid_until": machtiging[1].isoformat()},  # type: ignore[index]
    }
    return ev


def event(kind: str, case: str, day: date, hour: int = 10, **body: Any) -> JSON:
    return {"at": at(day, hour), "type": kind, "case": case, **body}


def scenario(net: JSON, events: list[JSON]) -> JSON:
    return {**net, "events": sorted(events, key=lambda e: e["at"])}


def run(sc: JSON, policy: str = "optimized", config: SolverConfig = FAST) -> tuple[JSON, ValidationResult]:
    """Simulate and validate; the report must pass the independent validator with matching KPIs."""
    report = simulate(load_scenario_dict(sc), policy, config).model_dump(mode="json", by_alias=True)
    result = validate_report(sc, report)
    assert result.ok, [f"{v.rule}: {v.message}" for v in result.violations]
    assert report["kpis"] == result.kpis
    return report, result


def placement(report: JSON, case: str) -> JSON | None:
    return next((s for s in report["stays"] if s["case"] == case and s["type"] == "placement"), None)


def waiting(report: JSON, case: str) -> str | None:
    return next((w["reason"] for w in report["waiting"] if w["case"] == case), None)


def day(value: str) -> date:
    return date.fromisoformat(value[:10])


class Driver:
    """Feeds scenario-shaped events straight into a Scheduler, for tests of its decisions."""

    def __init__(self, net: JSON, policy: str = "optimized", config: SolverConfig = FAST) -> None:
        self.network = Network.model_validate(net)
        self.index = NetworkIndex(self.network)
        self.scheduler = Scheduler(self.network, policy=policy, config=config)  # type: ignore[arg-type]

    def send(self, raw: JSON) -> list[Decision]:
        ev = load_scenario_dict({**network(), "events": [raw]}).events[0]
        return self.scheduler.handle(to_case_event(ev, self.index), datetime.fromisoformat(raw["at"]))  # type: ignore[arg-type]

    def replan(self, when: date, hour: int = 18) -> list[Decision]:
        return self.scheduler.replan(datetime.combine(when, datetime.min.time()).replace(hour=hour))
