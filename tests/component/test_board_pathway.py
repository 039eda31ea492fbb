"""The board and PATHWAY-V2: the bed board's part-time night patterns and day places, the case page's
kind, nights, kennismakingsgesprek and handovers, the new later-event forms, and the coordinators'
staff-change form; the other services answered by the fake transport of test_board.py.

The bed board's data are made by the scheduler's own `group_beds`, so the page is tested against
what the scheduler really answers."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import pytest

from services.scheduler.board import BedStay, group_beds
from services.scheduler.views import BedsView
from shared import access
from shared.kinds import KINDS, kind_for_group_kind
from shared.network import Group, GroupInfo, Location
from shared.settings import ServiceSettings
from tests.component.test_board import Fake, board, board_settings, csrf_of, sign_in  # noqa: F401

pytestmark = pytest.mark.asyncio

MONDAY = date(2026, 3, 2)  # the board's (virtual) today, a Monday
PART_TIME = next(spec for spec in KINDS.values() if spec.part_time)
DAY = kind_for_group_kind("day")


def d(n: int) -> date:
    return MONDAY + timedelta(n)


def info(group: str, kind: str, size: int) -> GroupInfo:
    sizes = {"places": size} if kind == "day" else {"beds": size}
    g = Group(id=group, kind=kind, **sizes)  # type: ignore[arg-type]
    return GroupInfo(g, Location(id="L02", name="Goes", region="ZL", groups=[g]))


def beds_answer() -> dict[str, Any]:
    """`GET /v1/beds` as the scheduler makes it: a part-time group of 2 beds and a day group of 3
    places, for two weeks from Monday 2 March 2026."""
    part_time = [
        BedStay("c-a", True, d(-14), d(60), ("mon", "tue", "wed")),
        BedStay("c-b", True, d(-7), d(60), ("thu", "fri")),  # of another region: the bed only
        BedStay("c-c", True, d(2), d(60), ("sat", "mon")),  # planned: from Wednesday 4 March
    ]
    day = [BedStay("c-g", True, d(-3), d(80)), BedStay("c-h", True, d(1), d(80))]
    rows = [
        group_beds(
            info("pt-ZL", "part_time", 2), {}, part_time, MONDAY, 14, MONDAY, lambda c: c != "c-b", []
        ),
        group_beds(info("dt-ZL", "day", 3), {}, day, MONDAY, 14, MONDAY, lambda c: True, []),
    ]
    view = BedsView(today=MONDAY, from_=MONDAY, days=14, groups=rows)
    answer: dict[str, Any] = json.loads(view.model_dump_json(by_alias=True))
    return answer


def group_block(page: str, group: str) -> str:
    blocks = page.split('<details class="board-group"')[1:]
    [found] = [b for b in blocks if f'id="g-{group}"' in b]
    return found


def cell(page: str, group: str, day: date) -> str:
    """The bed board's cell of a group and day (its HTML)."""
    block = group_block(page, group)
    start = block.index(f'data-date="{day.isoformat()}"')
    return block[start : block.index("</td>", start)]


def linked(html: str) -> list[str]:
    return re.findall(r'href="/casussen/([^"]+)"', html)


def field_box(page: str, field_id: str) -> str:
    """The form field's own box, up to its control."""
    before = page[: page.index(f'id="{field_id}"')]
    return before[[m.start() for m in re.finditer(r'<div class="utrecht-form-field[ "]', before)][-1] :]


async def test_the_bed_board_shows_part_time_nights_and_day_places(board_settings: ServiceSettings) -> None:  # noqa: F811
    fake = Fake({("scheduler.test", "GET", "/v1/beds"): (200, beds_answer())})
    async with board(board_settings, fake) as r:
        await sign_in(r)
        page = (await r.http.get("/bedden")).text

        # Part-time: per night only the youths whose pattern holds that weekday, each with its pattern.
        assert linked(cell(page, "pt-ZL", d(0))) == ["c-a"]  # Monday 2 March: c-c starts on the 4th
        assert "ma di wo" in cell(page, "pt-ZL", d(0)) and "1 jongere deze nacht" in cell(page, "pt-ZL", d(0))
        assert linked(cell(page, "pt-ZL", d(2))) == ["c-a"]  # Wednesday: c-c holds no Wednesday
        thursday = cell(page, "pt-ZL", d(3))
        assert linked(thursday) == [] and "bezet" in thursday and "do vr" in thursday  # c-b: not revealed
        assert linked(cell(page, "pt-ZL", d(5))) == ["c-c"] and "ma za" in cell(page, "pt-ZL", d(5))
        assert "2 vrij" in cell(page, "pt-ZL", d(6)) and "<li" not in cell(page, "pt-ZL", d(6))  # Sunday
        monday = cell(page, "pt-ZL", d(7))  # both Monday youths, sharing the group's two beds
        assert linked(monday) == ["c-a", "c-c"] and "2 jongeren deze nacht" in monday and "0 vrij" in monday
        facts = group_block(page, "pt-ZL")
        assert "deeltijd · 2 bedden" in facts and "Vrije bedden en wie er slaapt per nacht" in facts

        # Day treatment: places on working days; weekends empty and not counted as full.
        day_block = group_block(page, "dt-ZL")
        assert (
            "dagbehandeling · 3 plekken" in day_block and "Vrije plekken en jongeren per werkdag" in day_block
        )
        assert "bedden" not in day_block.split("<table")[0]  # places, not beds
        assert linked(cell(page, "dt-ZL", d(0))) == ["c-g"] and "2 vrij" in cell(page, "dt-ZL", d(0))
        assert linked(cell(page, "dt-ZL", d(1))) == ["c-g", "c-h"] and "1 vrij" in cell(page, "dt-ZL", d(1))
        for weekend in (d(5), d(6), d(12), d(13)):
            shown = cell(page, "dt-ZL", weekend)
            assert "geen dagbehandeling" in shown and linked(shown) == [] and "vrij" not in shown
        assert "minste vrij in deze weken: 1" in day_block  # the weekends' 0 places do not count
        assert "de nachten van een deeltijdverblijf" in page  # the legend


CASE = "c-31"


def case_view(**extra: Any) -> dict[str, Any]:
    """Intake's `GET /v1/cases/c-31`: a part-time youth, placed, without MST."""
    return {
        "case": CASE,
        "status": "placed",
        "stay": {
            "group": "L02-g1",
            "location": "L02",
            "start": "2026-03-09",
            "end": "2026-12-07",
            "mst_therapist": None,
            "trajectbegeleider": "tb-ZL-2",
        },
        "meetings": [
            {
                "meeting": "startgesprek",
                "start": "2026-03-10T10:00",
                "end": "2026-03-10T11:30",
                "place": "L02",
                "attendees": ["tb-ZL-0", "ref-ZL"],
            }
        ],
        "waiting_reason": None,
        "expected_start": None,
        "kind": PART_TIME.name,
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "urgency": "normal",
        "received_at": "2026-03-02T10:00",
        "timeouts": [],
        "refusals": [],
        "history": [
            {
                "event": "referral",
                "at": "2026-03-02T10:00",
                "recorded_at": "2026-03-02T10:00:01",
                "details": {"program_weeks": 39, "nights_per_week": 3},
            }
        ],
        "actions": ["timeout_address", "close", "follow_up"],
    } | extra


PLAN = {
    "stays": [
        {
            "case": CASE,
            "type": "placement",
            "group": "L02-g1",
            "location": "L02",
            "start": "2026-03-09",
            "end": "2026-12-07",
            "mst_therapist": None,
            "trajectbegeleider": "tb-ZL-2",
            "kind": PART_TIME.name,
            "nights": ["wed", "mon", "tue"],
        },
        {
            "case": "c-99",
            "type": "placement",
            "group": "L02-g2",
            "location": "L02",
            "start": "2026-03-09",
            "end": "2026-04-20",
            "mst_therapist": "th-ZL-2",
            "trajectbegeleider": "tb-ZL-2",
            "kind": DAY.name,
            "nights": ["fri", "sat"],
        },
    ],
    "meetings": [
        {
            "case": CASE,
            "meeting": "startgesprek",
            "start": "2026-03-10T10:00",
            "end": "2026-03-10T11:30",
            "place": "L02",
            "attendees": ["tb-ZL-0", "ref-ZL"],
        },
        {
            "case": CASE,
            "meeting": "kennismaking",
            "start": "2026-03-04T13:00",
            "end": "2026-03-04T14:30",
            "place": "home",
            "attendees": ["tb-ZL-0", "ref-ZL"],
        },
        {
            "case": "c-99",
            "meeting": "kennismaking",
            "start": "2026-03-05T09:00",
            "end": "2026-03-05T10:30",
            "place": "home",
            "attendees": ["sup0", "tb-ZL-2", "ref-ZL-gi"],
        },
    ],
    "waiting": [],
    "rejected": [],
    "handovers": [
        {
            "case": CASE,
            "at": "2026-05-11T09:00",
            "role": "trajectbegeleider",
            "previous": "tb-ZL-1",
            "successor": "tb-ZL-2",
            "reason": "tb-ZL-1 is absent until 2026-06-15",
        },
        {
            "case": CASE,
            "at": "2026-04-01T09:00",
            "role": "trajectbegeleider",
            "previous": "tb-ZL-0",
            "successor": "tb-ZL-1",
            "reason": "tb-ZL-0 has left",
        },
        {
            "case": "c-99",
            "at": "2026-04-01T09:00",
            "role": "mst_therapist",
            "previous": "th-ZL-0",
            "successor": "th-ZL-2",
            "reason": "th-ZL-0 has left",
        },
    ],
}


def case_fake(**extra: Any) -> Fake:
    return Fake(
        {
            ("intake.test", "GET", f"/v1/cases/{CASE}"): (200, case_view(**extra)),
            ("scheduler.test", "GET", f"/v1/cases/{CASE}/explanation"): (
                200,
                {"case": CASE, "explanation": "x"},
            ),
            ("scheduler.test", "GET", "/v1/plan"): (200, PLAN),
            ("notifier.test", "GET", "/v1/notifications"): (200, []),
        }
    )


async def test_the_case_page_shows_the_kind_nights_kennismaking_and_handovers(
    board_settings: ServiceSettings,  # noqa: F811
) -> None:
    fake = case_fake()
    async with board(board_settings, fake) as r:
        await sign_in(r)
        page = (await r.http.get(f"/casussen/{CASE}")).text
        assert "Beter met Thuis (deeltijdverblijf)" in page  # the kind by its title
        assert '<dd id="nights">3 nachten per week: ma di wo</dd>' in page
        plan = page[page.index('id="plan"') : page.index("</dl>", page.index('id="plan"'))]
        assert "MST-therapeut" not in plan and "Sara Brouwer" in plan  # no MST: no therapist row
        assert "Geen MST in deze zorgvorm" in page

        # The kennismakingsgesprek (at home, who comes) before the startgesprek, each by name.
        kennismaking = page.index(">Kennismakingsgesprek</h3>")
        startgesprek = page.index(">Startgesprek</h3>")
        assert kennismaking < startgesprek
        about = page[kennismaking:startgesprek]
        assert "woensdag 4 maart 2026, 13:00 tot 14:30, bij het gezin thuis." in about
        assert "Mila Dekker (trajectbegeleider), Pieter Bakker (verwijzer)" in about
        assert "10:00 tot 11:30, in Goes." in page[startgesprek:]

        # The handovers: who took over from whom, when and why, oldest first.
        table = page[page.index('id="handovers"') : page.index("</table>", page.index('id="handovers"'))]
        rows = table.split("<tr")[2:]
        assert len(rows) == 2
        assert (
            "Mila Dekker" in rows[0]
            and "Thijs van Leeuwen" in rows[0]
            and "Mila Dekker is uit dienst" in rows[0]
        )
        assert "Thijs van Leeuwen is afwezig tot ma 15 jun" in rows[1] and "Sara Brouwer" in rows[1]
        assert "Overdrachten: wie van wie overnam, en waarom" in page

        # Nothing of another case of the plan, and people by name.
        assert "c-99" not in page and "Marloes de Vries" not in page and "Ingrid Mulder" not in page
        assert not re.search(r"\b(tb|th|ref)-ZL-\d", page.split("<form")[0])
        assert "39 weken" in page and "3 nachten per week" in page  # the referral's details

        # The plan is asked for this case (a scheduler that filters by case answers it alone).
        [asked] = [q for q in fake.seen if q.url.path == "/v1/plan"]
        assert asked.url.params["case"] == CASE

        # The new later-event forms, in Dutch.
        assert ">Time-outadres doorgegeven</h3>" in page and ">Follow-up gemeld</h3>" in page
        assert "Waarom het traject eindigt" in page and "Woont de jongere thuis?" in page
        assert "Gaat de jongere naar school, werk of een andere dagbesteding?" in page
        assert ">doel bereikt</option>" in page and ">Niet bekend</option>" in page
        assert "Is de jongere teruggevallen sinds de casus is afgesloten?" in page
        assert "Time-outadres opslaan" in page and "Follow-up melden" in page


async def test_a_referrer_sees_intakes_meetings_and_the_plan_is_not_asked(
    board_settings: ServiceSettings,  # noqa: F811
) -> None:
    fake = case_fake()
    async with board(board_settings, fake) as r:
        await sign_in(r, "ref-ZL")
        page = (await r.http.get(f"/casussen/{CASE}")).text
        assert ">Startgesprek</h3>" in page and "Kennismakingsgesprek</h3>" not in page
        assert all(q.url.path != "/v1/plan" for q in fake.seen)  # a referrer reads no plans


async def test_a_close_sends_its_reason_and_outcome_and_intakes_refusal_shows_at_its_field(
    board_settings: ServiceSettings,  # noqa: F811
) -> None:
    fake = case_fake()
    events = ("intake.test", "POST", f"/v1/cases/{CASE}/events")
    fake.answers[events] = (202, {"case": CASE, "status": "accepted"})
    async with board(board_settings, fake) as r:
        await sign_in(r)
        csrf = csrf_of((await r.http.get(f"/casussen/{CASE}")).text)
        close = {
            "type": "close",
            "reason": "goal_reached",
            "outcome.at_home": "yes",
            "outcome.day_activity": "no",
        }
        done = await r.http.post(f"/casussen/{CASE}/gebeurtenis", data=close | {"csrf": csrf})
        assert done.status_code == 303 and done.headers["location"] == f"/casussen/{CASE}?gedaan=event"
        sent = json.loads([q for q in fake.seen if q.method == "POST"][-1].content)
        assert sent == {
            "type": "close",
            "reason": "goal_reached",
            "outcome": {"at_home": True, "day_activity": False},
        }

        bare = await r.http.post(
            f"/casussen/{CASE}/gebeurtenis", data={"type": "close", "reason": "", "csrf": csrf}
        )
        assert bare.status_code == 303
        assert json.loads([q for q in fake.seen if q.method == "POST"][-1].content) == {"type": "close"}

        refusal = {"problems": [{"field": "outcome.day_activity", "reason": "Field required"}]}
        fake.answers[events] = (422, refusal)
        half = {"type": "close", "outcome.at_home": "no", "csrf": csrf}
        answer = await r.http.post(f"/casussen/{CASE}/gebeurtenis", data=half)
        assert answer.status_code == 422
        page = answer.text
        assert re.search(r'id="close-outcome.day_activity"[^>]*aria-invalid="true"', page)
        assert "Field required" in field_box(page, "close-outcome.day_activity")  # next to its field
        assert (
            'href="#close-outcome.day_activity">Gaat de jongere naar school' in page
        )  # the summary links it
        assert re.search(r'<option value="no" selected>nee</option>', page)  # the answer typed is kept

        address = {"type": "timeout_address", "address": "Bij oma", "csrf": csrf}
        fake.answers[events] = (202, {"case": CASE, "status": "accepted"})
        assert (await r.http.post(f"/casussen/{CASE}/gebeurtenis", data=address)).status_code == 303
        assert json.loads([q for q in fake.seen if q.method == "POST"][-1].content) == {
            "type": "timeout_address",
            "address": "Bij oma",
        }


STAFF_ROW = {"coordinator": "home_region"}


@pytest.fixture
def staff_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The role table's row of `report_staff_change` (coordinators), if it is not there yet."""
    if "report_staff_change" not in access.POLICY:
        monkeypatch.setitem(access.POLICY, "report_staff_change", STAFF_ROW)  # type: ignore[arg-type]


async def test_a_coordinator_reports_a_staff_change_and_sees_the_handovers(
    board_settings: ServiceSettings,  # noqa: F811
    staff_policy: None,
) -> None:
    accepted = {
        "person": "th-ZL-0",
        "handed_over": {"c-5": "th-ZL-1", "c-4": "th-ZL-2"},
        "meetings_planned_again": 1,
    }
    fake = Fake({("scheduler.test", "POST", "/v1/staff-changes"): (202, accepted)})
    async with board(board_settings, fake) as r:
        await sign_in(r)
        form = (await r.http.get("/personeel")).text
        nav = form[form.index('<nav class="board-nav"') : form.index("</nav>")]
        assert ">Personeel<" in nav
        assert (
            ">Sanne Jansen (MST-therapeut)</option>" in form
            and ">Mila Dekker (trajectbegeleider)</option>" in form
        )
        assert ">Marloes de Vries (MST-supervisor)</option>" in form
        assert "Pieter Bakker" not in form and "Annemiek Vermeulen (" not in form  # staff only
        assert 'value="2026-03-02"' in form  # from today, by default

        fields = {"person": "th-ZL-0", "status": "absent", "from": "2026-03-09", "until": "2026-04-01"}
        forged = await r.http.post("/personeel", data=fields)
        assert forged.status_code == 403 and not [q for q in fake.seen if q.method == "POST"]

        answer = await r.http.post("/personeel", data=fields | {"csrf": csrf_of(form)})
        assert answer.status_code == 200
        sent = [q for q in fake.seen if q.method == "POST"]
        assert [q.url.path for q in sent] == ["/v1/staff-changes"] and json.loads(sent[0].content) == fields
        page = answer.text
        assert "Personeelswijziging vastgelegd" in page
        assert (
            "Sanne Jansen: afwezig (ziek, met verlof) van maandag 9 maart 2026 tot woensdag 1 april 2026."
            in page
        )
        result = page[page.index('id="result"') :]
        assert linked(result) == ["c-4", "c-5"] and "Fatima El Idrissi" in result and "Daan Visser" in result
        assert "1 gesprek opnieuw gepland." in result

        left = {
            "person": "tb-ZL-0",
            "status": "left",
            "from": "2026-03-09",
            "until": "",
            "csrf": csrf_of(form),
        }
        fake.answers[("scheduler.test", "POST", "/v1/staff-changes")] = (
            202,
            {"person": "tb-ZL-0", "handed_over": {}, "meetings_planned_again": 0},
        )
        page = (await r.http.post("/personeel", data=left)).text
        assert json.loads([q for q in fake.seen if q.method == "POST"][-1].content) == {
            "person": "tb-ZL-0",
            "status": "left",
            "from": "2026-03-09",
        }
        assert "Mila Dekker: uit dienst vanaf maandag 9 maart 2026." in page
        assert "Geen lopende casus had een andere therapeut of trajectbegeleider nodig." in page


async def test_a_refused_staff_change_is_shown_at_its_field(
    board_settings: ServiceSettings,  # noqa: F811
    staff_policy: None,
) -> None:
    until = {"problems": [{"field": "until", "reason": "must be after from"}], "status": 422}
    fake = Fake({("scheduler.test", "POST", "/v1/staff-changes"): (422, until)})
    async with board(board_settings, fake) as r:
        await sign_in(r)
        csrf = csrf_of((await r.http.get("/personeel")).text)
        fields = {"person": "th-ZL-0", "status": "absent", "from": "2026-03-09", "until": "2026-03-01"}
        answer = await r.http.post("/personeel", data=fields | {"csrf": csrf})
        assert answer.status_code == 422
        page = answer.text
        assert "De personeelswijziging is niet vastgelegd: zie hieronder." in page
        assert 'href="#until">Terug op</a>: <span lang="en">must be after from</span>' in page
        assert re.search(r'id="until"[^>]*aria-invalid="true"', page)
        assert "must be after from" in field_box(page, "until")
        assert 'value="2026-03-01"' in page and '<option value="th-ZL-0" selected>' in page  # nothing lost
        assert 'id="result"' not in page

    mine_only = "a coordinator of WBO may not report a staff change of th-ZL-0"
    fake = Fake(
        {
            ("scheduler.test", "POST", "/v1/staff-changes"): (
                403,
                {"problems": [{"field": "person", "reason": mine_only}]},
            )
        }
    )
    async with board(board_settings, fake) as r:
        await sign_in(r, "coord-WBO")
        form = (await r.http.get("/personeel")).text
        assert "Sanne Jansen" not in form and "Bram Hendriks (MST-therapeut)" in form  # staff of WBO only
        answer = await r.http.post("/personeel", data=fields | {"until": "", "csrf": csrf_of(form)})
        assert answer.status_code == 403
        assert re.search(r'id="person"[^>]*aria-invalid="true"', answer.text) and mine_only in answer.text


async def test_the_staff_change_page_is_offered_to_coordinators_only(
    board_settings: ServiceSettings,  # noqa: F811
    staff_policy: None,
) -> None:
    fake = Fake(
        {("scheduler.test", "GET", "/v1/waiting-list"): (200, {"today": "2026-03-02", "entries": []})}
    )
    async with board(board_settings, fake) as r:
        await sign_in(r, "sup0")
        page = (await r.http.get("/wachtlijst")).text
        assert ">Personeel<" not in page[page.index('<nav class="board-nav"') : page.index("</nav>")]


def waiting_entry(case: str, kind: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "case": case,
        "kind": kind,
        "urgency": "normal",
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "referred_at": "2026-02-20T10:00",
        "earliest_start": "2026-02-20",
        "waiting_since": "2026-02-20",
        "days_waiting": 10,
        "state": "waiting",
        "planned": None,
        "expected_start": None,
        "code": code,
        "reason": "r",
        "start_limit": None,
        "machtiging": {"needed": False, "granted": False, "last_start_day": None, "lapsing_soon": False},
    } | extra


async def test_the_waiting_list_and_a_capacity_preview_take_the_new_kinds(
    board_settings: ServiceSettings,  # noqa: F811
) -> None:
    planned = {"group": "L02-g1", "location": "L02", "start": "2026-03-16", "mst_therapist": None}
    entries = [
        waiting_entry(
            "c-41",
            PART_TIME.name,
            "planned",
            state="planned",
            expected_start="2026-03-16",
            planned=planned | {"trajectbegeleider": "tb-ZL-0"},
        ),
        waiting_entry("c-42", DAY.name, "no_bed"),
    ]
    brief = {"group": "L02-g1", "start": "2026-03-16", "end": "2026-12-14", "mst_therapist": None}
    brief |= {"trajectbegeleider": "tb-ZL-0", "nights": ["mon", "tue"]}
    dry_run = {
        "group": "L02-g1",
        "beds": 0,
        "from": "2026-03-02",
        "until": "2026-03-30",
        "affected": [
            {"case": "c-41", "change": "moved", "before": brief, "after": brief | {"group": "L02-g2"}}
        ],
        "others": 0,
        "replan_pending": False,
    }
    fake = Fake(
        {
            ("scheduler.test", "GET", "/v1/waiting-list"): (200, {"today": "2026-03-02", "entries": entries}),
            ("scheduler.test", "POST", "/v1/capacity"): (200, dry_run),
        }
    )
    async with board(board_settings, fake) as r:
        await sign_in(r)
        page = (await r.http.get("/wachtlijst")).text
        assert "Beter met Thuis (deeltijdverblijf)" in page and "Gezinsbehandeling Plus" in page
        assert "Geen dagbehandelingsplek in bereik in de komende maanden" in page
        preview = await r.http.post(
            "/capaciteit",
            data={
                "group": "L02-g1",
                "beds": "0",
                "from": "2026-03-02",
                "until": "2026-03-30",
                "csrf": csrf_of(page),
            },
        )
        assert preview.status_code == 200 and linked(preview.text) == ["c-41"]
