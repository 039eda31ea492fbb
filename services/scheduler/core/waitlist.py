"""Why an open case has not started yet, as a stable code a page can act on, and its deadlines (pure).

The planning core keeps a waiting case's reason as English text and an internal code (which also
decides when a new `case_waitlisted` is published); `wait_code` turns those into the public
`WaitCode` of the waiting list. `WAIT_CODES` documents each code in one place.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from services.scheduler.core.state import Case
from shared.kinds import lapse_date

WaitCode = Literal[
    "planned",
    "expected",
    "not_planned_yet",
    "machtiging_needed",
    "machtiging_lapsed",
    "too_old",
    "not_yet_allowed",
    "no_bed",
    "no_bed_in_time",
    "no_staff_or_slot",
]

WAIT_CODES: dict[WaitCode, str] = {
    "planned": "a placement is promised (announced), starting after today",
    "expected": (
        "a placement is expected from expected_start but not promised yet: it is promised a few days "
        "before the start (the scheduler's commit_days) or when a coordinator confirms it"
    ),
    "not_planned_yet": "referred since the last re-plan: not planned yet",
    "machtiging_needed": "the kind needs a machtiging (court order) and none has been granted",
    "machtiging_lapsed": (
        "no machtiging allows the stay any more (not executed within three months of valid_from, "
        "or too short for the stay): a new machtiging is needed"
    ),
    "too_old": "the youth is too old for the kind (or the referral is more than a year old)",
    "not_yet_allowed": (
        "the rules allow no start within the planning horizon yet (earliest start, machtiging "
        "valid_from or age); expected_start is the first day they allow"
    ),
    "no_bed": "no bed (with a free therapist and trajectbegeleider) in reach within the planning horizon",
    "no_bed_in_time": (
        "no bed (with a free therapist and trajectbegeleider) in reach before start_limit, the last "
        "day the machtiging or the youth's age allows a start"
    ),
    "no_staff_or_slot": (
        "a bed and staff are free, but no startgesprek slot that every attendee can make was found yet"
    ),
}

# The core's own codes (`Waiting.code`, see `describe_window` and `Scheduler._wait_reason`).
_FROM_CORE: dict[str, WaitCode] = {
    "machtiging": "machtiging_needed",
    "machtiging_lapsed": "machtiging_lapsed",
    "age": "too_old",
    "horizon": "not_yet_allowed",
    "no_bed": "no_bed",
    "no_bed_in_time": "no_bed_in_time",
    "expected": "expected",
}

LAPSING_WITHIN = timedelta(days=14)  # a machtiging whose last start day is this near, unplaced: an alert


def wait_code(case: Case) -> WaitCode:
    """The public code of an open case that has not started (its published placement or wait)."""
    if case.placement is not None:
        return "planned"
    w = case.waiting
    if w is None:
        return "not_planned_yet"
    code = _FROM_CORE.get(w.code)
    if code is None:  # an ended case, or a code this table does not know yet
        return "not_planned_yet"
    if code in ("no_bed", "no_bed_in_time") and w.staff_or_slot:
        return "no_staff_or_slot"
    return code


def last_machtiging_start(case: Case) -> date | None:
    """The last day any of the case's machtigingen allows its placement to start: three months
    after valid_from (Jeugdwet 6.1.12), and early enough for the whole stay to fit; None without one."""
    return max(
        (
            min(lapse_date(valid_from), valid_until - timedelta(days=max(case.stay_days - 1, 0)))
            for valid_from, valid_until in case.machtigingen
        ),
        default=None,
    )


def lapsing_soon(last_start: date | None, start: date | None, today: date) -> bool:
    """The last start day is within LAPSING_WITHIN from today and no placement starts on or before it."""
    if last_start is None or not today <= last_start <= today + LAPSING_WITHIN:
        return False
    return start is None or start > last_start


def start_limit(case: Case, today: date) -> date | None:
    """The last day a placement may start, from today on: the end of the last window that the
    machtigingen (lapse or end) and the youth's age allow. A case still waiting for a (new)
    machtiging is bound by its age only. None when no start can be allowed any more."""
    windows = case.start_windows(today, date.max)
    if windows:
        return windows[-1][1]
    if case.needs_machtiging and case.eligible_until >= max(today, case.earliest_start):
        return case.eligible_until
    return None
