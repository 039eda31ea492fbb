"""A clock the services read the time from, and a virtual one that simulations and tests set."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class Clock(Protocol):
    def now(self) -> datetime:
        """Local Europe/Amsterdam wall time, naive (as in scenario files)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(AMSTERDAM).replace(tzinfo=None, second=0, microsecond=0)


class VirtualClock:
    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError(f"a virtual clock never goes back ({moment} < {self._now})")
        self._now = moment
