"""Plain-words explanations of decisions, written for a placement coordinator."""

from __future__ import annotations

from datetime import date

from services.scheduler.core.state import Case
from shared.network import NetworkIndex


def where(net: NetworkIndex, case: Case, group: str) -> str:
    info = net.groups[group]
    minutes = net.travel(case.home_region, info.region)
    near = "the home region" if minutes == 0 else f"{minutes} min from home region {case.home_region}"
    return f"{group} ({info.location.name}, {info.region}: {near})"


def why_start(case: Case, start: date) -> str:
    ready = case.ready_day()
    if start <= ready:
        limits = [f"earliest start {case.earliest_start}"]
        if case.needs_machtiging and case.machtigingen:
            limits.append(f"machtiging valid from {min(vf for vf, _ in case.machtigingen)}")
        if case.eligible_from > case.earliest_start:
            limits.append(f"old enough from {case.eligible_from}")
        return "the first day the rules allow (" + ", ".join(limits) + ")"
    days = (start - ready).days
    return f"{days} days after the case was ready on {ready}: no earlier bed with a free therapist"


def placement_text(
    net: NetworkIndex,
    case: Case,
    group: str,
    start: date,
    therapist: str | None,
    begeleider: str,
    home_first: date | None,
    moved: str | None,
    fcfs: bool,
    nights: tuple[str, ...] | None = None,
) -> str:
    """Why this placement; `moved` is why a promised placement had to move (None: a new one)."""
    kind = case.spec.group_kind
    verb = "Moved to" if moved else "Placed on"
    parts = [f"{verb} {where(net, case, group)} from {start}, {why_start(case, start)}."]
    if net.groups[group].region != case.home_region:
        if home_first is None:
            parts.append(f"No {kind} group in the home region can take the case within the planning horizon.")
        elif home_first > start:
            parts.append(f"The home region's {kind} groups have no free bed before {home_first}.")
        else:
            parts.append(
                f"A home-region bed is free from {home_first} but is needed for cases waiting longer "
                "or more urgent; this start is sooner overall."
            )
    if fcfs:
        parts.append("First free bed nearest home at the moment the case became placeable.")
    if moved:
        parts.append(f"The promised placement had to move: {moved}; the startgesprek moves with it.")
    if nights is not None:
        wished = [n for n in case.preferred_nights if n not in nights]
        parts.append(
            f"Nights: {' '.join(nights)}"
            + (f" (the wished {' '.join(wished)} had no bed)." if wished else ".")
        )
    if therapist is not None:
        kept = " (the family's own)" if therapist == case.current_therapist else ""
        if case.current_therapist and therapist != case.current_therapist:
            kept = (
                f" (the family's own {case.current_therapist} has no room or does not serve the home region)"
            )
        parts.append(f"MST therapist {therapist}{kept}, trajectbegeleider {begeleider}.")
    else:
        parts.append(f"Trajectbegeleider {begeleider} (no MST in {case.kind}).")
    return " ".join(parts)


def timeout_text(net: NetworkIndex, case: Case, group: str, start: date, reserved: bool) -> str:
    bed = "a reserved time-out bed" if reserved else "a free bed"
    return f"Time-out on {where(net, case, group)} from {start}, {bed}; same therapist and trajectbegeleider."


ROLE_WORDS = {"mst_therapist": "MST therapist", "trajectbegeleider": "trajectbegeleider"}


def handover_text(net: NetworkIndex, role: str, person: str, successor: str, gone: str, first: date) -> str:
    """Why a running case's therapist or trajectbegeleider changed, in plain words."""
    word = ROLE_WORDS.get(role, role)
    team = net.people[person].supervisor
    same = " (same team)" if team is not None and net.people[successor].supervisor == team else ""
    return (
        f"Handover: {word} {net.person_name(person)} {gone}; {net.person_name(successor)}{same} takes over "
        f"from {first}. Everyone else stays."
    )
