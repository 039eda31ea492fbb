"""The plan's codes in words a coordinator uses: statuses, kinds, urgencies, why a case waits and
what would help, why a case was handed over. English message ids, translated at render time (i18n.py)."""

from __future__ import annotations

import re
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
GROUP_KIND = {
    "closed": N_("closed"),
    "open": N_("open"),
    "day": N_("day treatment"),
    "part_time": N_("part-time"),
}
# What a placement on a group of each kind takes: a bed, or a day place.
GROUP_PLACE = {
    "closed": N_("closed bed"),
    "open": N_("open bed"),
    "day": N_("day-treatment place"),
    "part_time": N_("part-time bed"),
}
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
    "timeout_address": N_("Time-out address named"),
    "follow_up": N_("Follow-up reported"),
}
# Why a trajectory closed (intake's `close` reason codes).
CLOSE_REASON = {
    "goal_reached": N_("goal reached"),
    "broken_off": N_("broken off"),
    "moved": N_("moved away"),
    "other": N_("another reason"),
}
# A staff change's status (the scheduler's `POST /v1/staff-changes`).
STAFF_STATUS = {"absent": N_("absent (ill, on leave)"), "left": N_("has left")}
# Meeting places that are no location of the network.
PLACE = {"home": N_("at the family's home")}
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
    "kennismaking_invite": N_("Kennismakingsgesprek invitation"),
    "kennismaking_cancelled": N_("Kennismakingsgesprek cancelled"),
    "timeout_address_missing": N_("Time-out address missing"),
    "mst_ending": N_("MST ending: plan the aftercare"),
    "handover": N_("Handover"),
    "follow_up_due": N_("Follow-up due"),
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
    spec = KINDS.get(str(entry.get("kind")))
    place = gettext(GROUP_PLACE.get(spec.group_kind if spec else "closed", GROUP_PLACE["closed"]))
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
        why = gettext("No {place} in reach before {date}").format(place=place, date=day(limit))
        return why, gettext("Free a {place} or ask another region before {date}").format(
            place=place, date=day(limit)
        )
    if code == "no_staff_or_slot":
        if spec is not None and not spec.needs_mst_therapist:
            return gettext(
                "A place is free, but no trajectbegeleider with room or no startgesprek slot yet"
            ), gettext("Ask for a trajectbegeleider with room")
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
        return gettext("No {place} in reach in the coming months").format(place=place), gettext(
            "Announce extra capacity or ask another region for a place"
        )
    return gettext("New: waits for the first plan"), gettext("No step needed: the scheduler plans it shortly")


# The scheduler's reason of a handover (services/scheduler/core: "<person> has left", "<person> is
# absent until <day>"); anything else is shown as it is, in English.
_LEFT = re.compile(r"^(?P<person>\S+) has left$")
_ABSENT = re.compile(r"^(?P<person>\S+) is absent until (?P<until>\d{4}-\d{2}-\d{2})$")


def handover_words(
    reason: str, gettext: Callable[[str], str], day: Callable[[Any], str], person: Callable[[str], str]
) -> str | None:
    """Why a case was handed over, in the page's language; None when the reason is not one of the
    scheduler's known sentences (the page shows it as it is)."""
    found = _LEFT.match(reason or "")
    if found:
        return gettext("{person} has left").format(person=person(found["person"]))
    found = _ABSENT.match(reason or "")
    if found:
        return gettext("{person} is absent until {date}").format(
            person=person(found["person"]), date=day(found["until"])
        )
    return None
