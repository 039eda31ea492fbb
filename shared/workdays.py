"""Working-day arithmetic: weekends, Dutch public holidays (the `holidays` library) and the network's own."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _dutch(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NL", years=year).keys())


class WorkCalendar:
    def __init__(self, extra_holidays: Iterable[date] = ()) -> None:
        self.extra = frozenset(extra_holidays)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.extra and day not in _dutch(day.year)

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after `day` (`day` itself not counted); n=0 gives `day`."""
        current = day
        while n > 0:
            current += timedelta(1)
            if self.is_working_day(current):
                n -= 1
        return current

    def next_working_day(self, day: date) -> date:
        """`day` if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(1)
        return day

    def startgesprek_days(self, start: date, within: int) -> list[date]:
        """Days a startgesprek may fall on: the start (if a working day) and the next `within`."""
        days = [start] if self.is_working_day(start) else []
        current = start
        for _ in range(within):
            current = self.add_working_days(current, 1)
            days.append(current)
        return days

    def one_working_day_after(self, moment: datetime, opens: time, closes: time) -> datetime:
        """The earliest time a meeting announced at `moment` may start (PATHWAY-V2 "Meetings").

        One working day of notice: the working time between the announcement and the meeting is at
        least one working day (`opens` to `closes`). Announced inside working hours, that is the
        same time on the next working day; before opening time, the next working day's opening;
        after closing time or on a day off, the opening of the second working day from then. Such a
        meeting is also known before the working day on which it takes place begins.
        """
        day, clock = moment.date(), moment.time()
        if not self.is_working_day(day):
            day, clock = self.next_working_day(day), opens
        elif clock >= closes:
            day, clock = self.add_working_days(day, 1), opens
        elif clock < opens:
            clock = opens
        return datetime.combine(self.add_working_days(day, 1), clock)
