"""Seeded scenario generator (tiers region, tight, national, national-tight) writing SCENARIO.md files."""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from shared.kinds import KINDS, KindSpec, kind_for_group_kind

JSON = dict[str, Any]

TIERS = ("region", "tight", "national", "national-tight")

DEFAULT_DAYS = {"region": 180, "tight": 180, "national": 365, "national-tight": 365}
# Referrals over the tier's default horizon (scaled linearly when `days` differs).
BASE_REFERRALS = {"region": 80, "tight": 160, "national": 2000, "national-tight": 2000}
# Capacity cuts over the tier's default horizon.
BASE_CAPACITY = {"region": 3, "tight": 6, "national": 20, "national-tight": 20}
BUSY_CAP = 25_000


@dataclass(frozen=True)
class _Sizing:
    """How a national tier sizes beds and staff to the demand its cases make."""

    # Closed beds so that the planned closed bed-nights (stays and time-outs) fill this share of
    # the regular closed beds.
    closed_load: float
    # MST therapist places per home region over its high (95th percentile) concurrent MST load.
    mst_room: float
    # Trajectbegeleider places per region over its share of the concurrent load.
    tb_room: float


SIZING = {
    # Nearly uncontended: a yearly closed occupancy of roughly 80-85% with room in the caseloads.
    "national": _Sizing(closed_load=0.84, mst_room=1.05, tb_room=1.3),
    # Contended like the sector (JeugdzorgPlus at 78-85% occupancy with waiting lists): fewer
    # closed beds than the planned load asks, and caseloads that bind (less room than the high
    # load). Seed 1 under fcfs: mean wait ~26 days, closed occupancy ~79% after the first two months.
    "national-tight": _Sizing(closed_load=1.15, mst_room=0.7, tb_room=0.9),
}

# Shares per referral. Referrals are for the kind placed on closed groups (P_CLOSED) or for the
# kind placed on open groups (the rest); what a kind allows comes from its row in shared/kinds.py.
P_CLOSED = {"region": 0.74, "tight": 0.74, "national": 0.75, "national-tight": 0.75}
P_CRISIS, P_URGENT = 0.10, 0.25
P_INVALID = 0.02
P_NO_MACHTIGING = 0.25  # referrals of a kind with a court order that arrive before the court decided
P_RENEWAL = 0.30  # of cases with a short (< 8 months) machtiging
P_WITHDRAW = 0.05
P_CLOSE = 0.50
P_DISCHARGE = 0.30
# Time-out requests per valid case: of kinds served on a group, and of kinds that refuse them
# (those exercise the refusal path).
P_TIMEOUT_SERVED, P_TIMEOUT_REFUSED = 0.20, 0.10
# A stay is the kind's min_stay, the midpoint or its max_stay, with these weights by the kind's
# residence (closed stays mostly use the whole court-ordered stay).
STAY_WEIGHTS = {"closed": (0.2, 0.3, 0.5)}
STAY_WEIGHTS_OTHER = (0.3, 0.3, 0.4)
MST_DAYS = 20 * 7
TIMEOUT_ADDRESSES = (
    "informal network: aunt, same town",
    "informal network: grandparents, nearby village",
    "informal network: older sister, same town",
    "informal network: family friend, next town",
    "informal network: uncle, same region",
    "informal network: neighbours, same street",
)

# --- networks ------------------------------------------------------------------------------

ZUID_REGIONS = (("ZL", "Zeeland"), ("WBW", "West-Brabant West"), ("WBO", "West-Brabant Oost"))
ZUID_TRAVEL = (("ZL", "WBW", 50), ("ZL", "WBO", 83), ("WBW", "WBO", 47))
ZUID_LOCATIONS = (("L00", "Breda", "WBO"), ("L01", "Ossendrecht", "WBW"), ("L02", "Goes", "ZL"))
ZUID_WEIGHTS = (0.38, 0.34, 0.28)

# (name, main town, x km west->east, y km south->north) on a ~250 x 300 km plane.
NATIONAL_REGIONS = (
    ("Groningen", "Groningen", 215, 290),
    ("Friesland", "Leeuwarden", 150, 275),
    ("Drenthe", "Assen", 210, 245),
    ("Noordoostpolder en Urk", "Emmeloord", 160, 220),
    ("Noord-Holland Noord", "Alkmaar", 90, 230),
    ("Zaanstreek-Waterland", "Zaandam", 97, 192),
    ("IJmond", "Beverwijk", 78, 195),
    ("Zuid-Kennemerland", "Haarlem", 75, 182),
    ("Amsterdam-Amstelland", "Amsterdam", 102, 178),
    ("Gooi en Vechtstreek", "Hilversum", 125, 168),
    ("Flevoland", "Lelystad", 145, 195),
    ("IJsselland", "Zwolle", 190, 205),
    ("Twente", "Enschede", 240, 175),
    ("Midden-IJssel/Oost-Veluwe", "Apeldoorn", 190, 165),
    ("Noord-Veluwe", "Harderwijk", 160, 185),
    ("Achterhoek", "Doetinchem", 220, 135),
    ("Centraal Gelderland", "Arnhem", 185, 138),
    ("Gelderland-Zuid", "Nijmegen", 180, 122),
    ("Foodvalley", "Ede", 160, 148),
    ("Rivierenland", "Tiel", 145, 125),
    ("Amersfoort", "Amersfoort", 142, 160),
    ("Utrecht stad", "Utrecht", 125, 150),
    ("Utrecht West", "Woerden", 108, 147),
    ("Lekstroom", "Nieuwegein", 120, 138),
    ("Zuidoost-Utrecht", "Zeist", 135, 145),
    ("Holland Rijnland", "Leiden", 80, 158),
    ("Haaglanden", "Den Haag", 58, 142),
    ("Midden-Holland", "Gouda", 90, 138),
    ("Rotterdam Rijnmond", "Rotterdam", 70, 122),
    ("Voorne-Putten", "Spijkenisse", 52, 112),
    ("Zuid-Holland Zuid", "Dordrecht", 88, 108),
    ("Alblasserwaard-Vijfheerenlanden", "Gorinchem", 110, 115),
    ("Zeeland", "Goes", 25, 85),
    ("West-Brabant West", "Roosendaal", 62, 82),
    ("West-Brabant Oost", "Breda", 88, 85),
    ("Hart van Brabant", "Tilburg", 115, 80),
    ("Noordoost-Brabant", "'s-Hertogenbosch", 140, 98),
    ("Zuidoost-Brabant", "Eindhoven", 150, 62),
    ("Helmond-De Peel", "Helmond", 168, 66),
    ("Noord-Limburg", "Venlo", 195, 70),
    ("Midden-Limburg", "Roermond", 185, 35),
    ("Zuid-Limburg", "Heerlen", 180, 5),
)


# --- small helpers -------------------------------------------------------------------------


def _easter(year: int) -> date:
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def dutch_holidays(first_year: int, last_year: int) -> list[date]:
    """Public holidays on which the care network does not hold meetings."""
    out: list[date] = []
    for year in range(first_year, last_year + 1):
        easter = _easter(year)
        kings = date(year, 4, 27)
        if kings.weekday() == 6:
            kings = date(year, 4, 26)
        days = [
            date(year, 1, 1),
            easter + timedelta(1),
            kings,
            easter + timedelta(39),
            easter + timedelta(50),
            date(year, 12, 25),
            date(year, 12, 26),
        ]
        if year % 5 == 0:
            days.append(date(year, 5, 5))
        out.extend(sorted(days))
    return out


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _between(rng: random.Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rng.randint(0, max(0, (hi - lo).days)))


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M")


def _weighted_order(rng: random.Random, weights: list[float]) -> list[int]:
    """Indices in a weighted random order (weighted sampling without replacement)."""
    keys = [rng.random() ** (1.0 / w) for w in weights]
    return sorted(range(len(weights)), key=lambda i: -keys[i])


def _group_sizes(rng: random.Random, beds: float) -> list[int]:
    """About `beds` beds in groups of mostly 4 (some 3, 5 or 6)."""
    sizes = []
    for _ in range(round(beds / 4)):
        r = rng.random()
        sizes.append(3 if r < 0.12 else 5 if r < 0.24 else 6 if r < 0.28 else 4)
    return sizes


# --- cases ---------------------------------------------------------------------------------


@dataclass
class _Case:
    id: str
    at: datetime
    kind: str
    urgency: str
    home: str
    referrer: str
    earliest: date
    stay: int
    birth: date = date(2000, 1, 1)
    omit_stay: bool = False
    machtiging: tuple[date, date] | None = None  # as sent with the referral
    invalid: str = ""
    conflicts: list[str] = field(default_factory=list)
    timeout_address: str | None = None
    likely_start: date | None = None
    likely_end: date | None = None
    withdrawn: bool = False
    close: date | None = None
    follow: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)

    @property
    def spec(self) -> KindSpec:
        return KINDS[self.kind]


def _referral_times(rng: random.Random, n: int, start: date, days: int) -> list[datetime]:
    out = []
    for _ in range(n):
        d = start + timedelta(days=rng.randrange(days))
        if d.weekday() >= 5 and rng.random() < 0.8:
            d += timedelta(days=7 - d.weekday())  # most referrals wait for Monday
            if (d - start).days >= days:
                d -= timedelta(days=3 if d.weekday() == 0 else 1)
        minutes = rng.randrange(8 * 60, 17 * 60, 15)
        out.append(datetime.combine(d, time(minutes // 60, minutes % 60)))
    out.sort()
    return out


def _at(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute))


def _stay_choices(spec: KindSpec) -> tuple[int, int, int]:
    """A short, a middle and a long stay within the kind's bounds."""
    return spec.min_stay, (spec.min_stay + spec.max_stay) // 2, spec.max_stay


def _weekday(d: date) -> date:
    """The day itself, or the Monday after a weekend day."""
    return d + timedelta(days=(7 - d.weekday()) if d.weekday() >= 5 else 0)


def _make_cases(
    rng: random.Random,
    tier: str,
    n: int,
    start: date,
    days: int,
    regions: list[str],
    weights: list[float],
    referrers: dict[str, list[str]],
) -> list[_Case]:
    cases: list[_Case] = []
    # Stratified: the shares hold exactly for every seed, only the order is random.
    n_closed = round(P_CLOSED[tier] * n)
    closed, opened = kind_for_group_kind("closed").name, kind_for_group_kind("open").name
    kinds = [closed] * n_closed + [opened] * (n - n_closed)
    n_crisis, n_urgent = round(P_CRISIS * n), round(P_URGENT * n)
    urgencies = ["crisis"] * n_crisis + ["urgent"] * n_urgent
    urgencies += ["normal"] * (n - len(urgencies))
    rng.shuffle(kinds)
    rng.shuffle(urgencies)
    for i, at in enumerate(_referral_times(rng, n, start, days), start=1):
        kind, urgency = kinds[i - 1], urgencies[i - 1]
        if urgency == "crisis":
            at = at.replace(hour=rng.randrange(7, 22), minute=rng.choice((0, 15, 30, 45)))
        home = rng.choices(regions, weights)[0]
        referrer = rng.choices(referrers[home], (0.6, 0.4))[0]
        lead = {"crisis": (0, 1), "urgent": (0, 7), "normal": (2, 14)}[urgency]
        earliest = at.date() + timedelta(days=rng.randint(*lead))
        spec = KINDS[kind]
        stay = rng.choices(_stay_choices(spec), STAY_WEIGHTS.get(spec.group_kind, STAY_WEIGHTS_OTHER))[0]
        case = _Case(f"c{i:05d}", at, kind, urgency, home, referrer, earliest, stay)
        case.omit_stay = stay == spec.default_stay and rng.random() < 0.25
        lo_age, hi_age = spec.min_age, spec.max_age
        # Valid: in range at the earliest start and still ~4 months later.
        case.birth = _between(
            rng,
            _years_before(earliest + timedelta(150), hi_age + 1) + timedelta(1),
            _years_before(earliest, lo_age),
        )
        if spec.timeout_address_expected:
            case.timeout_address = rng.choice(TIMEOUT_ADDRESSES)
        if spec.needs_machtiging and rng.random() >= (0.4 if urgency == "crisis" else P_NO_MACHTIGING):
            valid_from = max(at.date(), earliest - timedelta(days=rng.choice((0, 0, 0, 1, 2))))
            case.machtiging = (valid_from, valid_from + timedelta(days=rng.randint(182, 364)))
        # else: the court decides later (a `machtiging` event follows the referral)
        cases.append(case)
    return cases


def _make_invalid(rng: random.Random, case: _Case) -> None:
    es = case.earliest
    spec = case.spec
    lo_age, hi_age = spec.min_age, spec.max_age
    if spec.needs_machtiging and rng.random() < 0.4:
        case.invalid = "stay_longer_than_machtiging"
        case.stay, case.omit_stay = spec.max_stay, False
        case.machtiging = (es, es + timedelta(days=rng.randint(28, 48)))
        return
    if rng.random() < 0.5:  # too old: already past the upper age at the earliest start
        case.invalid = "too_old"
        case.birth = _between(
            rng, _years_before(es, hi_age + 2) + timedelta(1), _years_before(es, hi_age + 1)
        )
    else:  # too young, and still too young half a year later
        case.invalid = "too_young"
        case.birth = _between(
            rng, _years_before(es + timedelta(200), lo_age) + timedelta(1), _years_before(es, lo_age - 1)
        )
    if spec.needs_machtiging and case.machtiging is None:
        case.machtiging = (es, es + timedelta(days=182))


def _follow_ups(rng: random.Random, case: _Case) -> None:
    """Machtiging, withdraw, discharge, time-out, renewal and close events of one valid case."""
    ready = case.earliest
    granted = case.machtiging  # the referral's own machtiging stays as it was sent
    if case.spec.needs_machtiging:
        if granted is None:
            granted = _court_decision(rng, case)
        ready = max(ready, granted[0])
    wait = rng.randint(0, 1) if case.urgency == "crisis" else rng.randint(0, 6)
    start = ready + timedelta(days=wait)
    case.likely_start = start
    end = start + timedelta(days=case.stay)

    if rng.random() < P_WITHDRAW:
        _withdraw(rng, case, start)
        return
    if rng.random() < P_DISCHARGE:
        end = _discharge(rng, case, end)
    case.likely_end = end

    close: date | None = None
    if rng.random() < P_CLOSE:
        close = case.at.date() + timedelta(days=rng.randint(90, 180))
        close = _weekday(max(close, end + timedelta(days=rng.randint(7, 21))))
    mach_until = granted[1] if granted else None
    if rng.random() < (P_TIMEOUT_SERVED if case.spec.timeout_on_group else P_TIMEOUT_REFUSED):
        _timeout_request(rng, case, end, mach_until, close)
    if granted is not None and (granted[1] - granted[0]).days <= 240 and rng.random() < P_RENEWAL:
        _renewal(rng, case, granted, close)
    if close is not None:
        case.close = close
        at = _after_referral(rng, case, _at(close, rng.choice((15, 16, 16, 17))))
        case.follow.append((at, {"type": "close"}))


def _after_referral(rng: random.Random, case: _Case, t: datetime) -> datetime:
    """`t`, or a little after the referral when `t` is not later than it: no event precedes its case."""
    return t if t > case.at else case.at + timedelta(minutes=rng.choice((30, 45, 60, 90)))


def _court_decision(rng: random.Random, case: _Case) -> tuple[date, date]:
    """The machtiging a referral without one gets later (a `machtiging` event), valid from the next day."""
    ref_day = case.at.date()
    if case.urgency == "crisis":  # an urgent court order within a couple of days
        at = _after_referral(rng, case, _at(ref_day + timedelta(days=rng.randint(0, 2)), 11))
    else:
        at = _at(_weekday(ref_day + timedelta(days=rng.randint(1, 20))), 11)
    valid_from = at.date() + timedelta(days=1)
    granted = (valid_from, valid_from + timedelta(days=rng.randint(182, 364)))
    body = {"type": "machtiging", "valid_from": valid_from, "valid_until": granted[1]}
    case.follow.append((at, body))
    return granted


def _withdraw(rng: random.Random, case: _Case, start: date) -> None:
    """Withdraw the referral within days, before its likely start; later follow-ups never happen."""
    ref_day = case.at.date()
    case.withdrawn = True
    days = rng.randint(1, max(1, min(6, (start - ref_day).days + 1)))
    at = _after_referral(rng, case, _at(ref_day + timedelta(days=days), rng.randrange(9, 17)))
    case.follow = [f for f in case.follow if f[0] < at]
    case.follow.append((at, {"type": "withdraw"}))


def _discharge(rng: random.Random, case: _Case, planned: date) -> date:
    """A discharge earlier or later than the `planned` end; returns the new end."""
    if rng.random() < 0.65:  # earlier than planned
        end = _weekday(planned - timedelta(days=rng.randint(5, min(21, case.stay - 14))))
        at = _at(end, 9)
    else:  # later: announced a few days before the planned end
        end = planned + timedelta(days=rng.randint(1, 10))
        at = _at(planned - timedelta(days=rng.randint(1, 5)), rng.choice((9, 10, 14)))
    case.follow.append((_after_referral(rng, case, at), {"type": "discharge", "date": end}))
    return end


def _timeout_request(
    rng: random.Random, case: _Case, end: date, mach_until: date | None, close: date | None
) -> None:
    """A time-out request in the home phase, when it fits the machtiging and comes before the close."""
    ref_day = case.at.date()
    at_day = max(ref_day + timedelta(days=rng.randint(60, 90)), end + timedelta(days=rng.randint(3, 14)))
    days = rng.choices((1, 2, 3, 5, 7, 10, 14), (1, 3, 3, 3, 3, 1, 1))[0]
    fits = mach_until is None or at_day + timedelta(days=days + 1) < mach_until
    if fits and (close is None or at_day + timedelta(days=days + 2) < close):
        at = _at(at_day, rng.randrange(8, 21), rng.choice((0, 15, 30, 45)))
        case.follow.append((_after_referral(rng, case, at), {"type": "timeout_request", "days": days}))


def _renewal(rng: random.Random, case: _Case, granted: tuple[date, date], close: date | None) -> None:
    """A renewal, announced two to four weeks before the running order ends (unless closed by then)."""
    at = _at(_weekday(granted[1] - timedelta(days=rng.randint(16, 30))), 11)
    if at > case.at and (close is None or at.date() < close):
        until = granted[1] + timedelta(days=rng.randint(182, 364))
        body = {"type": "machtiging", "valid_from": granted[1], "valid_until": until}
        case.follow.append((at, body))


def _add_conflicts(rng: random.Random, cases: list[_Case]) -> None:
    valid = [c for c in cases if not c.invalid]
    pairs = max(1, len(cases) // 40)
    for _ in range(pairs * 4):
        if pairs == 0 or len(valid) < 2:
            break
        i = rng.randrange(len(valid) - 1)
        j = min(len(valid) - 1, i + rng.randint(1, 6))
        a, b = valid[i], valid[j]
        if b.id in a.conflicts or abs((b.at - a.at).days) > 30:
            continue
        a.conflicts.append(b.id)
        b.conflicts.append(a.id)
        pairs -= 1


def _referral_event(case: _Case) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "at": _fmt(case.at),
        "type": "referral",
        "case": case.id,
        "kind": case.kind,
        "birth_date": case.birth.isoformat(),
        "home_region": case.home,
        "referrer": case.referrer,
        "urgency": case.urgency,
        "earliest_start": case.earliest.isoformat(),
    }
    if not case.omit_stay:
        ev["stay_days"] = case.stay
    ev["conflicts_with"] = sorted(case.conflicts)
    ev["timeout_address"] = case.timeout_address
    ev["machtiging"] = (
        None
        if case.machtiging is None
        else {"valid_from": case.machtiging[0].isoformat(), "valid_until": case.machtiging[1].isoformat()}
    )
    return ev


def _case_event(case: _Case, at: datetime, body: dict[str, Any]) -> dict[str, Any]:
    ev: dict[str, Any] = {"at": _fmt(at), "type": body["type"], "case": case.id}
    for key, value in body.items():
        if key != "type":
            ev[key] = value.isoformat() if isinstance(value, date) else value
    return ev


# --- load estimates (for sizing the national network) --------------------------------------


def _concurrent(cases: list[_Case], days: int, start: date, key: Any) -> dict[Any, list[int]]:
    """Per key(case): the number of cases in their MST load window on each day."""
    diffs: dict[Any, list[int]] = {}
    for c in cases:
        if c.invalid or c.withdrawn or c.likely_start is None:
            continue
        load_end = c.likely_start + timedelta(days=MST_DAYS)
        if c.close is not None:
            load_end = min(load_end, c.close)
        a = max(0, (c.likely_start - start).days)
        b = min(days, (load_end - start).days)
        if a >= b:
            continue
        arr = diffs.setdefault(key(c), [0] * (days + 1))
        arr[a] += 1
        arr[b] -= 1
    out = {}
    for k, arr in diffs.items():
        run, series = 0, []
        for v in arr[:days]:
            run += v
            series.append(run)
        out[k] = series
    return out


def _high(series: list[int], q: float = 0.95) -> float:
    if not series:
        return 0.0
    tail = sorted(series[len(series) // 3 :] or series)
    return float(tail[min(len(tail) - 1, int(q * len(tail)))])


def closed_bed_demand(scenario: dict[str, Any]) -> float:
    """Mean closed beds per night the referrals ask for (planned stays plus time-outs)."""
    days = (date.fromisoformat(scenario["end"]) - date.fromisoformat(scenario["start"])).days
    nights = 0
    discharged = {e["case"] for e in scenario["events"] if e["type"] == "discharge"}
    withdrawn = {e["case"] for e in scenario["events"] if e["type"] == "withdraw"}
    for e in scenario["events"]:
        spec = KINDS.get(e["kind"]) if e["type"] == "referral" else None
        if spec is not None and spec.group_kind == "closed" and e["case"] not in withdrawn:
            nights += e.get("stay_days", spec.default_stay) if e["case"] not in discharged else 49
        elif e["type"] == "timeout_request":
            nights += e["days"]
    return nights / max(1, days)


# --- network builders ----------------------------------------------------------------------


def _zuid_network(
    rng: random.Random,
) -> tuple[list[JSON], list[list[Any]], list[JSON], list[JSON], dict[str, list[str]]]:
    regions = [{"code": c, "name": n} for c, n in ZUID_REGIONS]
    travel = [list(t) for t in ZUID_TRAVEL]
    locations = []
    timeout_loc = rng.randrange(len(ZUID_LOCATIONS))
    small_loc = rng.randrange(len(ZUID_LOCATIONS))  # 5 closed and 4 open groups in all
    for li, (lid, name, region) in enumerate(ZUID_LOCATIONS):
        kinds = ["closed", "open", "open"] if li == small_loc else ["closed", "closed", "open"]
        rng.shuffle(kinds)
        groups = []
        first_closed = kinds.index("closed")
        for gi, kind in enumerate(kinds):
            tb = 1 if (li == timeout_loc and gi == first_closed) else 0
            groups.append({"id": f"{lid}-g{gi}", "kind": kind, "beds": 4, "timeout_beds": tb})
        locations.append({"id": lid, "name": name, "region": region, "groups": groups})
    codes = [c for c, _ in ZUID_REGIONS]
    people: list[dict[str, Any]] = [{"id": "sup0", "role": "mst_supervisor", "regions": list(codes)}]
    for code in codes:
        caps = [4, 4, 6]
        rng.shuffle(caps)
        for k, cap in enumerate(caps):
            people.append(
                {
                    "id": f"th-{code}-{k}",
                    "role": "mst_therapist",
                    "regions": [code],
                    "max_cases": cap,
                    "supervisor": "sup0",
                }
            )
        people.append({"id": f"ref-{code}", "role": "referrer", "regions": [code]})
        people.append({"id": f"ref-{code}-gi", "role": "referrer", "regions": [code]})
    for code in codes:
        for k in range(3):
            people.append(
                {"id": f"tb-{code}-{k}", "role": "trajectbegeleider", "regions": [code], "max_cases": 8}
            )
    people.append({"id": "coord", "role": "coordinator", "regions": list(codes)})
    referrers = {c: [f"ref-{c}", f"ref-{c}-gi"] for c in codes}
    return regions, travel, locations, people, referrers


def _national_regions(rng: random.Random) -> tuple[list[JSON], list[list[Any]], list[float]]:
    regions: list[JSON] = []
    points: list[tuple[float, float]] = []
    for i, (name, _town, x, y) in enumerate(NATIONAL_REGIONS, start=1):
        regions.append({"code": f"R{i:02d}", "name": name})
        points.append((x + rng.uniform(-4, 4), y + rng.uniform(-4, 4)))
    travel = []
    for i in range(len(regions)):
        for j in range(i + 1, len(regions)):
            dist = math.dist(points[i], points[j])
            travel.append([regions[i]["code"], regions[j]["code"], round(dist * 1.1 + 10)])
    weights = [rng.uniform(0.7, 1.3) for _ in regions]
    return regions, travel, weights


def _fit_sizes(rng: random.Random, per_loc: list[list[int]], target: int) -> None:
    """Nudge group sizes (kept in 3..6) towards `target` beds in all (exactly where possible)."""
    total = sum(map(sum, per_loc))
    while total != target:
        slots = [
            (li, k)
            for li, sizes in enumerate(per_loc)
            for k, size in enumerate(sizes)
            if (size < 6 if total < target else size > 3)
        ]
        if total < target and (not slots or (target - total >= 4 and rng.random() < 0.3)):
            if target - total < 3:
                return
            add = min(4, target - total)
            per_loc[rng.randrange(len(per_loc))].append(add)
            total += add
        elif slots:
            li, k = rng.choice(slots)
            step = 1 if total < target else -1
            per_loc[li][k] += step
            total += step
        else:
            return


def _national_locations(
    rng: random.Random, regions: list[JSON], weights: list[float], closed_regular: int, open_beds: int
) -> list[dict[str, Any]]:
    """~25 locations; closed beds minus time-out beds == closed_regular, open beds == open_beds."""
    n_loc = rng.randint(24, 26)
    chosen = sorted(_weighted_order(rng, weights)[:n_loc])
    loc_w = [rng.uniform(0.6, 1.4) * weights[i] for i in chosen]
    open_w = [rng.uniform(0.3, 1.7) * w for w in loc_w]
    total_w, total_ow = sum(loc_w), sum(open_w)
    closed = [_group_sizes(rng, max(4.0, closed_regular * w / total_w)) for w in loc_w]
    opened = [_group_sizes(rng, open_beds * w / total_ow) for w in open_w]
    timeouts = [rng.random() < 0.6 for _ in chosen]
    _fit_sizes(rng, closed, closed_regular + sum(timeouts))
    _fit_sizes(rng, opened, open_beds)
    locations = []
    for li, ri in enumerate(chosen):
        lid = f"L{li:02d}"
        sized = [("closed", size) for size in closed[li]] + [("open", size) for size in opened[li]]
        rng.shuffle(sized)
        timeout_group = -1
        closed_idx = [k for k, (kind, _) in enumerate(sized) if kind == "closed"]
        if timeouts[li]:
            timeout_group = rng.choice(closed_idx)
        groups = [
            {"id": f"{lid}-g{k}", "kind": kind, "beds": size, "timeout_beds": 1 if k == timeout_group else 0}
            for k, (kind, size) in enumerate(sized)
        ]
        locations.append(
            {"id": lid, "name": NATIONAL_REGIONS[ri][1], "region": regions[ri]["code"], "groups": groups}
        )
    return locations


def _chunks(rng: random.Random, items: list[Any], lo: int, hi: int) -> list[list[Any]]:
    """Consecutive chunks of lo..hi items where the count allows it (else one larger chunk)."""

    def splittable(n: int) -> bool:
        return n == 0 or any(k * lo <= n <= k * hi for k in range(1, n // lo + 1))

    out, i = [], 0
    while i < len(items):
        left = len(items) - i
        options = [s for s in range(lo, min(hi, left) + 1) if splittable(left - s)]
        size = rng.choice(options) if options else left
        out.append(items[i : i + size])
        i += size
    return out


def _national_people(
    rng: random.Random,
    regions: list[JSON],
    locations: list[JSON],
    cases: list[_Case],
    start: date,
    days: int,
    sizing: _Sizing,
) -> list[dict[str, Any]]:
    """MST teams, referrers, trajectbegeleiders and coordinators, sized to the cases' load."""
    codes = [r["code"] for r in regions]
    therapists = _mst_therapists(rng, codes, cases, start, days, sizing.mst_room)
    supervisors = _mst_supervisors(rng, therapists)
    tbs = _trajectbegeleiders(rng, codes, locations, cases, start, days, sizing.tb_room)
    people: list[dict[str, Any]] = list(supervisors)
    by_code: dict[str, list[JSON]] = {}
    for th in therapists:
        by_code.setdefault(th["regions"][0], []).append(th)
    for code in codes:
        people += by_code.get(code, [])
        people.append({"id": f"ref-{code}", "role": "referrer", "regions": [code]})
        people.append({"id": f"ref-{code}-gi", "role": "referrer", "regions": [code]})
    people += tbs
    people += _coordinators(codes)
    return people


def _mst_therapists(
    rng: random.Random, codes: list[str], cases: list[_Case], start: date, days: int, room: float
) -> list[dict[str, Any]]:
    """Therapists per home region, with `room` times the places of the region's high MST load."""
    by_region = _concurrent(cases, days, start, lambda c: c.home)
    therapists: list[dict[str, Any]] = []
    for code in codes:
        # MST norm: 4-6 families each; prefer full teams of at most 4 before adding more.
        target = math.ceil(room * _high(by_region.get(code, [])))
        n = min(4, max(2, math.ceil(target / 6)))
        caps = [rng.randint(4, 6) for _ in range(n)]
        while sum(caps) < target:
            low = [k for k, cap in enumerate(caps) if cap < 6]
            if low:
                caps[rng.choice(low)] += 1
            else:
                caps.append(rng.randint(4, 6))
        for k, cap in enumerate(caps):
            therapists.append(
                {"id": f"th-{code}-{k}", "role": "mst_therapist", "regions": [code], "max_cases": cap}
            )
    return therapists


def _mst_supervisors(rng: random.Random, therapists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One supervisor per team of 3-4 consecutive therapists; sets each therapist's `supervisor`."""
    supervisors = []
    for si, team in enumerate(_chunks(rng, therapists, 3, 4), start=1):
        sid = f"sup-{si:02d}"
        team_regions: list[str] = []
        for th in team:
            th["supervisor"] = sid
            team_regions += [r for r in th["regions"] if r not in team_regions]
        supervisors.append({"id": sid, "role": "mst_supervisor", "regions": team_regions})
    return supervisors


def _trajectbegeleiders(
    rng: random.Random,
    codes: list[str],
    locations: list[JSON],
    cases: list[_Case],
    start: date,
    days: int,
    room: float,
) -> list[dict[str, Any]]:
    """At least two trajectbegeleiders per region with beds, with `room` times its share of the load."""
    # The load of a location follows its share of closed / open beds.
    by_group_kind = _concurrent(cases, days, start, lambda c: c.spec.group_kind)
    need_closed = _high(by_group_kind.get("closed", []))
    need_open = _high(by_group_kind.get("open", []))
    total_closed = sum(g["beds"] for loc in locations for g in loc["groups"] if g["kind"] == "closed") or 1
    total_open = sum(g["beds"] for loc in locations for g in loc["groups"] if g["kind"] == "open") or 1
    need_by_region: dict[str, float] = {}
    for loc in locations:
        cb = sum(g["beds"] for g in loc["groups"] if g["kind"] == "closed")
        ob = sum(g["beds"] for g in loc["groups"] if g["kind"] == "open")
        need = need_closed * cb / total_closed + need_open * ob / total_open
        need_by_region[loc["region"]] = need_by_region.get(loc["region"], 0.0) + need
    tbs = []
    for code in codes:
        if code not in need_by_region:
            continue
        caps_needed = room * need_by_region[code]
        tb_caps: list[int] = []
        while sum(tb_caps) < caps_needed or len(tb_caps) < 2:
            tb_caps.append(rng.choice((6, 8, 8, 8, 10)))
        for k, cap in enumerate(tb_caps):
            tbs.append(
                {"id": f"tb-{code}-{k}", "role": "trajectbegeleider", "regions": [code], "max_cases": cap}
            )
    return tbs


def _coordinators(codes: list[str]) -> list[dict[str, Any]]:
    """About one coordinator per four regions, each over a consecutive run of regions."""
    out = []
    n_coord = max(1, round(len(codes) / 4))
    size, extra = divmod(len(codes), n_coord)
    i = 0
    for k in range(n_coord):
        take = size + (1 if k < extra else 0)
        out.append({"id": f"coord-{k + 1:02d}", "role": "coordinator", "regions": codes[i : i + take]})
        i += take
    return out


# --- calendars and capacity ----------------------------------------------------------------


def _busy(
    rng: random.Random, people: list[JSON], start: date, end: date, holidays: set[date], per_day: float
) -> list[dict[str, str]]:
    """1-2 blocks (2-3 hours, morning and/or afternoon) on some working days per person."""
    ids = [p["id"] for p in people if p["role"] in ("mst_therapist", "trajectbegeleider", "referrer")]
    out: list[dict[str, str]] = []
    d = start
    while d < end:
        if d.weekday() < 5 and d not in holidays:
            day = d.isoformat()
            for pid in ids:
                if rng.random() >= per_day:
                    continue
                r = rng.random()
                halves = ("am", "pm") if r < 0.2 else ("am",) if r < 0.6 else ("pm",)
                for half in halves:
                    s = rng.choice((9, 10)) if half == "am" else rng.choice((13, 14))
                    e = s + rng.choice((2, 3))
                    out.append({"person": pid, "from": f"{day}T{s:02d}:00", "until": f"{day}T{e:02d}:00"})
        d += timedelta(days=1)
    return out


def _capacity(
    rng: random.Random, locations: list[JSON], n: int, start: date, days: int
) -> list[tuple[datetime, dict[str, Any]]]:
    groups = [g for loc in locations for g in loc["groups"]]
    out = []
    for _ in range(n):
        g = rng.choice(groups)
        at_day = start + timedelta(days=rng.randrange(7, max(8, days - 14)))
        frm = at_day + timedelta(days=rng.randint(3, 14))
        until = frm + timedelta(days=rng.randint(7, 35))
        floor = g["timeout_beds"]
        beds = max(floor, g["beds"] - rng.choice((1, 1, 1, 2, 3)))
        if beds >= g["beds"]:
            continue
        out.append(
            (
                _at(at_day, 9),
                {
                    "at": _fmt(_at(at_day, 9)),
                    "type": "capacity",
                    "group": g["id"],
                    "beds": beds,
                    "from": frm.isoformat(),
                    "until": until.isoformat(),
                },
            )
        )
    return out


# --- public API ----------------------------------------------------------------------------


@dataclass
class _Network:
    """Regions, travel times, staff and groups of a generated scenario, and who refers in each region."""

    regions: list[JSON]
    travel: list[list[Any]]
    weights: list[float]  # a region's share of the referrals
    referrers: dict[str, list[str]]  # region code -> its referrers
    locations: list[JSON] = field(default_factory=list)
    people: list[JSON] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        """The region codes, in the regions' order."""
        return [r["code"] for r in self.regions]


def generate(
    tier: str, seed: int = 1, *, start: str = "2026-01-05", days: int | None = None
) -> dict[str, Any]:
    """A scenario dict (SCENARIO.md, version 1) for `tier`, the same for the same arguments."""
    horizon = _horizon(tier, days)
    # One random stream per tier and seed; every stage below draws from it in this order.
    rng = random.Random(f"thuisbest-{tier}-{seed}")
    first = date.fromisoformat(start)
    end = first + timedelta(days=horizon)
    scale = horizon / DEFAULT_DAYS[tier]
    holidays = dutch_holidays(first.year, end.year)
    sizing = SIZING.get(tier)
    network = _national_regions_network(rng) if sizing else _zuid_regions_network(seed)
    cases = _referred_cases(rng, tier, scale, first, horizon, network)
    if sizing:
        # The national beds and staff are sized after the cases, to the demand they make.
        _size_national_network(rng, network, cases, first, horizon, sizing)
        per_day = _national_busy_rate(network.people, first, horizon)
    else:
        per_day = 0.2
    busy = _busy(rng, network.people, first, end, set(holidays), per_day)
    events = _timed_events(rng, tier, scale, cases, network.locations, first, horizon)
    return {
        "scenario_version": 1,
        "name": f"{tier}-s{seed}",
        "start": first.isoformat(),
        "end": end.isoformat(),
        "settings": {
            "startgesprek_within_working_days": 3,
            "meeting_minutes": 90,
            "working_hours": ["09:00", "17:00"],
            "holidays": [h.isoformat() for h in holidays],
            "mst_weeks": 20,
        },
        "regions": network.regions,
        "travel_minutes": network.travel,
        "locations": network.locations,
        "people": network.people,
        "busy": busy,
        "events": events,
    }


def _horizon(tier: str, days: int | None) -> int:
    """The number of days to generate: the tier's default unless `days` is given."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    horizon = DEFAULT_DAYS[tier] if days is None else int(days)
    if horizon < 1:
        raise ValueError("days must be at least 1")
    return horizon


def _national_regions_network(rng: random.Random) -> _Network:
    """The national regions and travel times; locations and people follow once the cases are known."""
    regions, travel, weights = _national_regions(rng)
    codes = [r["code"] for r in regions]
    referrers = {c: [f"ref-{c}", f"ref-{c}-gi"] for c in codes}
    return _Network(regions, travel, weights, referrers)


def _zuid_regions_network(seed: int) -> _Network:
    """Landsdeel Zuid, complete with groups and staff."""
    # region and tight share the network for the same seed: it has its own random stream
    regions, travel, locations, people, referrers = _zuid_network(random.Random(f"thuisbest-zuid-{seed}"))
    return _Network(regions, travel, list(ZUID_WEIGHTS), referrers, locations, people)


def _referred_cases(
    rng: random.Random, tier: str, scale: float, first: date, horizon: int, network: _Network
) -> list[_Case]:
    """The referrals, a few of them invalid, with the follow-up events of the valid ones."""
    n_ref = max(1, round(BASE_REFERRALS[tier] * scale * rng.uniform(0.97, 1.03)))
    cases = _make_cases(rng, tier, n_ref, first, horizon, network.codes, network.weights, network.referrers)
    for case in rng.sample(cases, max(1, round(P_INVALID * len(cases)))):
        _make_invalid(rng, case)
    for case in cases:
        if not case.invalid:
            _follow_ups(rng, case)
    _add_conflicts(rng, cases)
    return cases


def _size_national_network(
    rng: random.Random, network: _Network, cases: list[_Case], first: date, horizon: int, sizing: _Sizing
) -> None:
    """Add the locations and people: closed beds and caseloads as `sizing` says, open beds generously."""
    closed_nights, open_nights = _planned_bed_nights(cases)
    closed_regular = round(closed_nights / horizon / sizing.closed_load)
    open_beds = round(max(open_nights / horizon / 0.6, closed_regular * 0.8))
    network.locations = _national_locations(rng, network.regions, network.weights, closed_regular, open_beds)
    network.people = _national_people(rng, network.regions, network.locations, cases, first, horizon, sizing)


def _planned_bed_nights(cases: list[_Case]) -> tuple[int, int]:
    """Closed bed-nights (stays and time-outs) and open bed-nights the valid cases are likely to use."""
    closed_nights = open_nights = 0
    for c in cases:
        if c.invalid or c.withdrawn or c.likely_start is None or c.likely_end is None:
            continue
        nights = (c.likely_end - c.likely_start).days
        if c.spec.group_kind == "closed":
            timeouts = [b["days"] for _, b in c.follow if b["type"] == "timeout_request"]
            closed_nights += nights + sum(timeouts)
        else:
            open_nights += nights
    return closed_nights, open_nights


def _national_busy_rate(people: list[JSON], first: date, horizon: int) -> float:
    """The share of working days with busy blocks per person, kept under BUSY_CAP blocks in all."""
    n_busy_people = sum(p["role"] in ("mst_therapist", "trajectbegeleider", "referrer") for p in people)
    workdays = sum(1 for k in range(horizon) if (first + timedelta(k)).weekday() < 5) or 1
    return min(0.8, BUSY_CAP / (1.2 * n_busy_people * workdays))


def _timed_events(
    rng: random.Random,
    tier: str,
    scale: float,
    cases: list[_Case],
    locations: list[JSON],
    first: date,
    horizon: int,
) -> list[dict[str, Any]]:
    """All events before the end day, in time order (equal times keep their order of making)."""
    n_cap = round(BASE_CAPACITY[tier] * scale)
    timed: list[tuple[datetime, int, dict[str, Any]]] = []
    seq = 0
    for case in cases:
        timed.append((case.at, seq, _referral_event(case)))
        seq += 1
        for at, body in sorted(case.follow, key=lambda f: f[0]):
            timed.append((at, seq, _case_event(case, at, body)))
            seq += 1
    for at, ev in _capacity(rng, locations, n_cap, first, horizon):
        timed.append((at, seq, ev))
        seq += 1
    limit = datetime.combine(first + timedelta(days=horizon), time(0, 0))  # nothing on or after the end day
    timed = [t for t in timed if t[0] < limit]
    timed.sort(key=lambda t: (t[0], t[1]))
    return [t[2] for t in timed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.generator",
        description="Write a seeded ThuisBest scenario as JSON.",
    )
    parser.add_argument("tier", choices=TIERS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2026-01-05", help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=None, help="horizon in days")
    parser.add_argument("--out", default="-", help="output file ('-' for stdout)")
    args = parser.parse_args(argv)
    scenario = generate(args.tier, args.seed, start=args.start, days=args.days)
    text = json.dumps(scenario, indent=1, ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
