"""Who may see and do what: the role table, in one place for every service.

Each action names the roles that may ever do it and, per role, how the person must be related
to the case (or group). A role that may never do the action is refused with 403; a person of a
right role but without the relation gets 404 for a case, exactly as for a case that does not
exist, so that a case's existence is not revealed. Every refusal is written to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NoReturn

from shared.actor import Actor
from shared.audit import AuditTrail
from shared.errors import Forbidden, NotFound, Refused

# How a person of a role must relate to the case: serve its home region, be its referrer,
# its therapist, its trajectbegeleider, or the supervisor of its therapist; "any": no relation.
Relation = Literal["home_region", "referrer", "therapist", "trajectbegeleider", "therapist_supervisor", "any"]

EVENT_ACTORS: dict[str, Relation] = {"mst_therapist": "therapist", "trajectbegeleider": "trajectbegeleider"}
POLICY: dict[str, dict[str, Relation]] = {
    "refer": {"referrer": "home_region", "coordinator": "home_region", "mst_supervisor": "home_region"},
    "read_case": {
        "coordinator": "home_region",
        "mst_supervisor": "home_region",
        "referrer": "referrer",
        "mst_therapist": "therapist",
        "trajectbegeleider": "trajectbegeleider",
    },
    "machtiging": {"referrer": "referrer", "coordinator": "home_region"},
    "withdraw": {"referrer": "referrer", "coordinator": "home_region"},
    "discharge": EVENT_ACTORS | {"coordinator": "home_region"},
    "timeout_request": EVENT_ACTORS | {"coordinator": "home_region"},
    "meeting_held": EVENT_ACTORS | {"coordinator": "home_region"},
    "close": EVENT_ACTORS | {"coordinator": "home_region"},
    # PATHWAY-V2: the family names its time-out address to whoever reports its time-outs, or to
    # the referrer (before a placement there is no therapist yet).
    "timeout_address": EVENT_ACTORS | {"coordinator": "home_region", "referrer": "referrer"},
    # The follow-up six months after the close: the trajectbegeleider does it (no MST by then).
    "follow_up": {
        "trajectbegeleider": "trajectbegeleider",
        "coordinator": "home_region",
        "referrer": "referrer",
    },
    "read_timeout_address": {"mst_therapist": "therapist", "mst_supervisor": "therapist_supervisor"},
    "read_plan": {"coordinator": "home_region", "mst_supervisor": "home_region"},
    "change_capacity": {"coordinator": "home_region"},  # the group's region
    "promise_placement": {"coordinator": "home_region"},
    # PATHWAY-V2: a coordinator reports a colleague's absence or leaving, for a region the person serves.
    "report_staff_change": {"coordinator": "home_region"},
    # A person's own alerts (those sent to them, or escalated to them): everyone who gets alerts.
    "read_own_alerts": {
        "coordinator": "any",
        "mst_supervisor": "any",
        "mst_therapist": "any",
        "trajectbegeleider": "any",
        "referrer": "any",
    },
    "dead_letters": {"ops": "any"},
    "read_audit": {"privacy_officer": "any"},
    "read_metrics": {"ops": "any"},
}


@dataclass(frozen=True)
class CaseScope:
    """What decides who may see a case: where it is from and who works on it."""

    case: str | None
    home_region: str
    referrer: str | None = None
    therapist: str | None = None
    trajectbegeleider: str | None = None
    therapist_supervisor: str | None = None


def may_ever(actor: Actor, action: str) -> bool:
    return actor.role in POLICY[action]


def related(actor: Actor, action: str, scope: CaseScope) -> bool:
    relation = POLICY[action].get(actor.role)
    match relation:
        case None:
            return False
        case "any":
            return True
        case "home_region":
            return actor.serves(scope.home_region)
        case "referrer":
            return actor.id == scope.referrer
        case "therapist":
            return actor.id == scope.therapist
        case "trajectbegeleider":
            return actor.id == scope.trajectbegeleider
        case "therapist_supervisor":
            return scope.therapist_supervisor is not None and actor.id == scope.therapist_supervisor


def allowed(actor: Actor, action: str, scope: CaseScope) -> bool:
    return may_ever(actor, action) and related(actor, action, scope)


def unknown_case(case: str) -> NotFound:
    return NotFound.one("case", f"unknown case {case!r}")


class Gate:
    """Checks an action against the role table and records refusals in the audit trail."""

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    async def refuse(self, actor: Actor, action: str, case: str | None, error: Refused) -> NoReturn:
        await self.trail.record(actor, action, case, "refused", f"{error.status}: {error}")
        raise error

    async def role(self, actor: Actor, action: str, case: str | None = None) -> None:
        """403 unless the person's role may ever do `action`."""
        if not may_ever(actor, action):
            refusal = Forbidden.one("role", f"a {actor.role or 'person'} may not {_words(action)}")
            await self.refuse(actor, action, case, refusal)

    async def case(self, actor: Actor, action: str, case: str, scope: CaseScope | None) -> CaseScope:
        """403 for a role that may never do `action`; 404 for an unknown case and for a case the
        person is not related to (the same answer); the scope when allowed."""
        await self.role(actor, action, case)
        if scope is None or not related(actor, action, scope):
            await self.refuse(actor, action, case, unknown_case(case))
        return scope

    async def region(self, actor: Actor, action: str, region: str, field: str) -> None:
        """403 unless the person may do `action` for things of `region` (a referral, a group)."""
        await self.role(actor, action)
        if not related(actor, action, CaseScope(case=None, home_region=region)):
            mine = ", ".join(sorted(actor.regions)) or "no region"
            reason = f"a {actor.role} of {mine} may not {_words(action)} in {region}"
            await self.refuse(actor, action, None, Forbidden.one(field, reason))


def _words(action: str) -> str:
    return action.replace("_", " ")
