"""The role table (shared/access.py), walked for every action and role of the network."""

from __future__ import annotations

import pytest

from shared.access import POLICY, CaseScope, allowed, may_ever, related
from shared.actor import Actor
from shared.network import REGIONLESS_ROLES, NetworkIndex, Person, load_network
from shared.settings import DEMO_NETWORK

NET = NetworkIndex(load_network(DEMO_NETWORK))
CASE = CaseScope(
    case="c-1",
    home_region="ZL",
    referrer="ref-ZL",
    therapist="th-ZL-0",
    trajectbegeleider="tb-ZL-0",
    therapist_supervisor="sup0",
)


def who(person: str) -> Actor:
    return Actor.of(NET.people[person])


# action -> the people of the demo network allowed it on CASE (everyone else is refused)
EXPECTED = {
    "read_case": {"coord", "sup0", "ref-ZL", "th-ZL-0", "tb-ZL-0"},
    "machtiging": {"coord", "ref-ZL"},
    "withdraw": {"coord", "ref-ZL"},
    "discharge": {"coord", "th-ZL-0", "tb-ZL-0"},
    "timeout_request": {"coord", "th-ZL-0", "tb-ZL-0"},
    "meeting_held": {"coord", "th-ZL-0", "tb-ZL-0"},
    "close": {"coord", "th-ZL-0", "tb-ZL-0"},
    "timeout_address": {"coord", "ref-ZL", "th-ZL-0", "tb-ZL-0"},
    "follow_up": {"coord", "ref-ZL", "tb-ZL-0"},
    "read_timeout_address": {"th-ZL-0", "sup0"},
    "read_plan": {"coord", "sup0"},
    "change_capacity": {"coord"},
    "promise_placement": {"coord"},
    "report_staff_change": {"coord"},
    "refer": {"coord", "sup0", "ref-ZL", "ref-ZL-gi"},
    "read_own_alerts": {p.id for p in NET.network.people if p.role not in ("ops", "privacy_officer")},
    "dead_letters": {"ops"},
    "read_audit": {"privacy"},
    "read_metrics": {"ops"},
}


@pytest.mark.parametrize("action", sorted(POLICY))
def test_each_action_is_allowed_to_exactly_the_people_of_the_table(action: str) -> None:
    granted = {p.id for p in NET.network.people if allowed(who(p.id), action, CASE)}
    assert granted == EXPECTED[action]


def test_a_right_role_without_the_relation_is_a_404_case_not_a_403() -> None:
    # coord-WBO is a coordinator (may read cases) but not of ZL: hidden, not forbidden.
    assert may_ever(who("coord-WBO"), "read_case") and not related(who("coord-WBO"), "read_case", CASE)
    # ops may never read a case: forbidden.
    assert not may_ever(who("ops"), "read_case")


def test_roles_without_regions_have_none_and_people_with_regions_cannot_take_them() -> None:
    assert all(not p.regions for p in NET.network.people if p.role in REGIONLESS_ROLES)
    with pytest.raises(ValueError, match="has no regions"):
        Person(id="x", role="ops", regions=["ZL"])


def test_a_therapist_without_a_supervisor_leaves_the_address_to_the_therapist_alone() -> None:
    unsupervised = CaseScope(case="c-2", home_region="ZL", therapist="th-ZL-0", therapist_supervisor=None)
    assert allowed(who("th-ZL-0"), "read_timeout_address", unsupervised)
    assert not allowed(who("sup0"), "read_timeout_address", unsupervised)


@pytest.mark.parametrize(("action", "person"), [("timeout_address", "ops"), ("follow_up", "th-ZL-0")])
def test_a_role_outside_a_v2_row_is_forbidden(action: str, person: str) -> None:
    assert not may_ever(who(person), action) and not may_ever(who("sup0"), action)


@pytest.mark.parametrize("action", ["timeout_address", "follow_up"])
def test_a_coordinator_of_another_region_may_report_a_v2_event_but_not_for_this_case(action: str) -> None:
    assert may_ever(who("coord-WBO"), action) and not related(who("coord-WBO"), action, CASE)
    assert not allowed(who("ref-ZL-gi"), action, CASE)  # a referrer of the region, not of the case
