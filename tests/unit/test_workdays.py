"""One working day of notice for a meeting (PATHWAY-V2 "Meetings"): weekends, holidays, hours."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from shared.workdays import WorkCalendar

OPENS, CLOSES = time(9), time(17)
CAL = WorkCalendar([date(2026, 12, 8)])  # a network's own day off, a Tuesday


@pytest.mark.parametrize(
    ("announced", "earliest"),
    [
        ("2026-12-03T10:00", "2026-12-04T10:00"),  # Thursday inside hours: Friday, same time
        ("2026-12-03T08:00", "2026-12-04T09:00"),  # before opening: the next working day's opening
        ("2026-12-03T17:00", "2026-12-07T09:00"),  # at closing: Friday's whole day, so Monday 09:00
        ("2026-12-04T16:00", "2026-12-07T16:00"),  # Friday afternoon: Monday afternoon
        ("2026-12-05T10:00", "2026-12-09T09:00"),  # Saturday: all of Monday; Tuesday is off
        ("2026-12-07T12:00", "2026-12-09T12:00"),  # over the day off
        ("2026-12-24T12:00", "2026-12-28T12:00"),  # over Christmas (Dutch public holidays)
    ],
)
def test_a_meeting_starts_one_working_day_after_its_announcement_at_the_earliest(
    announced: str, earliest: str
) -> None:
    found = CAL.one_working_day_after(datetime.fromisoformat(announced), OPENS, CLOSES)
    assert found == datetime.fromisoformat(earliest)
