"""Intake's rules for a referral: every problem named by field and reason, in plain words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.errors import Problem
from shared.events import (
    CaseClosed,
    CaseEventT,
    DischargeReported,
    MachtigingGranted,
    MeetingHeld,
    ReferralRegistered,
    ReferralWithdrawn,
    TimeoutRequested,
)
from shared.inputs import (
    CaseEvent,
    CloseEvent,
    DischargeEvent,
    MachtigingEvent,
    MeetingHeldEvent,
    ReferralEvent,
    TimeoutRequestEvent,
    WithdrawEvent,
    passes_elfproef,
)
from shared.kinds import (
    KINDS,
    PLANNING_HORIZON_DAYS,
    age_on,
    eligible_window_clipped,
    kind_spec,
    lapse_date,
    unknown_kind,
)
from shared.network import NetworkIndex

# A referral is for a placement within a year (the planning horizon its published eligible window
# is clipped to); a later start is a typing error.
MAX_LEAD_DAYS = PLANNING_HORIZON_DAYS


def looks_like_bsn(value: str) -> bool:
    """Nine digits passing the elfproef: a case reference must never be a citizen service number."""
    return passes_elfproef(value)


def reference_problems(data: dict[str, Any], net: NetworkIndex) -> list[Problem]:
    """Unknown kind, region or referrer among a referral's (possibly not yet valid) fields.

    Also used on a body that failed validation elsewhere, so that one answer names every problem.
    """
    problems: list[Problem] = []
    kind, region, referrer = data.get("kind"), data.get("home_region"), data.get("referrer")
    if isinstance(kind, str) and kind not in KINDS:
        problems.append(Problem("kind", unknown_kind(kind)))
    if isinstance(region, str) and region not in net.regions:
        problems.append(Problem("home_region", f"unknown region {region!r}"))
    if isinstance(referrer, str):
        person = net.people.get(referrer)
        if person is None or person.role not in ("referrer", "mst_supervisor"):
            problems.append(Problem("referrer", f"unknown referrer {referrer!r}"))
    return problems


def referral_problems(ref: ReferralEvent, net: NetworkIndex) -> list[Problem]:
    """All reasons intake refuses this referral; empty when it is acceptable."""
    problems: list[Problem] = []

    def problem(field: str, reason: str) -> None:
        problems.append(Problem(field, reason))

    if looks_like_bsn(ref.case):
        problem("case", "looks like a BSN (nine digits passing the elfproef); use a reference")
    kind = KINDS.get(ref.kind)
    problems += reference_problems(
        {"kind": ref.kind, "home_region": ref.home_region, "referrer": ref.referrer}, net
    )
    if ref.earliest_start < ref.at.date():
        problem("earliest_start", "before the referral itself")
    elif ref.earliest_start > ref.at.date() + timedelta(days=MAX_LEAD_DAYS):
        problem("earliest_start", f"more than {MAX_LEAD_DAYS} days after the referral")
    if ref.birth_date >= ref.at.date():
        problem("birth_date", "not in the past")
    if ref.case in ref.conflicts_with:
        problem("conflicts_with", "a case cannot conflict with itself")
    if kind is None:
        return problems
    age = age_on(ref.birth_date, ref.earliest_start)
    if not kind.age_fits(age):
        problem("birth_date", f"age {age} is outside {kind.min_age}-{kind.max_age} for {kind.name}")
    stay = kind.stay_or_default(ref.stay_days)
    if not kind.stay_fits(stay):
        problem("stay_days", f"{stay} is outside {kind.min_stay}-{kind.max_stay} days for {kind.name}")
    m = ref.machtiging
    if not kind.needs_machtiging:
        if m is not None:
            problem("machtiging", f"{kind.name} has no court order")
        return problems
    if m is not None:
        first = max(m.valid_from, ref.earliest_start, ref.at.date())
        covered = (m.valid_until + timedelta(1) - first).days
        if first > lapse_date(m.valid_from):
            problem("machtiging", "it lapses (3 months after valid_from) before the earliest start")
        elif covered < stay:
            problem(
                "stay_days",
                f"a stay of {stay} days cannot fit in the machtiging "
                f"({m.valid_from} to {m.valid_until}) from {first}",
            )
    return problems


def to_case_event(ev: CaseEvent, net: NetworkIndex) -> CaseEventT:
    """Translate an accepted scenario/HTTP event into the event intake publishes (no identity: the
    eligible window is clipped to the planning horizon and rounded to whole weeks, see
    `eligible_window_clipped`, so that no birth date can be derived from it)."""
    common = {"case": ev.case, "occurred_at": ev.at}
    match ev:
        case ReferralEvent():
            kind = kind_spec(ev.kind)
            eligible_from, eligible_until = eligible_window_clipped(kind, ev.birth_date, ev.at.date())
            return ReferralRegistered(
                **common,
                kind=ev.kind,
                home_region=ev.home_region,
                referrer=ev.referrer,
                urgency=ev.urgency,
                earliest_start=ev.earliest_start,
                stay_days=kind.stay_or_default(ev.stay_days),
                eligible_from=eligible_from,
                eligible_until=eligible_until,
                conflicts_with=ev.conflicts_with,
                machtiging=ev.machtiging,
                has_timeout_address=bool(ev.timeout_address),
            )
        case MachtigingEvent():
            return MachtigingGranted(**common, valid_from=ev.valid_from, valid_until=ev.valid_until)
        case DischargeEvent():
            return DischargeReported(**common, date=ev.date)
        case TimeoutRequestEvent():
            return TimeoutRequested(**common, days=ev.days)
        case MeetingHeldEvent():
            return MeetingHeld(**common, meeting=ev.meeting)
        case WithdrawEvent():
            return ReferralWithdrawn(**common)
        case CloseEvent():
            return CaseClosed(**common)
    raise TypeError(f"not a case event: {ev!r}")
