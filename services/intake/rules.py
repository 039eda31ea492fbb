"""Intake's rules for a referral: every problem named by field and reason, in plain words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.errors import Problem
from shared.events import (
    CaseClosed,
    CaseEventT,
    DischargeReported,
    FollowUpReported,
    MachtigingGranted,
    MeetingHeld,
    ReferralRegistered,
    ReferralWithdrawn,
    TimeoutAddressNamed,
    TimeoutRequested,
)
from shared.inputs import (
    CaseEvent,
    CloseEvent,
    DischargeEvent,
    FollowUpEvent,
    Machtiging,
    MachtigingEvent,
    MeetingHeldEvent,
    ReferralEvent,
    StaffChangeFields,
    TimeoutAddressEvent,
    TimeoutRequestEvent,
    WithdrawEvent,
    passes_elfproef,
)
from shared.kinds import (
    KINDS,
    PLANNING_HORIZON_DAYS,
    WEEKDAYS,
    KindSpec,
    add_months,
    age_on,
    eligible_window_clipped,
    kind_spec,
    lapse_date,
    unknown_kind,
    unknown_weekdays,
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
    problems += _v2_problems(ref, kind, net)
    stay = referral_stay(ref, kind)
    if not kind.stay_fits(stay):
        shown = stay // 7 if kind.stay_in_weeks else stay
        problem(kind.stay_field, f"{shown} is outside {kind.describe_stay_bounds()} for {kind.name}")
    m = ref.machtiging
    if m is not None and machtiging_too_long(m):
        problem("machtiging.valid_until", machtiging_too_long_reason(m))
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


# Jeugdwet 6.1.12: a machtiging lasts at most one year.
MACHTIGING_MAX_MONTHS = 12


def machtiging_too_long(m: Machtiging) -> bool:
    """Valid on the same date a year after valid_from, or later: longer than one year."""
    return m.valid_until >= add_months(m.valid_from, MACHTIGING_MAX_MONTHS)


def machtiging_too_long_reason(m: Machtiging) -> str:
    last = add_months(m.valid_from, MACHTIGING_MAX_MONTHS) - timedelta(1)
    return (
        f"a machtiging lasts at most one year (Jeugdwet 6.1.12): from {m.valid_from} the last day is {last},"
        f" not {m.valid_until}"
    )


def later_event_problems(ev: CaseEvent) -> list[Problem]:
    """Why intake refuses a later event by its own fields (the case's state is the domain's to judge):
    a machtiging reported later is held to the same year as one that comes with the referral."""
    if isinstance(ev, MachtigingEvent) and machtiging_too_long(ev.machtiging):
        return [Problem("valid_until", machtiging_too_long_reason(ev.machtiging))]
    return []


def referral_stay(ref: ReferralEvent, kind: KindSpec) -> int:
    """The stay in days the referral asks for through its kind's own field, or the kind's default."""
    return kind.stay_or_default(kind.requested_stay(ref.stay_days, ref.program_weeks))


def _v2_problems(ref: ReferralEvent, kind: KindSpec, net: NetworkIndex) -> list[Problem]:
    """PATHWAY-V2 fields: the length field of the kind, the part-time pattern, the current therapist."""
    problems: list[Problem] = []
    other = "stay_days" if kind.stay_in_weeks else "program_weeks"
    if getattr(ref, other) is not None:
        problems.append(Problem(other, f"{kind.name} names its length in {kind.stay_field}, not {other}"))
    bounds = kind.nights_per_week
    if bounds is None:
        for name in ("nights_per_week", "preferred_nights"):
            if getattr(ref, name) is not None:
                problems.append(Problem(name, f"{kind.name} holds its bed every night (no weekly pattern)"))
    else:
        n = ref.nights_per_week
        if n is None:
            problems.append(Problem("nights_per_week", f"required for {kind.name} ({bounds[0]}-{bounds[1]})"))
        elif not bounds[0] <= n <= bounds[1]:
            problems.append(
                Problem("nights_per_week", f"{n} is outside {bounds[0]}-{bounds[1]} for {kind.name}")
            )
        wrong = unknown_weekdays(ref.preferred_nights or [])
        if wrong:
            problems.append(
                Problem(
                    "preferred_nights",
                    f"not weekday names: {', '.join(map(repr, wrong))} (use {' '.join(WEEKDAYS)})",
                )
            )
        elif len(set(ref.preferred_nights or [])) != len(ref.preferred_nights or []):
            problems.append(Problem("preferred_nights", "a night is named twice"))
    th = ref.current_therapist
    if th is not None:
        person = net.people.get(th)
        if person is None or person.role != "mst_therapist":
            problems.append(Problem("current_therapist", f"{th!r} is not an MST therapist of the network"))
        elif not kind.needs_mst_therapist:
            problems.append(Problem("current_therapist", f"{kind.name} has no MST"))
    return problems


def staff_change_problems(change: StaffChangeFields, net: NetworkIndex) -> list[Problem]:
    """Why a staff change is refused: a person the network does not know, or without cases or meetings."""
    reason = net.staff_change_problem(change.person)
    return [] if reason is None else [Problem("person", reason)]


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
                stay_days=referral_stay(ev, kind),
                eligible_from=eligible_from,
                eligible_until=eligible_until,
                conflicts_with=ev.conflicts_with,
                machtiging=ev.machtiging,
                has_timeout_address=bool(ev.timeout_address),
                current_therapist=ev.current_therapist,
                nights_per_week=ev.nights_per_week,
                preferred_nights=ev.preferred_nights or [],
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
            return CaseClosed(**common, reason=ev.reason, with_outcome=ev.outcome is not None)
        case TimeoutAddressEvent():
            return TimeoutAddressNamed(**common)
        case FollowUpEvent():
            return FollowUpReported(**common)
    raise TypeError(f"not a case event: {ev!r}")
