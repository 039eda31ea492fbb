"""The board in this process on a real PostgreSQL, the other services answered by a fake transport
that records what the board asked, as whom: sign-in links, sessions and their cookie, CSRF, the
language, intake's refusals next to their field, and every call carrying the person's own token."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from services.board.app import create_app
from shared.issuer import SIGNIN_AUDIENCE, Issuer
from shared.settings import ServiceSettings
from tests.component.conftest import NOW, Running, running

pytestmark = pytest.mark.asyncio

NOBODY_WAITING = {"today": "2026-03-02", "entries": []}  # GET /v1/waiting-list with no case
WAITING = {
    "today": "2026-03-02",
    "entries": [
        {
            "case": "c-7",
            "kind": "thuisbest",
            "urgency": "crisis",
            "home_region": "ZL",
            "referrer": "ref-ZL",
            "waiting_since": "2026-02-20",
            "days_waiting": 10,
            "state": "waiting",
            "planned": None,
            "expected_start": None,
            "code": "machtiging_needed",
            "reason": "needs a machtiging",
            "start_limit": "2026-03-20",
            "machtiging": {
                "needed": True,
                "granted": False,
                "last_start_day": "2026-03-09",
                "lapsing_soon": True,
            },
        }
    ],
}


@dataclass
class Fake:
    """The other services: canned answers per (service, method, path), and every request seen."""

    answers: dict[tuple[str, str, str], tuple[int, Any]] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        key = (request.url.host, request.method, request.url.path)
        status, body = self.answers.get(key, (404, {"problems": [{"field": "path", "reason": "not faked"}]}))
        return httpx.Response(status, json=body)

    def people(self) -> set[str]:
        """Whom the board's calls were signed as."""
        found = set()
        for request in self.seen:
            token = request.headers["authorization"].removeprefix("Bearer ")
            found.add(jwt.decode(token, options={"verify_signature": False})["sub"])
        return found


@pytest.fixture
def board_settings(service_settings: ServiceSettings, issuer: Issuer) -> ServiceSettings:
    return service_settings.model_copy(
        update={
            "board_issuer_dir": issuer.folder,
            "intake_url": "http://intake.test",
            "scheduler_url": "http://scheduler.test",
            "notifier_url": "http://notifier.test",
        }
    )


@contextlib.asynccontextmanager
async def board(settings: ServiceSettings, fake: Fake) -> AsyncIterator[Running]:
    factory: Callable[..., Any] = functools.partial(create_app, transport=httpx.MockTransport(fake.handle))
    async with running(factory, settings, NOW) as r:
        r.http.headers.pop("authorization")  # the board has sessions, not bearer tokens
        yield r


def link_token(issuer: Issuer, person: str, **claims: Any) -> str:
    return issuer.token(person, minutes=claims.pop("minutes", 10), audience=SIGNIN_AUDIENCE, **claims)


async def sign_in(r: Running, person: str = "coord") -> None:
    """Sign in with a one-time link (the client keeps the session cookie)."""
    answer = await r.http.post("/aanmelden/link", data={"token": link_token(r.issuer, person)})
    assert answer.status_code == 303, answer.text


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def test_pages_need_a_sign_in_and_a_link_signs_in_once(board_settings: ServiceSettings) -> None:
    fake = Fake({("scheduler.test", "GET", "/v1/waiting-list"): (200, WAITING)})
    async with board(board_settings, fake) as r:
        answer = await r.http.get("/wachtlijst")
        assert answer.status_code == 303 and answer.headers["location"] == "/aanmelden?next=%2Fwachtlijst"
        assert fake.seen == []  # nothing was asked of the services for nobody

        token = link_token(r.issuer, "coord")
        asking = await r.http.get("/aanmelden/link", params={"token": token})
        assert asking.status_code == 200
        assert "Aanmelden als Annemiek Vermeulen (plaatsingscoördinator)?" in asking.text
        # Opening the link did not use it: posting it does, once.
        used = await r.http.post("/aanmelden/link", data={"token": token})
        assert used.status_code == 303 and used.headers["location"] == "/"
        home = await r.http.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/wachtlijst"  # a coordinator's start
        cookie = used.headers["set-cookie"]
        assert "thuisbest_board=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        again = await r.http.post("/aanmelden/link", data={"token": token})
        assert again.status_code == 400 and "niet geldig" in again.text

        page = await r.http.get("/wachtlijst")
        assert page.status_code == 200
        assert "Wachtlijst" in page.text and "Machtiging zo snel mogelijk nodig" in page.text
        assert "De machtiging vervalt: laatste startdag" in page.text  # the lapse warning
        assert "crisis" in page.text and 'href="/casussen/c-7"' in page.text
        assert (
            "Content-Security-Policy" in page.headers
            and "'unsafe-inline'" not in page.headers["content-security-policy"]
        )
        assert fake.people() == {"coord"}  # every call as the signed-in person, nobody else

        rows = await r.db("SELECT person, outcome FROM audit WHERE action = 'sign_in' ORDER BY id")
        assert [(row["person"], row["outcome"]) for row in rows] == [
            ("coord", "allowed"),
            ("(not signed in)", "refused"),  # the link's second use
        ]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"minutes": -1}, id="expired"),
        pytest.param({"audience": "thuisbest-api"}, id="an-api-token-is-no-link"),
        pytest.param({"sub": "nobody"}, id="not-of-the-network"),
    ],
)
async def test_a_bad_link_signs_nobody_in(board_settings: ServiceSettings, bad: dict[str, Any]) -> None:
    async with board(board_settings, Fake()) as r:
        claims = dict(bad)
        person = claims.pop("sub", "coord")
        audience = claims.pop("audience", SIGNIN_AUDIENCE)
        token = r.issuer.token(person, minutes=claims.pop("minutes", 10), audience=audience)
        answer = await r.http.post("/aanmelden/link", data={"token": token})
        assert answer.status_code == 400 and "set-cookie" not in answer.headers
        assert "niet geldig" in answer.text
        assert (await r.http.get("/wachtlijst")).status_code == 303


async def test_forms_need_their_csrf_token_and_intakes_refusals_appear_next_to_the_field(
    board_settings: ServiceSettings,
) -> None:
    refusal = {
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "2 problems",
        "problems": [
            {"field": "birth_date", "reason": "too old for thuisbest on the earliest start"},
            {"field": "machtiging.valid_until", "reason": "2026-01-01 is before valid_from 2026-03-01"},
        ],
    }
    fake = Fake({("intake.test", "POST", "/v1/referrals"): (422, refusal)})
    async with board(board_settings, fake) as r:
        await sign_in(r)
        form_page = await r.http.get("/aanmelding")
        assert form_page.status_code == 200
        for name in ("case", "kind", "birth_date", "home_region", "referrer", "urgency", "earliest_start"):
            assert f'name="{name}"' in form_page.text
        assert 'name="machtiging_valid_from"' in form_page.text
        assert ">Zeeland<" in form_page.text and ">Pieter Bakker<" in form_page.text  # names, not ids
        fields = {
            "case": "c-9",
            "kind": "thuisbest",
            "birth_date": "2000-01-01",
            "home_region": "ZL",
            "referrer": "ref-ZL",
            "urgency": "normal",
            "earliest_start": "2026-03-05",
            "machtiging_valid_from": "2026-03-01",
            "machtiging_valid_until": "2026-01-01",
        }
        forged = await r.http.post("/aanmelding", data=fields)
        assert forged.status_code == 403
        assert not [q for q in fake.seen if q.method == "POST"]  # nothing reached intake

        answer = await r.http.post("/aanmelding", data=fields | {"csrf": csrf_of(form_page.text)})
        assert answer.status_code == 422
        birth = answer.text[: answer.text.index('id="birth_date"')]
        field_start = [m.start() for m in re.finditer(r'<div class="utrecht-form-field[ "]', birth)][-1]
        assert "too old for thuisbest" in birth[field_start:]  # inside the field's own box
        assert re.search(r'id="birth_date"[^>]*aria-invalid="true"', answer.text)
        assert re.search(r'id="machtiging_valid_until"[^>]*aria-invalid="true"', answer.text)
        assert 'value="c-9"' in answer.text  # nothing typed is lost
        sent = [q for q in fake.seen if q.method == "POST"][0]
        assert b'"machtiging":{"valid_from":"2026-03-01","valid_until":"2026-01-01"}' in sent.content


async def test_a_registered_referral_opens_its_case_page(board_settings: ServiceSettings) -> None:
    case = {
        "case": "c-9",
        "status": "planned",
        "stay": {
            "group": "L01-g1",
            "location": "L01",
            "start": "2026-03-09",
            "end": "2026-04-20",
            "mst_therapist": "th-ZL-0",
            "trajectbegeleider": "tb-ZL-0",
        },
        "meetings": [
            {
                "meeting": "startgesprek",
                "start": "2026-03-10T10:00",
                "end": "2026-03-10T11:30",
                "place": "L01",
                "attendees": ["th-ZL-0", "tb-ZL-0", "ref-ZL"],
            }
        ],
        "waiting_reason": None,
        "expected_start": None,
        "kind": "thuisbest",
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "urgency": "normal",
        "received_at": "2026-03-02T10:00",
        "timeouts": [],
        "refusals": [],
        "history": [],
        "actions": ["discharge", "close"],
    }
    fake = Fake(
        {
            ("intake.test", "POST", "/v1/referrals"): (201, {"case": "c-9", "status": "registered"}),
            ("intake.test", "GET", "/v1/cases/c-9"): (200, case),
            ("scheduler.test", "GET", "/v1/cases/c-9/explanation"): (
                200,
                {"case": "c-9", "explanation": "x"},
            ),
            ("notifier.test", "GET", "/v1/notifications"): (200, []),
        }
    )
    async with board(board_settings, fake) as r:
        await sign_in(r)
        csrf = csrf_of((await r.http.get("/aanmelding")).text)
        fields = {"case": "c-9", "kind": "thuisbest", "birth_date": "2012-05-01", "home_region": "ZL"}
        fields |= {"referrer": "ref-ZL", "urgency": "normal", "earliest_start": "2026-03-05", "csrf": csrf}
        answer = await r.http.post("/aanmelding", data=fields)
        assert answer.status_code == 303 and answer.headers["location"] == "/casussen/c-9"
        page = (await r.http.get("/casussen/c-9")).text
        assert "Het Veer (Ossendrecht)" in page and "Sanne Jansen" in page and "Mila Dekker" in page
        assert "maandag 9 maart 2026" in page and "10:00 tot 11:30" in page
        assert "L01-g1" not in page and "th-ZL-0" not in page  # names, not ids
        assert "Ontslag gemeld" in page and "Casus afsluiten" in page  # the forms the person may post
        assert "Machtiging afgegeven" not in page  # ... and not the others
        assert 'sse-connect="/live?casus=c-9&amp;sinds=' in page


async def test_the_language_is_the_persons_choice(board_settings: ServiceSettings) -> None:
    fake = Fake({("scheduler.test", "GET", "/v1/waiting-list"): (200, NOBODY_WAITING)})
    async with board(board_settings, fake) as r:
        await sign_in(r)
        page = await r.http.get("/wachtlijst")
        assert '<html lang="nl">' in page.text and "Niemand wacht." in page.text
        switched = await r.http.post(
            "/taal", data={"language": "en", "back": "/wachtlijst", "csrf": csrf_of(page.text)}
        )
        assert switched.status_code == 303 and switched.headers["location"] == "/wachtlijst"
        english = await r.http.get("/wachtlijst")
        assert '<html lang="en">' in english.text and "Nobody is waiting." in english.text
        elsewhere = await r.http.post("/taal", data={"language": "en", "back": "https://evil.example/"})
        assert elsewhere.status_code == 403  # a session's language changes with its CSRF token only


async def test_signing_out_ends_the_session(board_settings: ServiceSettings) -> None:
    fake = Fake({("scheduler.test", "GET", "/v1/waiting-list"): (200, NOBODY_WAITING)})
    async with board(board_settings, fake) as r:
        await sign_in(r)
        page = await r.http.get("/wachtlijst")
        cookie = r.http.cookies.get("thuisbest_board")
        out = await r.http.post("/afmelden", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/aanmelden?gedaan=signed_out"
        r.http.cookies.set("thuisbest_board", cookie or "")  # the old cookie, kept: no longer a session
        assert (await r.http.get("/wachtlijst")).status_code == 303
        assert await r.db("SELECT 1 FROM board_sessions") == []


async def test_a_case_out_of_scope_is_not_found_and_a_coordinator_only_page_is_forbidden(
    board_settings: ServiceSettings,
) -> None:
    not_found = {"problems": [{"field": "case", "reason": "unknown case 'c-8'"}]}
    fake = Fake(
        {
            ("intake.test", "GET", "/v1/cases/c-8"): (404, not_found),
            ("scheduler.test", "POST", "/v1/capacity"): (
                403,
                {"problems": [{"field": "role", "reason": "a mst_supervisor may not change capacity"}]},
            ),
        }
    )
    async with board(board_settings, fake) as r:
        await sign_in(r, "sup0")
        answer = await r.http.get("/casussen/c-8")
        assert answer.status_code == 404 and "Niet gevonden" in answer.text
        assert (await r.http.get("/casussen/..%2F..%2Fetc")).status_code == 404  # not a case id: not asked
        assert all(q.url.path != "/v1/cases/../../etc" for q in fake.seen)
        nav = (await r.http.get("/aanmelding")).text
        assert ">Capaciteit<" not in nav  # a supervisor is not offered the coordinators' page
        csrf = csrf_of(nav)
        change = {"group": "L00-g1", "beds": "2", "from": "2026-03-05", "until": "2026-03-09", "csrf": csrf}
        refused = await r.http.post("/capaciteit", data=change)
        assert refused.status_code == 403 and "may not change capacity" in refused.text


async def test_people_are_offered_the_pages_of_their_work_only(board_settings: ServiceSettings) -> None:
    fake = Fake({("notifier.test", "GET", "/v1/alerts/mine"): (200, [])})
    async with board(board_settings, fake) as r:
        await sign_in(r, "th-ZL-0")  # a therapist: no plan, no referrals, their alerts
        home = await r.http.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/meldingen"
        page = (await r.http.get("/meldingen")).text
        assert "Geen openstaande meldingen." in page
        nav = page[page.index('<nav class="board-nav"') : page.index("</nav>")]
        assert ">Meldingen<" in nav
        for other in (">Bedden<", ">Wachtlijst<", ">Nieuwe aanmelding<", ">Capaciteit<"):
            assert other not in nav


EXPECTED = {
    "today": "2026-03-02",
    "entries": [
        WAITING["entries"][0]  # type: ignore[index]
        | {
            "case": "c-8",
            "urgency": "normal",
            "code": "expected",
            "expected_start": "2026-04-01",
            "planned": {
                "group": "goes-a",
                "location": "goes",
                "start": "2026-04-01",
                "mst_therapist": "th-ZL-0",
                "trajectbegeleider": "tb-ZL-0",
            },
            "machtiging": {
                "needed": True,
                "granted": True,
                "last_start_day": "2026-05-01",
                "lapsing_soon": False,
            },
        }
    ],
}


async def test_a_coordinator_promises_an_expected_placement_from_the_waiting_list(
    board_settings: ServiceSettings,
) -> None:
    promised = {"case": "c-8", "group": "goes-a", "start": "2026-04-01", "mst_therapist": "th-ZL-0"}
    fake = Fake(
        {
            ("scheduler.test", "GET", "/v1/waiting-list"): (200, EXPECTED),
            ("scheduler.test", "POST", "/v1/cases/c-8/promise"): (
                202,
                promised | {"trajectbegeleider": "tb-ZL-0"},
            ),
        }
    )
    async with board(board_settings, fake) as r:
        await sign_in(r, "sup0")  # a supervisor reads the list but may not promise
        page = await r.http.get("/wachtlijst")
        assert "Verwachte start wo 1 apr, nog niet toegezegd" in page.text and "Nu toezeggen" not in page.text
    async with board(board_settings, fake) as r:
        await sign_in(r)
        page = await r.http.get("/wachtlijst")
        assert "Nu toezeggen" in page.text and 'action="/wachtlijst/c-8/toezeggen"' in page.text
        stale = await r.http.post("/wachtlijst/c-8/toezeggen", data={"csrf": "old"})
        assert stale.status_code == 403
        done = await r.http.post("/wachtlijst/c-8/toezeggen", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 303 and done.headers["location"] == "/wachtlijst?gedaan=promise"
        assert [q.url.path for q in fake.seen if q.method == "POST"] == ["/v1/cases/c-8/promise"]
        shown = await r.http.get(done.headers["location"])
        assert "Toegezegd: de plaatsing wordt zo aan alle betrokkenen bekendgemaakt." in shown.text
        missing = await r.http.post("/wachtlijst/c-9/toezeggen", data={"csrf": csrf_of(page.text)})
        assert missing.status_code == 404  # the scheduler's answer (not faked: 404) reaches the person
