"""The trajectory kinds of DOMAIN.md and what each allows (age, group kind, stay, court order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class KindSpec:
    name: str
    group_kind: str  # "closed" or "open"
    min_age: int
    max_age: int  # inclusive: age at placement start
    min_stay: int
    max_stay: int
    default_stay: int
    needs_machtiging: bool
    timeout_on_group: bool


KINDS: dict[str, KindSpec] = {
    "thuisbest": KindSpec("thuisbest", "closed", 12, 17, 42, 56, 56, True, True),
    "thuisbest_open": KindSpec("thuisbest_open", "open", 10, 19, 28, 42, 42, False, False),
}


def age_on(birth_date: date, day: date) -> int:
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def birthday(birth_date: date, age: int) -> date:
    """The day a youth born on `birth_date` turns `age` (29 February -> 1 March)."""
    try:
        return birth_date.replace(year=birth_date.year + age)
    except ValueError:
        return date(birth_date.year + age, 3, 1)


def eligible_window(kind: KindSpec, birth_date: date) -> tuple[date, date]:
    """First and last placement start day on which the youth's age fits the kind."""
    from datetime import timedelta

    return birthday(birth_date, kind.min_age), birthday(birth_date, kind.max_age + 1) - timedelta(1)


def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic, clamping to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    import calendar

    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def lapse_date(valid_from: date) -> date:
    """Last day a placement may start under a machtiging (Jeugdwet 6.1.12: three months)."""
    return add_months(valid_from, 3)
