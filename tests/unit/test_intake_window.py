"""The eligible window intake publishes (shared/kinds.py `eligible_window_clipped`): it holds only
days on which the youth's age fits the kind, within a year of the referral, and says no more about
the birth date than the week of a birthday."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from services.intake.rules import to_case_event
from shared.events import ReferralRegistered
from shared.inputs import ReferralEvent
from shared.kinds import (
    KIND_TABLE,
    PLANNING_HORIZON_DAYS,
    KindSpec,
    age_on,
    birthday,
    eligible_window,
    eligible_window_clipped,
)
from shared.network import NetworkIndex
from shared.settings import DEMO_NETWORK
from tools.scenario import load_scenario

NET = NetworkIndex(load_scenario(DEMO_NETWORK).network)
HORIZON = timedelta(PLANNING_HORIZON_DAYS)
kinds = st.sampled_from(KIND_TABLE)
births = st.dates(date(1995, 1, 1), date(2022, 12, 31))
referral_days = st.dates(date(2024, 1, 1), date(2031, 12, 31))


def week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


@given(kinds, births, referral_days)
def test_the_window_holds_only_days_on_which_the_youth_fits_the_kind(
    kind: KindSpec, birth: date, referral: date
) -> None:
    start, end = eligible_window_clipped(kind, birth, referral)
    if start > end:  # no day at all: said the same way for every youth
        assert (start, end) == (referral, referral - timedelta(1))
        return
    assert referral <= start <= end <= referral + HORIZON
    # Age only grows: when both ends fit, every day between does.
    assert kind.age_fits(age_on(birth, start)) and kind.age_fits(age_on(birth, end))
    assert start == referral or start.weekday() == 0  # a Monday, unless the referral day
    assert end == referral + HORIZON or end.weekday() == 6  # a Sunday, unless the horizon's end


@given(kinds, births, referral_days)
def test_the_window_loses_at_most_six_days_at_each_end(kind: KindSpec, birth: date, referral: date) -> None:
    first, last = eligible_window(kind, birth)
    lo, hi = max(first, referral), min(last, referral + HORIZON)
    assume((hi - lo).days >= 13)
    start, end = eligible_window_clipped(kind, birth, referral)
    assert timedelta(0) <= start - lo <= timedelta(6)
    assert timedelta(0) <= hi - end <= timedelta(6)


@given(kinds, births, referral_days, st.integers(-6, 6))
def test_youths_with_birthdays_in_the_same_weeks_get_the_same_window(
    kind: KindSpec, birth: date, referral: date, shift: int
) -> None:
    other = birth + timedelta(shift)
    # The last day too young, and the first day too old, fall in the same ISO weeks for both.
    assume(
        week(birthday(birth, kind.min_age) - timedelta(1))
        == week(birthday(other, kind.min_age) - timedelta(1))
    )
    assume(week(birthday(birth, kind.max_age + 1)) == week(birthday(other, kind.max_age + 1)))
    assert eligible_window_clipped(kind, birth, referral) == eligible_window_clipped(kind, other, referral)


@given(kinds, births, referral_days)
def test_a_published_window_is_shared_by_at_least_six_birth_dates_around_the_youths(
    kind: KindSpec, birth: date, referral: date
) -> None:
    window = eligible_window_clipped(kind, birth, referral)
    sharing = [
        k for k in range(-12, 13) if eligible_window_clipped(kind, birth + timedelta(k), referral) == window
    ]
    # A week of birthdays (one less when a 29 February is skipped in a birthday's year).
    assert len(sharing) >= 6, sharing


def referral_of(birth: str, kind: str = "thuisbest", **extra: str) -> ReferralEvent:
    return ReferralEvent.model_validate(
        {
            "at": "2026-01-05T10:00",  # a Monday
            "case": "c1",
            "kind": kind,
            "birth_date": birth,
            "home_region": "WBW",
            "referrer": "ref-WBW",
            "urgency": "normal",
            "earliest_start": "2026-01-07",
            "machtiging": {"valid_from": "2026-01-07", "valid_until": "2026-07-06"},
        }
        | extra
    )


def published(ref: ReferralEvent) -> tuple[date, date]:
    event = to_case_event(ref, NET)
    assert isinstance(event, ReferralRegistered)
    return event.eligible_from, event.eligible_until


def test_a_birthday_inside_the_horizon_is_published_as_its_week() -> None:
    # Turns 12 on Wednesday 4 March 2026: eligible from Monday 9 March.
    assert date(2026, 3, 4).weekday() == 2
    assert published(referral_of("2014-03-04", earliest_start="2026-03-09")) == (
        date(2026, 3, 9),
        date(2027, 1, 5),
    )
    # Turns 18 on Wednesday 10 June 2026: eligible until Sunday 7 June.
    assert published(referral_of("2008-06-10")) == (date(2026, 1, 5), date(2026, 6, 7))
    # A youth of 14 is eligible on every day of the horizon, and that is all the event says.
    assert published(referral_of("2011-08-19")) == (date(2026, 1, 5), date(2027, 1, 5))


def test_no_two_days_of_birth_in_one_week_are_told_apart() -> None:
    windows = {published(referral_of(f"2008-06-{day:02d}")) for day in range(8, 15)}  # Mon..Sun in 2026
    assert windows == {(date(2026, 1, 5), date(2026, 6, 7))}
