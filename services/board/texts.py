"""The plan's codes in words a coordinator uses: statuses, kinds, urgencies, why a case waits and
what would help. English message ids, translated at render time (i18n.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.board.i18n import N_
from shared.kinds import KINDS

STATUS = {
    "registered": N_("registered"),
    "waiting": N_("waiting"),
    "planned": N_("planned"),
    "placed": N_("placed"),
    "home": N_("at home (MST)"),
    "timeout": N_("time-out"),
    "closed": N_("case closed"),
    "withdrawn": N_("withdrawn"),
}
URGENCY = {"normal": N_("normal"), "urgent": N_("urgent"), "crisis": N_("crisis")}
URGENCY_RANK = {"crisis": 0, "urgent": 1, "normal": 2}
GROUP_KIND = {"closed": N_("closed"), "open": N_("open")}
ROLE = {
    "coordinator": N_("placement coordinator"),
    "mst_supervisor": N_("MST supervisor"),
    "mst_therapist": N_("MST therapist"),
    "trajectbegeleider": N_("trajectbegeleider"),
    "referrer": N_("referrer"),
    "ops": N_("operations"),
    "privacy_officer": N_("privacy officer"),
}
EVENT = {
    "referral": N_("Referral registered"),
    "machtiging": N_("Machtiging granted"),
    "discharge": N_("Discharge reported"),
    "timeout_request": N_("Time-out requested"),
    "meeting_held": N_("Meeting held"),
    "withdraw": N_("Referral withdrawn"),
    "close": N_("Case closed"),
}
MEETING = {"startgesprek": N_("startgesprek"), "kennismaking": N_("kennismakingsgesprek")}
NOTIFICATION = {
    "referral_received": N_("New referral"),
    "placement_assigned": N_("Placement"),
    "waitlisted": N_("On the waiting list"),
    "startgesprek_invite": N_("Startgesprek invitation"),
    "startgesprek_cancelled": N_("Startgesprek cancelled"),
    "meeting_reminder": N_("Meeting reminder"),
    "startgesprek_unconfirmed": N_("Startgesprek not confirmed"),
    "return_home_review": N_("Return home review"),
    "stay_exceeded": N_("Stay longer than planned"),
    "machtiging_expiring": N_("Machtiging expiring"),
    "machtiging_lapsing": N_("Machtiging lapsing unplaced"),
    "timeout_assigned": N_("Time-out assigned"),
    "timeout_informal_network": N_("Time-out in the informal network"),
    "timeout_refused": N_("Time-out refused"),
}
NOTIFICATION_STATUS = {
    "pending": N_("to be sent"),
    "sent": N_("sent"),
    "acked": N_("acknowledged"),
    "failed": N_("failed"),
    "dead": N_("not delivered"),
    "cancelled": N_("cancelled"),
}
STAY = {"stay": N_("stay under way"), "planned": N_("planned placement"), "timeout": N_("time-out")}


def waiting_words(
    entry: dict[str, Any], gettext: Callable[[str], str], day: Callable[[Any], str]
) -> tuple[str, str]:
    """Why a case of the waiting list waits, and the next step that would help, in plain words."""
    code = entry.get("code")
    kind = gettext(GROUP_KIND.get(_group_kind(entry), "closed"))
    limit = entry.get("start_limit")
    expected = entry.get("expected_start")
    planned = entry.get("planned") or {}
    if code == "planned":
        why = gettext("Planned: starts {start}").format(start=day(planned.get("start") or expected))
        return why, gettext("Prepare the startgesprek; nothing else is needed now")
    if code == "expected":
        why = gettext("Expected to start {start}, not promised yet").format(
            start=day(planned.get("start") or expected)
        )
        return why, gettext("Promised a week before the start; confirm it to promise it sooner")
    if code == "machtiging_needed":
        why = gettext("Waits for a machtiging: a closed stay needs one")
        wanted = entry.get("waiting_since")  # the first day it could start, were there a machtiging
        if wanted and not entry.get("days_waiting"):
            return why, gettext("Machtiging needed before {date}").format(date=day(wanted))
        return why, gettext("Machtiging needed as soon as possible: ask the referrer for the court order")
    if code == "not_yet_allowed":
        why = gettext("May not start before {date}").format(date=day(expected)) if expected else ""
        return why or gettext("May not start yet"), gettext("Nothing to do before then")
    if code == "no_bed_in_time":
        why = gettext("No {kind} bed in reach before {date}").format(kind=kind, date=day(limit))
        return why, gettext("Free a {kind} bed or ask another region before {date}").format(
            kind=kind, date=day(limit)
        )
    if code == "no_staff_or_slot":
        return gettext("A bed is free, but no MST therapist with room or no startgesprek slot yet"), gettext(
            "Ask the MST supervisor for a therapist with room"
        )
    if code == "machtiging_lapsed":
        return gettext("The machtiging no longer allows a start"), gettext(
            "A new machtiging is needed: ask the referrer"
        )
    if code == "too_old":
        return gettext("Too old for this form of care before a start is possible"), gettext(
            "Look for another form of care with the referrer"
        )
    if code == "no_bed":
        return gettext("No {kind} bed in reach in the coming months").format(kind=kind), gettext(
            "Announce extra capacity or ask another region for a bed"
        )
    return gettext("New: waits for the first plan"), gettext("No step needed: the scheduler plans it shortly")


def _group_kind(entry: dict[str, Any]) -> str:
    spec = KINDS.get(str(entry.get("kind")))
    return spec.group_kind if spec is not None else "closed"
