"""Seeded scenario generator writing SCENARIO.md (version 1) and PATHWAY-V2.md (version 2) files.

Tiers: region, tight, national, national-tight and (version 2 only) parttime. Every tier is written
as version 1 or, with `version=2` (CLI `--v2`), as version 2: the same tier and seed drawn the same
way, plus what PATHWAY-V2 adds, drawn from a second random stream: day groups (`places`) and
part-time groups (`beds`, kept scarce), referrals of the kinds placed on them, a `current_therapist`
on about 9 % of the ThuisBest referrals, `staff_change` events, close reasons and outcomes,
follow-ups six months after a close with an outcome, time-out addresses named after the referral,
and the kennismaking setting. Version 1 refuses about 2 % of its referrals on purpose (age, stay
longer than the machtiging); version 2 makes those acceptable, so that intake accepts every
referral. A version 1 scenario is byte for byte what it was before version 2.

The `parttime` tier is the `region` network in version 2 (the same groups and staff for the same
seed) with its part-time beds contended on purpose, so that the choice of weekly night patterns
decides how many youths get a bed. What makes it hard:

- Two part-time groups of 2-3 beds, and part-time referrals asking for about 1.5 times their
  bed-nights; the stays last 26-52 weeks, longer than the 180-day horizon, so a bed-night once
  given stays taken.
- The referrals ask for 2 nights a week (70 %) or 3, and nearly all name as many preferred nights,
  school nights (Monday to Thursday): the weekend at home.
- They come in waves: referred within one week and all ready the Monday after it, every 21 days;
  the first wave (the programme opening with its waiting list) holds 85 % of them and alone asks
  for more nights than the beds hold, so the very first planning round decides.

First fit (each youth in turn takes its preferred nights where a bed is free, then the first free
nights in week order, on the first group where that works, as the scheduler's greedy
patterns do) lays the youths in stripes: Monday-Tuesday, Wednesday-Thursday, then
Friday-Saturday, after which the free beds left are on Sunday alone, where no youth needing two or
three distinct nights can use them. Patterns chosen for the wave together (preferences are soft)
wrap round the week (e.g. Sunday-Monday) and fit more youths into the same beds: for seeds 1-10
a simple joint packing (fewest nights first, nights filled round the week) places 1-3 more youths
than first fit, and the exact optimum beat first fit on 30 of 30 seeds tried.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from shared.kinds import KINDS, WEEKDAYS, KindSpec, kind_for_group_kind
from shared.network import DAY_GROUP, V2_GROUP_KINDS

JSON = dict[str, Any]

# The tiers of version 1 (each also written as version 2 on request).
TIERS = ("region", "tight", "national", "national-tight")
# Tiers that exist in version 2 only.
V2_TIERS = ("parttime",)
ALL_TIERS = TIERS + V2_TIERS
VERSIONS = (1, 2)

DEFAULT_DAYS = {"region": 180, "tight": 180, "national": 365, "national-tight": 365, "parttime": 180}
# Referrals over the tier's default horizon (scaled linearly when `days` differs).
BASE_REFERRALS = {"region": 80, "tight": 160, "national": 2000, "national-tight": 2000, "parttime": 30}
# Capacity cuts over the tier's default horizon.
BASE_CAPACITY = {"region": 3, "tight": 6, "national": 20, "national-tight": 20, "parttime": 2}
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
    # Version 2: day places and part-time beds so that the high (95th percentile) load fills this share.
    v2_load: float = 0.85


SIZING = {
    # Nearly uncontended: a yearly closed occupancy of roughly 80-85% with room in the caseloads.
    "national": _Sizing(closed_load=0.84, mst_room=1.05, tb_room=1.3),
    # Contended like the sector (JeugdzorgPlus at 78-85% occupancy with waiting lists): fewer
    # closed beds than the planned load asks, and caseloads that bind (less room than the high
    # load). Seed 1 under fcfs: mean wait ~26 days, closed occupancy ~79% after the first two months.
    "national-tight": _Sizing(closed_load=1.15, mst_room=0.7, tb_room=0.9, v2_load=1.1),
}

# Shares per referral. Referrals are for the kind placed on closed groups (P_CLOSED) or for the
# kind placed on open groups (the rest); what a kind allows comes from its row in shared/kinds.py.
P_CLOSED = {"region": 0.74, "tight": 0.74, "national": 0.75, "national-tight": 0.75, "parttime": 0.74}
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

# --- version 2 (PATHWAY-V2.md) -------------------------------------------------------------

PART_TIME_GROUP = "part_time"  # the group kind of part-time residence (DAY_GROUP: day treatment)


@dataclass(frozen=True)
class _V2Mix:
    """What version 2 adds to a tier over its default horizon (scaled like the referrals)."""

    day: int  # referrals of the kind placed on day groups
    part_time: int | None  # referrals of the kind on part-time groups; None: from the part-time beds
    absences: int  # `staff_change` events with status absent (at least two: one long, one short)
    left: int  # `staff_change` events with status left (at least one)


V2_MIX = {
    "region": _V2Mix(day=16, part_time=12, absences=3, left=1),
    "tight": _V2Mix(day=32, part_time=24, absences=3, left=1),
    "national": _V2Mix(day=300, part_time=200, absences=24, left=2),
    "national-tight": _V2Mix(day=300, part_time=200, absences=24, left=2),
    "parttime": _V2Mix(day=8, part_time=None, absences=3, left=1),
}
P_CURRENT_THERAPIST = 0.09  # ThuisBest cases that escalate a running MST trajectory (its therapist)
# A family of a kind with an informal-network time-out address names it at referral, later (a
# `timeout_address` event) or never; a version 1 kind's family (always at referral in version 1)
# names it later instead with P_ADDRESS_MOVED_LATER.
P_ADDRESS_AT_REFERRAL, P_ADDRESS_LATER, P_ADDRESS_MOVED_LATER = 0.5, 0.3, 0.15
P_V2_URGENT = 0.2  # day treatment and part-time residence are planned care: no crisis referrals
P_V2_WITHDRAW, P_V2_DISCHARGE, P_V2_CLOSE = 0.05, 0.2, 0.85
P_V2_TIMEOUT = 0.05  # time-out requests of a new kind that refuses them (they exercise the refusal)
P_DEFAULT_WEEKS = 0.35  # referrals asking for the kind's default programme length, half of them
P_OMIT_WEEKS = 0.5  # by leaving `program_weeks` out
# Close reasons with their weights; the share of closes that report an outcome, and the outcome and
# follow-up rates the seeds report (73 % at home, 82 % with a day activity, 91 % without relapse).
CLOSE_REASONS = (("goal_reached", 0.72), ("broken_off", 0.14), ("moved", 0.06), ("other", 0.08))
P_OUTCOME, P_AT_HOME, P_DAY_ACTIVITY, P_RELAPSE = 0.85, 0.73, 0.82, 0.09
FOLLOW_UP_DAYS = 182  # the follow-up comes six months after a close with an outcome
# Nights a week of a part-time referral (kept to the kind's bounds), and how likely a weekday is a
# preferred night, Monday first: most families keep the weekend at home.
NIGHTS_WEIGHTS = ((2, 0.3), (3, 0.35), (4, 0.2), (5, 0.15))
NIGHT_WEIGHTS = (5.0, 5.0, 5.0, 4.0, 1.5, 0.5, 2.0)
# Of part-time referrals: no preferred nights at all, an empty list, fewer than the nights asked.
PREFERENCE_SHARES = (0.08, 0.04, 0.18)
# The `parttime` tier: part-time referrals ask for PT_OVERBOOK times the part-time bed-nights, for
# 2-3 nights a week, nearly all preferring as many school nights (Monday to Thursday); they come in
# waves (referred in one week, all ready the next Monday) every PT_WAVE_DAYS days, the first (the
# programme opening with its waiting list) holding PT_FIRST_WAVE of them: more than the beds hold.
PT_OVERBOOK = 1.5
PT_FIRST_WAVE = 0.85
PT_NIGHTS = ((2, 0.7), (3, 0.3))
PT_NIGHT_WEIGHTS = (6.0, 6.0, 5.0, 4.0, 0.05, 0.01, 0.01)
PT_PREFERENCE_SHARES = (0.04, 0.0, 0.1)
PT_WAVE_DAYS = 21

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
    # Version 2 only:
    current_therapist: str | None = None
    nights: int | None = None  # nights a week of a part-time kind
    preferred: list[str] | None = None  # preferred nights (None: the referral names none)
    late_address: str | None = None  # the time-out address the family names after the referral

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
        case.birth = _valid_birth(rng, spec, earliest)
        if spec.timeout_address_expected:
            case.timeout_address = rng.choice(TIMEOUT_ADDRESSES)
        if spec.needs_machtiging and rng.random() >= (0.4 if urgency == "crisis" else P_NO_MACHTIGING):
            valid_from = max(at.date(), earliest - timedelta(days=rng.choice((0, 0, 0, 1, 2))))
            case.machtiging = (valid_from, valid_from + timedelta(days=rng.randint(182, 364)))
        # else: the court decides later (a `machtiging` event follows the referral)
        cases.append(case)
    return cases


def _valid_birth(rng: random.Random, spec: KindSpec, earliest: date) -> date:
    """A birth date in the kind's age range at the earliest start and still ~4 months later."""
    return _between(
        rng,
        _years_before(earliest + timedelta(150), spec.max_age + 1) + timedelta(1),
        _years_before(earliest, spec.min_age),
    )


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
    spec = case.spec
    if not case.omit_stay:  # the kind's own length field: `stay_days`, or `program_weeks`
        ev[spec.stay_field] = case.stay // 7 if spec.stay_in_weeks else case.stay
    ev["conflicts_with"] = sorted(case.conflicts)
    ev["timeout_address"] = case.timeout_address
    ev["machtiging"] = (
        None
        if case.machtiging is None
        else {"valid_from": case.machtiging[0].isoformat(), "valid_until": case.machtiging[1].isoformat()}
    )
    if case.current_therapist is not None:
        ev["current_therapist"] = case.current_therapist
    if case.nights is not None:
        ev["nights_per_week"] = case.nights
        if case.preferred is not None:
            ev["preferred_nights"] = case.preferred
    return ev


def _case_event(case: _Case, at: datetime, body: dict[str, Any]) -> dict[str, Any]:
    ev: dict[str, Any] = {"at": _fmt(at), "type": body["type"], "case": case.id}
    for key, value in body.items():
        if key != "type":
            ev[key] = value.isoformat() if isinstance(value, date) else value
    return ev


# --- load estimates (for sizing the national network) --------------------------------------


def _concurrent(
    cases: list[_Case], days: int, start: date, key: Any, keep: Any = None
) -> dict[Any, list[int]]:
    """Per key(case), of the cases `keep` keeps: the number in their load window on each day.

    The window is the MST time or the stay, whichever is longer (a part-time stay of nine months
    loads its trajectbegeleider all along), cut at the close.
    """
    diffs: dict[Any, list[int]] = {}
    for c in cases:
        if c.invalid or c.withdrawn or c.likely_start is None or (keep is not None and not keep(c)):
            continue
        load_days = MST_DAYS
        if c.likely_end is not None:
            load_days = max(load_days, (c.likely_end - c.likely_start).days)
        load_end = c.likely_start + timedelta(days=load_days)
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


def _high(series: Sequence[float], q: float = 0.95) -> float:
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
    by_region = _concurrent(cases, days, start, lambda c: c.home, lambda c: c.spec.needs_mst_therapist)
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
    by_group_kind = _concurrent(
        cases, days, start, lambda c: c.spec.group_kind, lambda c: c.spec.needs_trajectbegeleider
    )
    need_closed = _high(by_group_kind.get("closed", []))
    need_open = _high(by_group_kind.get("open", []))
    total_closed = sum(g["beds"] for loc in locations for g in loc["groups"] if g["kind"] == "closed") or 1
    total_open = sum(g["beds"] for loc in locations for g in loc["groups"] if g["kind"] == "open") or 1
    # Version 2: day places and part-time beds carry the load of their kinds the same way.
    v2_kinds = [gk for gk in V2_GROUP_KINDS if gk in by_group_kind]
    v2_totals = {gk: sum(_places(loc, gk) for loc in locations) or 1 for gk in v2_kinds}
    need_by_region: dict[str, float] = {}
    for loc in locations:
        cb = sum(g["beds"] for g in loc["groups"] if g["kind"] == "closed")
        ob = sum(g["beds"] for g in loc["groups"] if g["kind"] == "open")
        need = need_closed * cb / total_closed + need_open * ob / total_open
        for gk in v2_kinds:
            need += _high(by_group_kind[gk]) * _places(loc, gk) / v2_totals[gk]
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
    # Cuts hit the closed and open groups (a version 2 network's day and part-time groups keep theirs).
    groups = [g for loc in locations for g in loc["groups"] if g["kind"] not in V2_GROUP_KINDS]
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


# --- version 2: groups, cases and events of PATHWAY-V2 -------------------------------------


def _places(loc: JSON, group_kind: str) -> int:
    """Places (day groups) or beds (the others) of a location's groups of `group_kind`."""
    return sum(g.get("places", g.get("beds", 0)) for g in loc["groups"] if g["kind"] == group_kind)


def _v2_group(loc: JSON, group_kind: str, size: int) -> JSON:
    """A day group with `size` places or a part-time group with `size` beds, with a new id at `loc`."""
    stem = f"{loc['id']}-{'day' if group_kind == DAY_GROUP else 'pt'}"
    taken = {g["id"] for g in loc["groups"]}
    gid, k = stem, 2
    while gid in taken:
        gid, k = f"{stem}{k}", k + 1
    return {"id": gid, "kind": group_kind, "places" if group_kind == DAY_GROUP else "beds": size}


def _zuid_v2_additions(rng: random.Random, locations: list[JSON], people: list[JSON]) -> None:
    """Landsdeel Zuid in version 2: a day group (3-5 places) at two locations, a part-time group (2-3
    beds: contended nights) at two, and one more trajectbegeleider per region."""
    day_at = set(rng.sample(range(len(locations)), 2))
    part_time_at = set(rng.sample(range(len(locations)), 2))
    for li, loc in enumerate(locations):
        if li in day_at:
            loc["groups"].append(_v2_group(loc, DAY_GROUP, rng.randint(3, 5)))
        if li in part_time_at:
            loc["groups"].append(_v2_group(loc, PART_TIME_GROUP, rng.choice((2, 3))))
    # A part-time case loads its trajectbegeleider for nine months: one more per region.
    codes = [loc["region"] for loc in locations]
    at = next(i for i, p in enumerate(people) if p["role"] == "coordinator")
    for code in sorted(set(codes), key=codes.index):
        k = sum(1 for p in people if p["role"] == "trajectbegeleider" and p["regions"] == [code])
        tb = {"id": f"tb-{code}-{k}", "role": "trajectbegeleider", "regions": [code], "max_cases": 8}
        people.insert(at, tb)
        at += 1


def _daily_use(cases: list[_Case], spec: KindSpec, start: date, days: int) -> list[float]:
    """Per day: the places (day kind) or beds (a part-time kind: nights a week / 7) `spec`'s cases use."""
    diffs = [0.0] * (days + 1)
    for c in cases:
        if c.kind != spec.name or c.invalid or c.withdrawn or c.likely_start is None or c.likely_end is None:
            continue
        weight = (c.nights or 7) / 7 if spec.part_time else 1.0
        a, b = max(0, (c.likely_start - start).days), min(days, (c.likely_end - start).days)
        if a < b:
            diffs[a] += weight
            diffs[b] -= weight
    run, series = 0.0, []
    for v in diffs[:days]:
        run += v
        series.append(run)
    return series


def _split(rng: random.Random, total: int, lo: int, hi: int) -> list[int]:
    """About `total` (at least `lo`) in groups of lo..hi of varied sizes."""
    sizes = [lo] * max(1, round(2 * total / (lo + hi)))
    for _ in range(total - sum(sizes)):
        room = [k for k, size in enumerate(sizes) if size < hi]
        if not room:
            break
        sizes[rng.choice(room)] += 1
    return sizes


def _national_v2_groups(
    rng: random.Random, locations: list[JSON], cases: list[_Case], start: date, days: int, load: float
) -> None:
    """Day groups (4-8 places) and part-time groups (2-4 beds) at some locations, so that the high
    (95th percentile) use of their kinds' cases fills `load` of them."""
    for group_kind, lo, hi in ((DAY_GROUP, 4, 8), (PART_TIME_GROUP, 2, 4)):
        spec = kind_for_group_kind(group_kind)
        total = max(lo, math.ceil(_high(_daily_use(cases, spec, start, days)) / load))
        sizes = _split(rng, total, lo, hi)
        order = rng.sample(range(len(locations)), len(locations))
        for k, size in enumerate(sizes):
            loc = locations[order[k % len(order)]]
            loc["groups"].append(_v2_group(loc, group_kind, size))


def _v2_on_version1_cases(rng: random.Random, cases: list[_Case]) -> None:
    """Version 2 on the version 1 cases: the few refused referrals made acceptable, some time-out
    addresses named later, close reasons, outcomes and follow-ups."""
    for case in cases:
        if case.invalid:
            _make_valid(rng, case)
        if case.timeout_address is not None and not case.withdrawn and rng.random() < P_ADDRESS_MOVED_LATER:
            case.late_address, case.timeout_address = case.timeout_address, None
            _late_address(rng, case)
        for at, body in list(case.follow):
            if body["type"] == "close":
                _close_details(rng, case, body, at)


def _make_valid(rng: random.Random, case: _Case) -> None:
    """A referral `_make_invalid` spoilt, made acceptable again (with its follow-up events): a version 2
    scenario exercises the new rules, with every referral accepted by intake."""
    case.invalid = ""
    case.birth = _valid_birth(rng, case.spec, case.earliest)
    if case.machtiging is not None:
        valid_from = max(case.at.date(), case.earliest)
        case.machtiging = (valid_from, valid_from + timedelta(days=rng.randint(182, 364)))
    _follow_ups(rng, case)


def _late_address(rng: random.Random, case: _Case) -> None:
    """The family names its time-out address one to three weeks after the referral (before or after
    the placement starts)."""
    at = _at(_weekday(case.at.date() + timedelta(days=rng.randint(1, 21))), 11)
    case.follow.append((at, {"type": "timeout_address", "address": case.late_address}))


def _close_details(rng: random.Random, case: _Case, body: JSON, at: datetime) -> None:
    """A close's reason and (mostly) outcome; a close with an outcome gets its follow-up six months on."""
    body["reason"] = rng.choices([r for r, _ in CLOSE_REASONS], [w for _, w in CLOSE_REASONS])[0]
    if rng.random() < P_OUTCOME:
        body["outcome"] = {"at_home": rng.random() < P_AT_HOME, "day_activity": rng.random() < P_DAY_ACTIVITY}
        follow = _at(_weekday(at.date() + timedelta(days=FOLLOW_UP_DAYS)), 10)
        case.follow.append((follow, {"type": "follow_up", "relapse": rng.random() < P_RELAPSE}))


def _v2_cases(
    rng: random.Random,
    tier: str,
    scale: float,
    first: date,
    horizon: int,
    network: _Network,
    numbered: int,
) -> list[_Case]:
    """Referrals of the kinds on day and part-time groups with their follow-up events, numbered on
    after the `numbered` version 1 cases in time order."""
    mix = V2_MIX[tier]
    made: list[_Case] = []
    for group_kind in (DAY_GROUP, PART_TIME_GROUP):
        spec = kind_for_group_kind(group_kind)
        base = mix.part_time if spec.part_time else mix.day
        if base is None:
            made += _contended_part_time_cases(rng, spec, scale, first, horizon, network)
            continue
        n = max(1, round(base * scale * rng.uniform(0.95, 1.05)))
        for at in _referral_times(rng, n, first, horizon):
            urgency = "urgent" if rng.random() < P_V2_URGENT else "normal"
            lead = (0, 7) if urgency == "urgent" else (2, 14)
            earliest = at.date() + timedelta(days=rng.randint(*lead))
            made.append(_v2_case(rng, spec, at, urgency, earliest, network))
    made.sort(key=lambda c: c.at)
    for i, case in enumerate(made, start=numbered + 1):
        case.id = f"c{i:05d}"
    for case in made:
        _v2_follow_ups(rng, case)
    return made


def _v2_case(
    rng: random.Random,
    spec: KindSpec,
    at: datetime,
    urgency: str,
    earliest: date,
    network: _Network,
    *,
    nights: tuple[tuple[int, float], ...] = NIGHTS_WEIGHTS,
    night_weights: tuple[float, ...] = NIGHT_WEIGHTS,
    shares: tuple[float, float, float] = PREFERENCE_SHARES,
) -> _Case:
    """A valid referral of `spec` (its id is given later)."""
    home = rng.choices(network.codes, network.weights)[0]
    referrer = rng.choices(network.referrers[home], (0.6, 0.4))[0]
    omit = False
    if spec.stay_in_weeks:
        weeks = rng.randint(spec.min_stay // 7, spec.max_stay // 7)
        if rng.random() < P_DEFAULT_WEEKS:
            weeks, omit = spec.default_stay // 7, rng.random() < P_OMIT_WEEKS
        stay = weeks * 7
    else:
        stay = rng.choice(_stay_choices(spec))
    case = _Case("", at, spec.name, urgency, home, referrer, earliest, stay, omit_stay=omit)
    case.birth = _valid_birth(rng, spec, earliest)
    if spec.timeout_address_expected:
        r, address = rng.random(), rng.choice(TIMEOUT_ADDRESSES)
        if r < P_ADDRESS_AT_REFERRAL:
            case.timeout_address = address
        elif r < P_ADDRESS_AT_REFERRAL + P_ADDRESS_LATER:
            case.late_address = address
    if spec.nights_per_week is not None:
        lo, hi = spec.nights_per_week
        options = [(n, w) for n, w in nights if lo <= n <= hi] or [(lo, 1.0)]
        case.nights = rng.choices([n for n, _ in options], [w for _, w in options])[0]
        case.preferred = _preferred_nights(rng, case.nights, night_weights, shares)
    return case


def _preferred_nights(
    rng: random.Random, n: int, weights: tuple[float, ...], shares: tuple[float, float, float]
) -> list[str] | None:
    """Distinct weekday names (week order), mostly `n` of them; sometimes fewer, none or left out."""
    absent, empty, fewer = shares
    r = rng.random()
    if r < absent:
        return None
    if r < absent + empty:
        return []
    k = rng.randint(1, n - 1) if r < absent + empty + fewer and n > 1 else n
    return [WEEKDAYS[d] for d in sorted(_weighted_order(rng, list(weights))[:k])]


def _v2_follow_ups(rng: random.Random, case: _Case) -> None:
    """Late time-out address, withdraw, discharge, refused time-out and close events of a new kind's case."""
    start = case.earliest + timedelta(days=rng.randint(0, 10))
    case.likely_start = start
    if case.late_address is not None:
        _late_address(rng, case)
    if rng.random() < P_V2_WITHDRAW:
        _withdraw(rng, case, start)
        return
    end = start + timedelta(days=case.stay)
    if rng.random() < P_V2_DISCHARGE:
        end = _discharge(rng, case, end)
    case.likely_end = end
    close = _weekday(end + timedelta(days=rng.randint(3, 21))) if rng.random() < P_V2_CLOSE else None
    if not case.spec.timeout_on_group and rng.random() < P_V2_TIMEOUT:
        at_day = start + timedelta(days=rng.randint(14, 60))
        if close is None or at_day < close:
            at = _after_referral(rng, case, _at(at_day, rng.randrange(8, 21), rng.choice((0, 15, 30, 45))))
            case.follow.append((at, {"type": "timeout_request", "days": rng.choice((1, 2, 3, 5))}))
    if close is not None:
        case.close = close
        at = _after_referral(rng, case, _at(close, rng.choice((15, 16, 16, 17))))
        body: JSON = {"type": "close"}
        case.follow.append((at, body))
        _close_details(rng, case, body, at)


def _contended_part_time_cases(
    rng: random.Random, spec: KindSpec, scale: float, first: date, horizon: int, network: _Network
) -> list[_Case]:
    """The `parttime` tier's part-time referrals: waves of families asking 2-3 nights early in the week
    (see the module docstring), PT_OVERBOOK times the part-time bed-nights of the network."""
    beds = sum(_places(loc, spec.group_kind) for loc in network.locations)
    mean_nights = sum(n * w for n, w in PT_NIGHTS) / sum(w for _, w in PT_NIGHTS)
    n = max(1, round(PT_OVERBOOK * 7 * beds / mean_nights * scale))
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    end = first + timedelta(days=horizon)
    waves = [
        monday + timedelta(days=k) for k in range(0, horizon, PT_WAVE_DAYS) if monday + timedelta(k) < end
    ]
    made = []
    for i in range(n):
        if waves:  # referred in the wave's week, ready the Monday after it
            wave = waves[0] if i < PT_FIRST_WAVE * n or len(waves) == 1 else rng.choice(waves[1:])
            day = min(wave + timedelta(days=rng.randint(0, 4)), end - timedelta(days=1))
            at, earliest = (
                _at(day, rng.randrange(9, 17), rng.choice((0, 15, 30, 45))),
                wave + timedelta(days=7),
            )
        else:  # a horizon too short for a wave
            at = _referral_times(rng, 1, first, horizon)[0]
            earliest = at.date() + timedelta(days=rng.randint(2, 14))
        made.append(
            _v2_case(
                rng,
                spec,
                at,
                "normal",
                max(earliest, at.date()),
                network,
                nights=PT_NIGHTS,
                night_weights=PT_NIGHT_WEIGHTS,
                shares=PT_PREFERENCE_SHARES,
            )
        )
    return made


def _current_therapists(rng: random.Random, cases: list[_Case], people: list[JSON]) -> None:
    """About P_CURRENT_THERAPIST of the valid ThuisBest cases already have an MST therapist of their
    home region (chosen without regard to the caseload: some are full)."""
    serving: dict[str, list[str]] = {}
    for p in people:
        if p["role"] == "mst_therapist":
            for code in p["regions"]:
                serving.setdefault(code, []).append(p["id"])
    eligible = [c for c in cases if not c.invalid and c.spec.needs_mst_therapist and serving.get(c.home)]
    for case in rng.sample(eligible, round(P_CURRENT_THERAPIST * len(eligible))):
        case.current_therapist = rng.choice(serving[case.home])


def _workday_between(rng: random.Random, lo: date, hi: date) -> date:
    """A day in [lo, hi], moved back to the Friday (but not before `lo`) when it falls in a weekend."""
    d = _between(rng, lo, hi)
    if d.weekday() >= 5:
        d = max(lo, d - timedelta(days=d.weekday() - 4))
    return d


def _staff_changes(
    rng: random.Random, tier: str, scale: float, people: list[JSON], first: date, horizon: int
) -> list[tuple[datetime, JSON]]:
    """Therapists and trajectbegeleiders absent for a while (alternately 10-21 days, more than five
    working days, and 2-7 days, at most five) and some who leave; announced at or before `from`."""
    mix = V2_MIX[tier]
    staff = [p["id"] for p in people if p["role"] in ("mst_therapist", "trajectbegeleider")]
    n_absent, n_left = max(2, round(mix.absences * scale)), max(1, round(mix.left * scale))
    last = first + timedelta(days=max(0, horizon - 1))
    out: list[tuple[datetime, JSON]] = []
    for k, person in enumerate(rng.sample(staff, min(len(staff), n_absent + n_left))):
        if k >= n_absent:  # left: gives a few weeks' notice
            frm = _workday_between(rng, first + timedelta(days=horizon // 3), last)
            notice, until, status = rng.randint(14, 30), None, "left"
        elif k % 2 == 0:  # a long absence: planned leave announced ahead, or a sudden illness
            frm = _workday_between(rng, first + timedelta(days=1), last)
            notice = rng.choice((0, rng.randint(3, 14)))
            until, status = frm + timedelta(days=rng.randint(10, 21)), "absent"
        else:  # a short illness, reported that morning
            frm = _workday_between(rng, first + timedelta(days=1), last)
            notice, until, status = 0, frm + timedelta(days=rng.randint(2, 7)), "absent"
        frm = min(frm, last)
        at = max(_at(frm - timedelta(days=notice), 8), _at(first, 8))
        ev: JSON = {
            "at": _fmt(at),
            "type": "staff_change",
            "person": person,
            "from": frm.isoformat(),
            "until": None if until is None else until.isoformat(),
            "status": status,
        }
        out.append((at, ev))
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
    tier: str,
    seed: int = 1,
    *,
    start: str = "2026-01-05",
    days: int | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """A scenario dict for `tier`, the same for the same arguments.

    `version` 1 is SCENARIO.md, 2 PATHWAY-V2.md; None is the tier's own (1, and 2 for the tiers of
    V2_TIERS, which have no version 1).
    """
    horizon = _horizon(tier, days)
    version = _version(tier, version)
    # One random stream per tier and seed; every stage below draws from it in this order. Version 2
    # draws what it adds from a second stream (`extra`).
    rng = random.Random(f"thuisbest-{tier}-{seed}")
    extra = random.Random(f"thuisbest-v2-{tier}-{seed}") if version == 2 else None
    first = date.fromisoformat(start)
    end = first + timedelta(days=horizon)
    scale = horizon / DEFAULT_DAYS[tier]
    holidays = dutch_holidays(first.year, end.year)
    sizing = SIZING.get(tier)
    network = _national_regions_network(rng) if sizing else _zuid_regions_network(seed, version)
    cases = _referred_cases(rng, tier, scale, first, horizon, network)
    thuisbest_cases = list(cases)
    if extra is not None:
        _v2_on_version1_cases(extra, cases)
        cases += _v2_cases(extra, tier, scale, first, horizon, network, len(cases))
    if sizing:
        # The national beds and staff are sized after the cases, to the demand they make.
        _size_national_network(rng, network, cases, first, horizon, sizing, extra)
        per_day = _national_busy_rate(network.people, first, horizon)
    else:
        per_day = 0.2
    staff_changes: list[tuple[datetime, JSON]] = []
    if extra is not None:
        _current_therapists(extra, thuisbest_cases, network.people)
        staff_changes = _staff_changes(extra, tier, scale, network.people, first, horizon)
    busy = _busy(rng, network.people, first, end, set(holidays), per_day)
    events = _timed_events(rng, tier, scale, cases, network.locations, first, horizon, staff_changes)
    settings: JSON = {
        "startgesprek_within_working_days": 3,
        "meeting_minutes": 90,
        "working_hours": ["09:00", "17:00"],
        "holidays": [h.isoformat() for h in holidays],
        "mst_weeks": 20,
    }
    if version == 2:
        settings["kennismaking_within_working_days"] = 5
    return {
        "scenario_version": version,
        "name": f"{tier}-s{seed}" if version == 1 or tier in V2_TIERS else f"{tier}-v2-s{seed}",
        "start": first.isoformat(),
        "end": end.isoformat(),
        "settings": settings,
        "regions": network.regions,
        "travel_minutes": network.travel,
        "locations": network.locations,
        "people": network.people,
        "busy": busy,
        "events": events,
    }


def _horizon(tier: str, days: int | None) -> int:
    """The number of days to generate: the tier's default unless `days` is given."""
    if tier not in ALL_TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(ALL_TIERS)}")
    horizon = DEFAULT_DAYS[tier] if days is None else int(days)
    if horizon < 1:
        raise ValueError("days must be at least 1")
    return horizon


def _version(tier: str, version: int | None) -> int:
    """The scenario version to write: `version`, or the tier's own when None."""
    if version is None:
        return 2 if tier in V2_TIERS else 1
    if version not in VERSIONS:
        raise ValueError(f"unknown scenario version {version!r}; choose one of 1, 2")
    if version == 1 and tier in V2_TIERS:
        raise ValueError(f"tier {tier!r} exists in scenario version 2 only")
    return version


def _national_regions_network(rng: random.Random) -> _Network:
    """The national regions and travel times; locations and people follow once the cases are known."""
    regions, travel, weights = _national_regions(rng)
    codes = [r["code"] for r in regions]
    referrers = {c: [f"ref-{c}", f"ref-{c}-gi"] for c in codes}
    return _Network(regions, travel, weights, referrers)


def _zuid_regions_network(seed: int, version: int = 1) -> _Network:
    """Landsdeel Zuid, complete with groups and staff."""
    # region and tight share the network for the same seed: it has its own random stream (and so do
    # its version 2 additions, shared by region, tight and parttime)
    regions, travel, locations, people, referrers = _zuid_network(random.Random(f"thuisbest-zuid-{seed}"))
    if version == 2:
        _zuid_v2_additions(random.Random(f"thuisbest-zuid-v2-{seed}"), locations, people)
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
    rng: random.Random,
    network: _Network,
    cases: list[_Case],
    first: date,
    horizon: int,
    sizing: _Sizing,
    extra: random.Random | None = None,
) -> None:
    """Add the locations and people: closed beds and caseloads as `sizing` says, open beds generously
    (and with the version 2 stream `extra`, day places and part-time beds as `sizing.v2_load` says)."""
    closed_nights, open_nights = _planned_bed_nights(cases)
    closed_regular = round(closed_nights / horizon / sizing.closed_load)
    open_beds = round(max(open_nights / horizon / 0.6, closed_regular * 0.8))
    network.locations = _national_locations(rng, network.regions, network.weights, closed_regular, open_beds)
    if extra is not None:
        _national_v2_groups(extra, network.locations, cases, first, horizon, sizing.v2_load)
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
        elif c.spec.group_kind == "open":
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
    other: list[tuple[datetime, JSON]] | None = None,
) -> list[dict[str, Any]]:
    """All events before the end day, in time order (equal times keep their order of making);
    `other`: events of no case besides the capacity cuts (staff changes)."""
    n_cap = round(BASE_CAPACITY[tier] * scale)
    timed: list[tuple[datetime, int, dict[str, Any]]] = []
    seq = 0
    for case in cases:
        timed.append((case.at, seq, _referral_event(case)))
        seq += 1
        for at, body in sorted(case.follow, key=lambda f: f[0]):
            timed.append((at, seq, _case_event(case, at, body)))
            seq += 1
    for at, ev in _capacity(rng, locations, n_cap, first, horizon) + (other or []):
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
    parser.add_argument(
        "tier", choices=ALL_TIERS, help=f"{', '.join(V2_TIERS)}: scenario version 2 only (see --v2)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2026-01-05", help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=None, help="horizon in days")
    parser.add_argument(
        "--v2",
        action="store_true",
        help="write scenario version 2 (PATHWAY-V2: day and part-time groups and kinds, staff changes, "
        "close outcomes, follow-ups); the default is version 1, except for the version-2-only tiers",
    )
    parser.add_argument("--out", default="-", help="output file ('-' for stdout)")
    args = parser.parse_args(argv)
    scenario = generate(
        args.tier, args.seed, start=args.start, days=args.days, version=2 if args.v2 else None
    )
    text = json.dumps(scenario, indent=1, ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
