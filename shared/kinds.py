"""The trajectory kinds of DOMAIN.md and PATHWAY-V2.md: the one table of what differs by kind.

Every service and tool asks this table (age range, residence, stay bounds, court order, staff,
time-out rule) instead of comparing kind names; adding a kind is one new row in `KIND_TABLE`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator


class TimeoutRule(StrEnum):
    """How a time-out request of a case in its home phase is answered (DOMAIN.md rule 9).

    A refusing rule's value is the reason code of the refusal.
    """

    CLOSED_GROUP = "closed_group"  # served on a closed group, starting the day of the request or the next
    INFORMAL_NETWORK = "informal_network"  # refused: the family's own informal-network address
    NO_TIMEOUT = "no_timeout_in_kind"  # refused: the kind has no time-out at all


# The group kind a time-out is served on, per serving rule.
_TIMEOUT_GROUP_KIND = {TimeoutRule.CLOSED_GROUP: "closed"}


@dataclass(frozen=True)
class KindSpec:
    """One row of the kinds table: everything that differs by trajectory kind."""

    name: str
    group_kind: str  # the residence: the kind of group a placement uses ("closed", "open", ...)
    min_age: int  # age at placement start, inclusive
    max_age: int  # inclusive: "up to 18" is 17
    min_stay: int  # days
    max_stay: int  # days
    default_stay: int  # days, when the referral names none
    needs_machtiging: bool  # a court order must cover every stay (regular and time-out)
    needs_mst_therapist: bool
    needs_trajectbegeleider: bool
    timeout: TimeoutRule
    # How pages and mail name the kind, per language ("nl", "en"); the name when a language is missing.
    titles: tuple[tuple[str, str], ...] = ()
    # PATHWAY-V2: the referral names its length in whole weeks (`program_weeks`) instead of `stay_days`.
    stay_in_weeks: bool = False
    # PATHWAY-V2 part-time residence: the (least, most) nights a week a placement holds, a fixed
    # weekly pattern of weekday names; None for a kind that holds its bed every night.
    nights_per_week: tuple[int, int] | None = None
    # Days before its start a placement of this kind is promised, when shorter than the service's
    # promise horizon (THUISBEST_PROMISE_DAYS); None: that horizon.
    promise_days: int | None = None

    def title(self, language: str) -> str:
        return dict(self.titles).get(language) or self.name

    def __post_init__(self) -> None:
        if not self.min_age <= self.max_age:
            raise ValueError(f"kind {self.name}: min_age {self.min_age} > max_age {self.max_age}")
        if not 0 < self.min_stay <= self.default_stay <= self.max_stay:
            raise ValueError(
                f"kind {self.name}: stays must satisfy 0 < min_stay <= default_stay <= max_stay, "
                f"got {self.min_stay}, {self.default_stay}, {self.max_stay}"
            )
        if self.stay_in_weeks and (self.min_stay % 7 or self.max_stay % 7 or self.default_stay % 7):
            raise ValueError(f"kind {self.name}: a programme in weeks has stays of whole weeks")
        if (
            self.nights_per_week is not None
            and not 1 <= self.nights_per_week[0] <= self.nights_per_week[1] <= 7
        ):
            raise ValueError(f"kind {self.name}: nights_per_week must satisfy 1 <= least <= most <= 7")
        object.__setattr__(self, "timeout", TimeoutRule(self.timeout))

    @property
    def timeout_on_group(self) -> bool:
        """Whether a time-out request is served with a stay on a group."""
        return self.timeout in _TIMEOUT_GROUP_KIND

    @property
    def timeout_group_kind(self) -> str | None:
        """The group kind a time-out is served on, or None when the kind refuses time-outs."""
        return _TIMEOUT_GROUP_KIND.get(self.timeout)

    @property
    def timeout_refusal(self) -> str | None:
        """The reason code every time-out request of this kind is refused with, or None when served."""
        return None if self.timeout_on_group else self.timeout.value

    @property
    def timeout_address_expected(self) -> bool:
        """Whether the family names a time-out address in its informal network at referral."""
        return self.timeout is TimeoutRule.INFORMAL_NETWORK

    def age_fits(self, age: int) -> bool:
        return self.min_age <= age <= self.max_age

    def stay_fits(self, days: int) -> bool:
        return self.min_stay <= days <= self.max_stay

    def stay_or_default(self, days: int | None) -> int:
        """The stay a referral asks for, or the kind's default when it names none."""
        return self.default_stay if days is None else days

    @property
    def stay_field(self) -> str:
        """The referral field that names the stay's length for this kind."""
        return "program_weeks" if self.stay_in_weeks else "stay_days"

    def requested_stay(self, stay_days: int | None, program_weeks: int | None) -> int | None:
        """The stay in days a referral asks for through the kind's own field (None: the default)."""
        if self.stay_in_weeks:
            return None if program_weeks is None else program_weeks * 7
        return stay_days

    def describe_stay_bounds(self) -> str:
        if self.stay_in_weeks:
            return f"{self.min_stay // 7}-{self.max_stay // 7} weeks"
        return f"{self.min_stay}-{self.max_stay} days"

    @property
    def part_time(self) -> bool:
        """Whether a placement holds a weekly pattern of nights rather than every night."""
        return self.nights_per_week is not None


KIND_TABLE: tuple[KindSpec, ...] = (
    KindSpec(
        name="thuisbest",
        group_kind="closed",
        min_age=12,
        max_age=17,
        min_stay=42,
        max_stay=56,
        default_stay=56,
        needs_machtiging=True,
        needs_mst_therapist=True,
        needs_trajectbegeleider=True,
        timeout=TimeoutRule.CLOSED_GROUP,
        titles=(("nl", "ThuisBest (gesloten)"), ("en", "ThuisBest (closed)")),
    ),
    KindSpec(
        name="thuisbest_open",
        group_kind="open",
        min_age=10,
        max_age=19,
        min_stay=28,
        max_stay=42,
        default_stay=42,
        needs_machtiging=False,
        needs_mst_therapist=True,
        needs_trajectbegeleider=True,
        timeout=TimeoutRule.INFORMAL_NETWORK,
        titles=(("nl", "ThuisBest (open)"), ("en", "ThuisBest (open)")),
    ),
    # PATHWAY-V2: MST plus intensive day treatment on a day place, every working day.
    KindSpec(
        name="gezinsbehandeling_plus",
        group_kind="day",
        min_age=12,
        max_age=17,
        min_stay=8 * 7,
        max_stay=16 * 7,
        default_stay=12 * 7,
        needs_machtiging=False,
        needs_mst_therapist=True,
        needs_trajectbegeleider=True,
        timeout=TimeoutRule.INFORMAL_NETWORK,
        titles=(("nl", "Gezinsbehandeling Plus"), ("en", "Family treatment Plus")),
        stay_in_weeks=True,
    ),
    # PATHWAY-V2: part-time residence on 2-5 fixed nights a week, about nine months; home visits
    # by the trajectbegeleider, no MST.
    KindSpec(
        name="beter_met_thuis",
        group_kind="part_time",
        min_age=6,
        max_age=15,
        min_stay=26 * 7,
        max_stay=52 * 7,
        default_stay=39 * 7,
        needs_machtiging=False,
        needs_mst_therapist=False,
        needs_trajectbegeleider=True,
        timeout=TimeoutRule.NO_TIMEOUT,
        titles=(("nl", "Beter met Thuis (deeltijdverblijf)"), ("en", "Better at Home (part-time residence)")),
        stay_in_weeks=True,
        nights_per_week=(2, 5),
        # A weekly pattern holds for nine months: the nights of the youths who start together are
        # chosen together (a Friday for the Monday after), which fits more of them on the same
        # beds than taking each youth's nights as its referral comes in.
        promise_days=3,
    ),
)

# Weekday names of a part-time pattern, Monday first (`date.weekday()` is the index); a night is
# named by the day it begins.
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def night_name(day: date) -> str:
    return WEEKDAYS[day.weekday()]


def unknown_weekdays(names: list[str]) -> list[str]:
    """The names among `names` that are not weekday names of `WEEKDAYS`."""
    return [n for n in names if n not in WEEKDAYS]


# The table by name. Callers look kinds up here at call time, so a row added to it (even by a
# test) is honoured everywhere.
KINDS: dict[str, KindSpec] = {spec.name: spec for spec in KIND_TABLE}


def known_kinds() -> str:
    return ", ".join(KINDS)


def unknown_kind(name: object) -> str:
    """The plain-words reason a kind name is refused."""
    return f"unknown kind {name!r} (known: {known_kinds()})"


def kind_spec(name: str) -> KindSpec:
    """The row of `name`; a KeyError naming the known kinds when there is none."""
    spec = KINDS.get(name)
    if spec is None:
        raise KeyError(unknown_kind(name))
    return spec


def kinds_on(group_kind: str) -> list[KindSpec]:
    """The kinds whose placements use a group of `group_kind`, in table order."""
    return [spec for spec in KINDS.values() if spec.group_kind == group_kind]


def kind_for_group_kind(group_kind: str) -> KindSpec:
    """The one kind placed on groups of `group_kind` (a ValueError when none or several are)."""
    found = kinds_on(group_kind)
    if len(found) != 1:
        names = ", ".join(spec.name for spec in found) or "none"
        raise ValueError(f"expected one kind on {group_kind} groups, found {names}")
    return found[0]


def _known_kind(name: str) -> str:
    if name not in KINDS:
        raise ValueError(unknown_kind(name))
    return name


# A kind name validated against the table (pydantic fields of events and request bodies).
KindName = Annotated[str, AfterValidator(_known_kind)]


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
    return birthday(birth_date, kind.min_age), birthday(birth_date, kind.max_age + 1) - timedelta(1)


# Events about a referral look this far ahead of its day; the eligible window is clipped to it.
PLANNING_HORIZON_DAYS = 365


def eligible_window_clipped(kind: KindSpec, birth_date: date, referral_day: date) -> tuple[date, date]:
    """The eligible window as intake publishes it: no birth date can be derived from it.

    A bound that comes from a birthday is rounded inward to a whole ISO week (the first day to the
    Monday on or after it, the last day to the Sunday on or before it), then the window is clipped
    to the planning horizon [referral_day, referral_day + PLANNING_HORIZON_DAYS]. Rounding before
    clipping keeps every published bound shared by a full week of birthdays, also in the week
    around the referral day. An empty window is always (referral_day, the day before), whatever
    the birth date.
    """
    first, last = eligible_window(kind, birth_date)
    horizon_end = referral_day + timedelta(PLANNING_HORIZON_DAYS)
    start = max(first + timedelta((7 - first.weekday()) % 7), referral_day)
    end = min(last - timedelta((last.weekday() + 1) % 7), horizon_end)
    if start > end:
        return referral_day, referral_day - timedelta(1)
    return start, end


def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic, clamping to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def lapse_date(valid_from: date) -> date:
    """Last day a placement may start under a machtiging (Jeugdwet 6.1.12: three months)."""
    return add_months(valid_from, 3)
