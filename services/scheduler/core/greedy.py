"""Greedy placement: the fcfs policy (today's practice) and the optimiser's hint and fallback.

Cases are taken one at a time in a given order; each gets the best group and start day that the
profiles (beds, caseloads, conflicts) still allow, then the profiles are updated. Nothing is
ever revisited within one pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.scheduler.core.candidates import CaseInput, feasible_starts, first_true, tbs_for
from services.scheduler.core.profiles import Profiles
from shared.kinds import WEEKDAYS
from shared.network import NetworkIndex


@dataclass(frozen=True)
class Assignment:
    group: str
    start: int  # day index from today
    therapist: str | None  # None for a kind without MST
    trajectbegeleider: str
    nights: tuple[str, ...] | None = None  # a part-time placement's weekly nights

    @property
    def staff(self) -> list[str]:
        return list(dict.fromkeys(p for p in (self.therapist, self.trajectbegeleider) if p))


def commit(prof: Profiles, ci: CaseInput, a: Assignment) -> None:
    prof.add_stay(ci.id, a.group, a.start, a.start + ci.stay, regular=True, nights=a.nights)
    for person in a.staff:
        prof.add_load(person, a.start, a.start + prof.load_days)


def pattern_fits(prof: Profiles, ci: CaseInput, a: Assignment) -> bool:
    """Whether the assignment's beds are free: every night, or every night of its weekly pattern."""
    if ci.nights is None or a.group not in prof.part_time:
        return bool(prof.bed_ok(a.group, ci.stay)[a.start])
    if a.nights is None or len(a.nights) != ci.nights:
        return False
    ok = prof.night_ok(a.group, ci.stay)
    return all(ok[WEEKDAYS.index(n), a.start] for n in a.nights)


def still_fits(net: NetworkIndex, prof: Profiles, ci: CaseInput, a: Assignment) -> bool:
    """Whether an earlier assignment is still allowed by the rules and the profiles."""
    n = len(ci.allowed)
    if not 0 <= a.start < n or a.group not in ci.travel or not ci.allowed[a.start]:
        return False
    if not pattern_fits(prof, ci, a):
        return False
    if ci.needs_therapist and a.therapist not in ci.therapists:
        return False
    if a.trajectbegeleider not in tbs_for(net, a.group):
        return False
    if not all(prof.staff_ok(p)[a.start] for p in a.staff):
        return False
    return bool(prof.conflict_free(a.group, ci.stay, ci.conflicts, n)[a.start])


def pick_staff(
    prof: Profiles, people: list[str], start: int, prefer: str | None, first_fit: bool
) -> str | None:
    able = [p for p in people if prof.staff_ok(p)[start]]
    if not able:
        return None
    if prefer in able:
        return prefer
    if first_fit:
        return able[0]
    # Spread the caseload: the person with the most room over the load period.
    return max(able, key=lambda p: (prof.staff_room(p, start), -people.index(p)))


def best_assignment(net: NetworkIndex, prof: Profiles, ci: CaseInput, fcfs: bool) -> Assignment | None:
    best: tuple[tuple[int, ...], str, int] | None = None
    for g in ci.groups:
        ok = feasible_starts(net, prof, ci, g)
        s = first_true(ok)
        if s is None:
            continue
        # fcfs: the earliest free bed, then the nearest; optimised: the weighted cost.
        key = (s, ci.travel[g]) if fcfs else (ci.cost(g, s), s, ci.travel[g])
        if best is None or key < best[0]:
            best = (key, g, s)
    if best is None:
        return None
    _, g, s = best
    prev = ci.published
    th = None
    if ci.needs_therapist:
        th = pick_staff(prof, ci.therapists, s, prev.therapist if prev else ci.current_therapist, fcfs)
    tb = pick_staff(
        prof, tbs_for(net, g), s, ci.preferred_tb or (prev.trajectbegeleider if prev else None), fcfs
    )
    if (th is None and ci.needs_therapist) or tb is None:  # cannot happen: feasible_starts checked both
        return None
    nights = None
    if ci.nights is not None and g in prof.part_time:
        keep = list(prev.nights) if prev is not None and prev.nights and prev.group == g else []
        nights = prof.pattern(g, ci.stay, s, ci.nights, keep or ci.preferred_nights, balanced=not fcfs)
        if nights is None:  # cannot happen: feasible_starts counted the weekdays
            return None
    return Assignment(g, s, th, tb, nights)


def greedy(
    net: NetworkIndex,
    prof: Profiles,
    keep: Iterable[tuple[CaseInput, Assignment]],
    new: Iterable[CaseInput],
    fcfs: bool,
) -> tuple[dict[str, Assignment], list[str]]:
    """Keep what still fits (in the given order), then place the others in order.

    Returns the assignments and the ids of kept-ones that no longer fitted (they were placed
    again among the new ones, after them).
    """
    out: dict[str, Assignment] = {}
    dropped: list[CaseInput] = []
    for ci, a in keep:
        if still_fits(net, prof, ci, a):
            commit(prof, ci, a)
            out[ci.id] = a
        else:
            dropped.append(ci)
    for ci in [*new, *dropped]:
        found = best_assignment(net, prof, ci, fcfs)
        if found is not None:
            commit(prof, ci, found)
            out[ci.id] = found
    return out, [ci.id for ci in dropped]


def earliest_anywhere(net: NetworkIndex, prof: Profiles, ci: CaseInput) -> tuple[int, str] | None:
    """The earliest (day, group) the case could start if it were alone."""
    best: tuple[int, str] | None = None
    for g in ci.groups:
        s = first_true(feasible_starts(net, prof, ci, g))
        if s is not None and (best is None or (s, ci.travel[g]) < (best[0], ci.travel[best[1]])):
            best = (s, g)
    return best
