"""The planner's memory: cases with their published placements, time-outs and startgesprekken (JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from shared.kinds import KindSpec, kind_spec, lapse_date
from shared.types import fmt_local, parse_local

URGENCY_RANK = {"crisis": 0, "urgent": 1, "normal": 2}


@dataclass
class Placement:
    group: str
    start: date
    end: date  # the current end: start + stay_days, or the date of a counted discharge
    therapist: str | None  # None for a kind without MST
    trajectbegeleider: str
    discharged: bool = False
    nights: tuple[str, ...] | None = None  # a part-time placement's weekly nights (weekday names)

    def key(self) -> tuple[str, date, str | None, str, tuple[str, ...] | None]:
        return (self.group, self.start, self.therapist, self.trajectbegeleider, self.nights)

    @property
    def staff(self) -> list[str]:
        """The people whose caseload the placement loads (one each)."""
        return list(dict.fromkeys(p for p in (self.therapist, self.trajectbegeleider) if p))


@dataclass
class Handover:
    """A running case's therapist or trajectbegeleider replaced after a staff change."""

    at: datetime
    role: str  # "mst_therapist" or "trajectbegeleider"
    previous: str
    successor: str
    reason: str


@dataclass
class Timeout:
    group: str
    start: date
    end: date
    therapist: str | None
    trajectbegeleider: str | None
    requested_at: datetime


@dataclass
class Meeting:
    start: datetime
    end: datetime
    place: str
    attendees: list[str]
    sequence: int = 0


@dataclass
class Waiting:
    reason: str
    expected_start: date | None = None
    code: str = ""  # what kind of wait; a new CaseWaitlisted is published only when it or the date changes
    # A bed in reach was free, but no therapist, trajectbegeleider or startgesprek slot with it
    # (see `waitlist.wait_code`; the published CaseWaitlisted does not carry it).
    staff_or_slot: bool = False
    # The expected start last announced (code "expected"): a new CaseWaitlisted goes out only when
    # the expected start moves further than the tolerance from it.
    announced: date | None = None


@dataclass
class Case:
    id: str
    kind: str
    home_region: str
    referrer: str
    urgency: str
    earliest_start: date
    stay_days: int
    eligible_from: date
    eligible_until: date
    conflicts_with: list[str]
    machtigingen: list[tuple[date, date]]
    referred_at: datetime
    has_timeout_address: bool = False
    status: str = "open"  # open | withdrawn | closed
    ended_on: date | None = None  # the day of the withdraw or close
    placeable_since: datetime | None = None  # fcfs serves cases in this order
    placement: Placement | None = None  # the promised (committed, announced) placement
    expected: Placement | None = None  # the plan of a case not promised yet: its expected start
    confirmed: bool = False  # a coordinator asked to promise the expected placement now
    meeting: Meeting | None = None
    meeting_sequence: int = -1  # the last StartgesprekPlanned sequence published
    # PATHWAY-V2: the family's MST therapist already (kept when they serve the home region and have
    # room), a part-time pattern's size and wishes, the kennismakingsgesprek (whose trajectbegeleider
    # the placement prefers), the handovers after staff changes, and how the trajectory closed.
    current_therapist: str | None = None
    nights_per_week: int | None = None
    preferred_nights: list[str] = field(default_factory=list)
    kennismaking: Meeting | None = None
    kennismaking_sequence: int = -1
    handovers: list[Handover] = field(default_factory=list)
    close_reason: str | None = None
    timeouts: list[Timeout] = field(default_factory=list)
    waiting: Waiting | None = None
    explanation: str = ""

    @property
    def open(self) -> bool:
        return self.status == "open"

    @property
    def kennismaking_tb(self) -> str | None:
        """The trajectbegeleider the family met at the kennismakingsgesprek (its attendees are the
        supervisor when the kind has MST, the trajectbegeleider, then the referrer)."""
        return self.kennismaking.attendees[-2] if self.kennismaking is not None else None

    @property
    def spec(self) -> KindSpec:
        """The case's row of the kinds table."""
        return kind_spec(self.kind)

    @property
    def needs_machtiging(self) -> bool:
        return self.spec.needs_machtiging

    def ready_day(self) -> date:
        """The first day the rules let this case start (ignoring beds and people)."""
        ready = max(self.referred_at.date(), self.earliest_start, self.eligible_from)
        if self.needs_machtiging and self.machtigingen:
            ready = max(ready, min(vf for vf, _ in self.machtigingen))
        return ready

    def start_windows(self, lo: date, hi: date) -> list[tuple[date, date]]:
        """Inclusive ranges of placement start days in [lo, hi] allowed by age and machtiging."""
        lo = max(lo, self.referred_at.date(), self.earliest_start, self.eligible_from)
        hi = min(hi, self.eligible_until)
        if not self.needs_machtiging:
            return [(lo, hi)] if lo <= hi else []
        ranges = []
        for vf, vu in self.machtigingen:
            a = max(lo, vf)
            b = min(hi, lapse_date(vf), vu - timedelta(self.stay_days - 1))
            if a <= b:
                ranges.append((a, b))
        ranges.sort()
        merged: list[tuple[date, date]] = []
        for a, b in ranges:
            if merged and a <= merged[-1][1] + timedelta(1):
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged

    def machtiging_for(self, start: date, end: date, placement: bool = True) -> tuple[date, date] | None:
        """The first machtiging that allows a stay [start, end) (the validator's reading)."""
        for vf, vu in self.machtigingen:
            if vf <= start and end <= vu + timedelta(1):
                if not placement or start <= lapse_date(vf):
                    return (vf, vu)
        return None

    def wait_days(self) -> int | None:
        p = self.placement
        if p is None:
            return None
        ready = max(self.referred_at.date(), self.earliest_start)
        if self.needs_machtiging:
            m = self.machtiging_for(p.start, p.start + timedelta(self.stay_days))
            if m is not None:
                ready = max(ready, m[0])
        return (p.start - ready).days


# --- JSON round trip -----------------------------------------------------------------------


def _enc(value: Any) -> Any:
    if isinstance(value, datetime):
        return fmt_local(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _enc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_enc(v) for v in value]
    return value


def case_to_json(case: Case) -> dict[str, Any]:
    return dict(_enc(asdict(case)))


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _dt(value: str | None) -> datetime | None:
    return parse_local(value) if value else None


def case_from_json(data: dict[str, Any]) -> Case:
    d = dict(data)
    for key in ("earliest_start", "eligible_from", "eligible_until", "ended_on"):
        d[key] = _d(d.get(key))
    for key in ("referred_at", "placeable_since"):
        d[key] = _dt(d.get(key))
    d["machtigingen"] = [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in d["machtigingen"]]
    for key in ("placement", "expected"):
        if d.get(key):
            p = dict(d[key])
            p["start"], p["end"] = date.fromisoformat(p["start"]), date.fromisoformat(p["end"])
            p["nights"] = tuple(p["nights"]) if p.get("nights") is not None else None
            d[key] = Placement(**p)
    for key in ("meeting", "kennismaking"):
        if d.get(key):
            m = dict(d[key])
            m["start"], m["end"] = parse_local(m["start"]), parse_local(m["end"])
            d[key] = Meeting(**m)
    d["handovers"] = [Handover(**{**h, "at": parse_local(h["at"])}) for h in d.get("handovers", [])]
    d["timeouts"] = [
        Timeout(
            **{
                **t,
                "start": date.fromisoformat(t["start"]),
                "end": date.fromisoformat(t["end"]),
                "requested_at": parse_local(t["requested_at"]),
            }
        )
        for t in d.get("timeouts", [])
    ]
    if d.get("waiting"):
        w = dict(d["waiting"])
        w["expected_start"] = _d(w.get("expected_start"))
        w["announced"] = _d(w.get("announced"))
        d["waiting"] = Waiting(**w)
    return Case(**d)
