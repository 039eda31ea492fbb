"""Free beds per group-night and free caseload per person-day from today on, as numpy profiles.

Day index 0 is `today`. Bed profiles cover `days` nights, caseload profiles `days + load_days`
days, so that a stay or a caseload starting on any day of the horizon fits inside them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from shared.network import NetworkIndex


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
    ) -> None:
        self.net = net
        self.today = today
        self.t0 = today.toordinal()
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

    def add_stay(self, case: str, group: str, start: int, end: int, regular: bool, sign: int = 1) -> None:
        a, b = max(start, 0), min(end, self.days)
        if a < b:
            if regular:
                self.regular_occ[group][a:b] += sign
            self.total_occ[group][a:b] += sign
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

    def bed_ok(self, group: str, stay: int) -> np.ndarray:
        """ok[s]: a regular stay of `stay` nights fits in `group` from day s (len days - stay + 1)."""
        key = (group, stay)
        version = self._version[group]
        hit = self._cache.get(key)
        if hit is None or hit[0] != version:
            hit = (version, window_ok(self.regular_free(group), stay))
            self._cache[key] = hit
        return hit[1]

    def staff_ok(self, person: str) -> np.ndarray:
        """ok[s]: the person can take one more case for the whole load period from day s."""
        key = (person, -1)
        version = self._version[person]
        hit = self._cache.get(key)
        if hit is None or hit[0] != version:
            free = self.max_cases[person] - self.caseload[person]
            hit = (version, window_ok(free, self.load_days))
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
