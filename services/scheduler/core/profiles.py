"""Free beds per group-night and free caseload per person-day from today on, as numpy profiles.

Day index 0 is `today`. Bed profiles cover `days` nights, caseload profiles `days + load_days`
days, so that a stay or a caseload starting on any day of the horizon fits inside them.

Part-time groups (PATHWAY-V2): a placement holds a weekly pattern of nights, so a stay occupies
only the nights whose weekday is in its pattern; the free count of a part-time group per night is
exact. Whether a stay of `stay` nights fits from day s is then asked per weekday (`night_ok`), and
a pattern of k nights fits when k weekdays do.

Staff changes: a person absent (or gone) takes no new case starting in their absence (`staff_ok`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from shared.kinds import WEEKDAYS
from shared.network import NetworkIndex

# person -> [from, until) start days on which they take no new case (None: for good)
Absences = dict[str, list[tuple[date, date | None]]]


def window_ok(free: np.ndarray, k: int) -> np.ndarray:
    """ok[s] is True when free[s..s+k-1] are all >= 1 (length len(free) - k + 1)."""
    if k <= 0:
        return np.ones(len(free) + 1, dtype=bool)
    bad = np.concatenate(([0], np.cumsum(free <= 0)))
    return np.asarray((bad[k:] - bad[:-k]) == 0)


@dataclass(frozen=True)
class Occupant:
    case: str
    start: int  # day index, may be negative (a stay that started before today)
    end: int  # exclusive
    regular: bool


class Profiles:
    def __init__(
        self,
        net: NetworkIndex,
        capacity: dict[str, dict[int, int]],
        today: date,
        days: int,
        load_days: int,
        absences: Absences | None = None,
    ) -> None:
        self.net = net
        self.today = today
        self.t0 = today.toordinal()
        self.absences = absences or {}
        self.part_time = {gid for gid, info in net.groups.items() if info.group.kind == "part_time"}
        self.days = days
        self.load_days = load_days
        self.staff_days = days + load_days
        self.beds: dict[str, np.ndarray] = {}
        self.regular_cap: dict[str, np.ndarray] = {}
        self.regular_occ: dict[str, np.ndarray] = {}
        self.total_occ: dict[str, np.ndarray] = {}
        for gid, info in net.groups.items():
            beds = np.full(days, info.group.beds, dtype=np.int32)
            for ordinal, n in capacity.get(gid, {}).items():
                i = ordinal - self.t0
                if 0 <= i < days:
                    beds[i] = n
            self.beds[gid] = beds
            self.regular_cap[gid] = np.maximum(beds - info.group.timeout_beds, 0)
            self.regular_occ[gid] = np.zeros(days, dtype=np.int32)
            self.total_occ[gid] = np.zeros(days, dtype=np.int32)
        self.caseload: dict[str, np.ndarray] = {}
        self.max_cases: dict[str, int] = {}
        for p in net.network.people:
            if p.role in ("mst_therapist", "trajectbegeleider"):
                self.caseload[p.id] = np.zeros(self.staff_days, dtype=np.int32)
                self.max_cases[p.id] = int(p.max_cases or 0)
        self.occupants: dict[str, list[Occupant]] = defaultdict(list)
        self._version: dict[str, int] = defaultdict(int)
        self._cache: dict[tuple[str, int], tuple[int, np.ndarray]] = {}

    def copy(self) -> Profiles:
        other = Profiles.__new__(Profiles)
        other.__dict__.update(self.__dict__)
        other.regular_occ = {g: a.copy() for g, a in self.regular_occ.items()}
        other.total_occ = {g: a.copy() for g, a in self.total_occ.items()}
        other.caseload = {p: a.copy() for p, a in self.caseload.items()}
        other.occupants = defaultdict(list, {g: list(o) for g, o in self.occupants.items()})
        other._version = defaultdict(int, self._version)
        other._cache = dict(self._cache)
        return other

    def index(self, day: date) -> int:
        return day.toordinal() - self.t0

    def day(self, index: int) -> date:
        return self.today + timedelta(index)

    # -- filling ---------------------------------------------------------------------------

    def weekdays(self, a: int, b: int) -> np.ndarray:
        """The weekday (Monday 0) of each day index in [a, b)."""
        return np.asarray((np.arange(a, b) + self.t0 - 1) % 7)  # date.fromordinal(1) is a Monday

    def night_mask(self, a: int, b: int, nights: tuple[str, ...]) -> np.ndarray:
        """mask[i] for i in [a, b): day a + i begins a night of the pattern."""
        wanted = np.zeros(7, dtype=bool)
        wanted[[WEEKDAYS.index(n) for n in nights]] = True
        return np.asarray(wanted[self.weekdays(a, b)])

    def add_stay(
        self,
        case: str,
        group: str,
        start: int,
        end: int,
        regular: bool,
        sign: int = 1,
        nights: tuple[str, ...] | None = None,
    ) -> None:
        a, b = max(start, 0), min(end, self.days)
        if a < b:
            delta: np.ndarray | int = sign
            if nights is not None:
                delta = self.night_mask(a, b, nights).astype(np.int32) * sign
            if regular:
                self.regular_occ[group][a:b] += delta
            self.total_occ[group][a:b] += delta
            self._version[group] += 1
        if sign > 0:
            self.occupants[group].append(Occupant(case, start, end, regular))
        else:
            self.occupants[group] = [
                o for o in self.occupants[group] if not (o.case == case and o.start == start)
            ]

    def add_load(self, person: str, start: int, end: int, sign: int = 1) -> None:
        if person not in self.caseload:
            return
        a, b = max(start, 0), min(end, self.staff_days)
        if a < b:
            self.caseload[person][a:b] += sign
            self._version[person] += 1

    # -- reading ---------------------------------------------------------------------------

    def regular_free(self, group: str) -> np.ndarray:
        return np.asarray(
            np.minimum(
                self.regular_cap[group] - self.regular_occ[group],
                self.beds[group] - self.total_occ[group],
            )
        )

    def total_free(self, group: str) -> np.ndarray:
        return np.asarray(self.beds[group] - self.total_occ[group])

    def bed_ok(self, group: str, stay: int, nights: int | None = None) -> np.ndarray:
        """ok[s]: a regular stay of `stay` nights fits in `group` from day s (len days - stay + 1);
        on a part-time group, a pattern of `nights` nights a week does."""
        if nights is not None and group in self.part_time:
            return np.asarray(self.night_ok(group, stay).sum(axis=0) >= nights)
        key = (group, stay)
        version = self._version[group]
        hit = self._cache.get(key)
        if hit is None or hit[0] != version:
            hit = (version, window_ok(self.regular_free(group), stay))
            self._cache[key] = hit
        return hit[1]

    def night_ok(self, group: str, stay: int) -> np.ndarray:
        """ok[d, s]: every night with weekday d of a stay of `stay` nights from day s has a free bed."""
        key = (group, -stay - 2)
        version = self._version[group]
        hit = self._cache.get(key)
        if hit is None or hit[0] != version:
            free = self.regular_free(group)
            weekday = self.weekdays(0, len(free))
            rows = [window_ok(np.where(weekday == d, free, 1), stay) for d in range(7)]
            hit = (version, np.vstack(rows))
            self._cache[key] = hit
        return hit[1]

    def night_room(self, group: str, stay: int, start: int) -> np.ndarray:
        """room[d]: the fewest free beds on the nights with weekday d of a stay from `start`."""
        free = self.regular_free(group)[start : start + stay]
        weekday = self.weekdays(start, start + len(free))
        return np.array([int(free[weekday == d].min()) if (weekday == d).any() else 0 for d in range(7)])

    def pattern(
        self, group: str, stay: int, start: int, nights: int, preferred: list[str], balanced: bool = False
    ) -> tuple[str, ...] | None:
        """The weekly nights a stay from `start` takes: the preferred ones first, then in week order
        (first fit, today's practice) or, `balanced`, the nights with the most free beds first, so
        that the beds left stay usable for the youths of several nights who come next (first fit
        fills the week from Monday and strands lone free nights at its end); None when fewer than
        `nights` weekdays have a bed all along."""
        ok = self.night_ok(group, stay)[:, start]
        order = [WEEKDAYS.index(n) for n in preferred if n in WEEKDAYS]
        rest = [d for d in range(7) if d not in order]
        if balanced:
            room = self.night_room(group, stay, start)
            rest.sort(key=lambda d: (-int(room[d]), d))
        order += rest
        chosen = [d for d in order if ok[d]][:nights]
        if len(chosen) < nights:
            return None
        return tuple(WEEKDAYS[d] for d in sorted(chosen))

    def staff_ok(self, person: str) -> np.ndarray:
        """ok[s]: the person can take one more case for the whole load period from day s."""
        key = (person, -1)
        version = self._version[person]
        hit = self._cache.get(key)
        if hit is None or hit[0] != version:
            free = self.max_cases[person] - self.caseload[person]
            ok = window_ok(free, self.load_days)
            for a, b in self.absences.get(person, ()):
                # No new case for a person absent (or gone) on its start day.
                lo = max(self.index(a), 0)
                hi = len(ok) if b is None else min(max(self.index(b), 0), len(ok))
                if lo < hi:
                    ok = ok.copy()
                    ok[lo:hi] = False
            hit = (version, ok)
            self._cache[key] = hit
        return hit[1]

    def staff_room(self, person: str, start: int) -> int:
        """The least free caseload of a person over the load period from `start`."""
        free = self.max_cases[person] - self.caseload[person][start : start + self.load_days]
        return int(free.min()) if len(free) else 0

    def conflict_free(self, group: str, stay: int, conflicts: set[str], n: int) -> np.ndarray:
        """ok[s] for s < n: a stay from s does not share `group` with a conflicting case."""
        ok = np.ones(n, dtype=bool)
        if conflicts:
            for o in self.occupants.get(group, []):
                if o.case in conflicts:
                    ok[max(0, o.start - stay + 1) : max(0, min(n, o.end))] = False
        return ok
