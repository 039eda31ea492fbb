"""Look-ups over a loaded care network: groups, regions, travel, people by role and region, calendars."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from shared.scenario import Group, Location, Network, Person
from shared.workdays import WorkCalendar


@dataclass(frozen=True)
class GroupInfo:
    group: Group
    location: Location

    @property
    def id(self) -> str:
        return self.group.id

    @property
    def region(self) -> str:
        return self.location.region


class NetworkIndex:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.settings = network.settings
        self.calendar = WorkCalendar(network.settings.holidays)
        self.regions = {r.code: r for r in network.regions}
        self.groups: dict[str, GroupInfo] = {
            g.id: GroupInfo(g, loc) for loc in network.locations for g in loc.groups
        }
        self.locations = {loc.id: loc for loc in network.locations}
        self.people: dict[str, Person] = {p.id: p for p in network.people}
        self._travel: dict[tuple[str, str], int] = {}
        for a, b, minutes in network.travel_minutes:
            self._travel[(a, b)] = minutes
            self._travel[(b, a)] = minutes
        self.by_role: dict[str, list[Person]] = defaultdict(list)
        for p in network.people:
            self.by_role[p.role].append(p)
        self.busy: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for blk in network.busy:
            self.busy[blk.person].append((blk.from_, blk.until))
        for blocks in self.busy.values():
            blocks.sort()

    def travel(self, a: str, b: str) -> int | None:
        """Minutes between two regions; None when they are not reachable from each other."""
        if a == b:
            return 0
        return self._travel.get((a, b))

    def serving(self, role: str, region: str) -> list[Person]:
        return [p for p in self.by_role[role] if region in p.regions]

    def coordinators(self, region: str) -> list[str]:
        return [p.id for p in self.serving("coordinator", region)]

    def supervisors(self, region: str) -> list[str]:
        return [p.id for p in self.serving("mst_supervisor", region)]

    def supervisor_of(self, therapist: str | None) -> str | None:
        person = self.people.get(therapist or "")
        return person.supervisor if person else None
