"""The plan a person sees: the cases of their regions only, whatever part of the plan they are in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.scheduler.views import MeetingView, PlanView, RejectedView, StayView, WaitingView, visible_plan
from shared.access import CaseScope, related
from shared.actor import Actor

REGIONS = ("ZL", "WBW", "WBO")


def plan_of(home: dict[str, str]) -> PlanView:
    """Every case in every part of the plan, plus a rejection of a case nobody knows."""
    cases = sorted(home)
    return PlanView(
        stays=[
            StayView(
                case=c,
                type="placement",
                group="L00-g0",  # a group of WBO: the stay is the case's, wherever it is
                location="L00",
                start="2026-03-05",
                end="2026-04-16",
                mst_therapist=None,
                trajectbegeleider=None,
            )
            for c in cases
        ],
        meetings=[
            MeetingView(case=c, meeting="startgesprek", start="s", end="e", place="L00", attendees=[])
            for c in cases
        ],
        waiting=[WaitingView(case=c, reason="no bed") for c in cases],
        rejected=[RejectedView(case=c, event="referral", at="a", reason="r") for c in [*cases, "c-nobody"]],
    )


def cases_in(plan: PlanView) -> set[str]:
    parts = (plan.stays, plan.meetings, plan.waiting, plan.rejected)
    return {row.case for part in parts for row in part}


homes = st.dictionaries(
    st.from_regex(r"c-[a-z0-9]{1,6}", fullmatch=True), st.sampled_from(REGIONS), max_size=12
)


@given(homes, st.sets(st.sampled_from(REGIONS)))
def test_a_person_sees_the_cases_of_their_regions_and_nothing_else(
    home: dict[str, str], mine: set[str]
) -> None:
    plan = plan_of(home)
    shown = visible_plan(plan, home, mine)
    assert cases_in(shown) == {c for c, region in home.items() if region in mine}
    for part in ("stays", "meetings", "waiting", "rejected"):
        assert getattr(shown, part) == [row for row in getattr(plan, part) if home.get(row.case) in mine]


def test_all_regions_see_the_whole_plan_but_an_unknown_case() -> None:
    home = {"c-1": "ZL", "c-2": "WBO"}
    plan = plan_of(home)
    shown = visible_plan(plan, home, set(REGIONS))
    assert shown.stays == plan.stays and cases_in(shown) == {"c-1", "c-2"}


def test_the_role_table_decides_which_regions_a_person_reads_the_plan_of() -> None:
    def regions(actor: Actor) -> set[str]:
        return {r for r in REGIONS if related(actor, "read_plan", CaseScope(case=None, home_region=r))}

    assert regions(Actor("coord-WBO", "coordinator", frozenset({"WBO"}))) == {"WBO"}
    assert regions(Actor("sup0", "mst_supervisor", frozenset(REGIONS))) == set(REGIONS)
    assert regions(Actor("ref-ZL", "referrer", frozenset({"ZL"}))) == set()
    assert regions(Actor("th-ZL-0", "mst_therapist", frozenset({"ZL"}))) == set()
