"""Limits on every HTTP input and the one refusal format: an oversized, deep or many-keyed body, a
huge id or a long string each get a small 4xx in RFC 9457 problem details, documented in
/openapi.json; and the docs pages load nothing from outside the service."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake.app import create_app as intake_app
from services.notifier.app import create_app as notifier_app
from services.scheduler.app import create_app as scheduler_app
from shared.http import MAX_PROBLEMS, PROBLEM_JSON
from shared.limits import MAX_JSON_DEPTH
from shared.settings import ServiceSettings
from tests.component.conftest import NOW, fields_of, referral, running

SMALL = 4096  # bytes: an answer to a bad request is at most this big
APPS: dict[str, Callable[..., FastAPI]] = {
    "intake": intake_app,
    "scheduler": scheduler_app,
    "notifier": notifier_app,
}


def refused(answer: httpx.Response, status: int) -> set[str]:
    """The fields of a small problem answer with this status."""
    assert answer.status_code == status, answer.text[:500]
    assert len(answer.content) <= SMALL, len(answer.content)
    return fields_of(answer)


async def post_raw(http: httpx.AsyncClient, path: str, content: Any) -> httpx.Response:
    return await http.post(path, content=content, headers={"content-type": "application/json"})


async def test_intake_refuses_oversized_deep_and_wide_bodies_and_keeps_deciding(
    service_settings: ServiceSettings,
) -> None:
    async with running(intake_app, service_settings, NOW) as intake:
        http = intake.http
        # The 9.8 MB referral: 900,000 conflicts, refused on its Content-Length.
        huge = referral(conflicts_with=[f"c-{i}" for i in range(900_000)])
        assert refused(await http.post("/v1/referrals", json=huge), 413) == {"body"}

        # The same without a Content-Length (chunked): counted on the stream.
        data = json.dumps(huge).encode()

        async def chunks() -> AsyncIterator[bytes]:
            for at in range(0, len(data), 16_384):
                yield data[at : at + 16_384]

        assert refused(await post_raw(http, "/v1/referrals", chunks()), 413) == {"body"}

        # A 200 KB nested array, and a small one nested deeper than the parser should recurse.
        assert refused(await post_raw(http, "/v1/referrals", b"[" * 100_000 + b"]" * 100_000), 413)
        deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
        assert refused(await post_raw(http, "/v1/referrals", deep), 422) == {"body"}
        # Brackets inside strings are text, not nesting.
        fine = referral(case="c-text", timeout_address="[[[[[[[[[[[[ {{{{{{{{{{ ,,,,,")
        assert (await http.post("/v1/referrals", json=fine)).status_code == 201

        # 500,000 unknown keys: refused before anything lists them.
        wide = referral() | {f"k{i}": 1 for i in range(500_000)}
        assert refused(await http.post("/v1/referrals", json=wide), 413) == {"body"}
        # Within the limits, many unknown keys: the first MAX_PROBLEMS are listed, with a count.
        some = referral() | {f"k{i}": 1 for i in range(300)}
        answer = await http.post("/v1/referrals", json=some)
        assert len(refused(answer, 422)) == MAX_PROBLEMS
        assert answer.json()["detail"].startswith("300 problems"), answer.json()["detail"]

        # Lists, strings and numbers within their bounds.
        many = referral(conflicts_with=[f"c-{i}" for i in range(21)])
        assert refused(await http.post("/v1/referrals", json=many), 422) == {"conflicts_with"}
        assert refused(await http.post("/v1/referrals", json=referral(kind="k" * 65)), 422) == {"kind"}
        assert refused(await http.post("/v1/referrals", json=referral(stay_days=10**30)), 422) == {
            "stay_days"
        }
        long_address = referral(timeout_address="x" * 501)
        assert refused(await http.post("/v1/referrals", json=long_address), 422) == {"timeout_address"}
        assert refused(await http.get("/v1/cases/" + "c" * 37), 422) == {"case"}

        # Intake keeps deciding: the next referral is taken.
        assert (await http.post("/v1/referrals", json=referral(case="c-after"))).status_code == 201


async def test_a_huge_id_is_a_4xx_never_a_5xx(service_settings: ServiceSettings) -> None:
    async with running(notifier_app, service_settings, NOW, person="ops") as notifier:
        for path in (
            "/v1/dead-letters/18446744073709551616/requeue",
            "/v1/dead-letters/-1/requeue",
            "/v1/notifications/18446744073709551616/ack",
        ):
            answer = await notifier.http.post(path)
            assert answer.status_code in (403, 404, 422), (path, answer.text)
            refused(answer, answer.status_code)
        answer = await notifier.http.post("/v1/dead-letters/" + "9" * 5000 + "/requeue")
        assert refused(answer, 422) == {"dead_id"}


@pytest.mark.parametrize("service", sorted(APPS))
async def test_every_refusal_is_a_problem_document(service: str, service_settings: ServiceSettings) -> None:
    async with running(APPS[service], service_settings, NOW) as svc:
        http = svc.http
        assert refused(await http.get("/no/such/route"), 404) == {"path"}
        answer = await http.delete("/openapi.json")
        assert refused(answer, 405) == {"method"} and "GET" in answer.headers["allow"]
        answer = await http.get("/v1/audit", params={"case": "c-1"}, headers={"authorization": ""})
        refused(answer, 401)
        assert answer.headers["www-authenticate"].startswith("Bearer"), answer.headers
        answer = await http.get("/v1/audit", params={"case": "c-1"}, headers={"authorization": "Bearer x"})
        refused(answer, 401)
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        refused(await http.get("/v1/audit", params={"case": "c-1"}), 403)
        refused(await http.get("/v1/audit", params={"case": "no spaces"}), 422)
        writes = {
            "intake": "/v1/referrals",
            "scheduler": "/v1/capacity",
            "notifier": "/v1/dead-letters/1/requeue",
        }
        answer = await http.post(writes[service], content=b"x=1", headers={"content-type": "text/plain"})
        refused(answer, 415)
        answer = await http.post(writes[service], content=b"{" * 70_000)
        refused(answer, 413)


@pytest.mark.parametrize("service", sorted(APPS))
async def test_openapi_documents_every_refusal_as_problem_json(
    service: str, service_settings: ServiceSettings
) -> None:
    async with running(APPS[service], service_settings, NOW) as svc:
        spec = (await svc.http.get("/openapi.json")).json()
    problem = spec["components"]["schemas"]["ProblemBody"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "problems"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert any(code < "400" for code in responses), where
            for code, answer in responses.items():
                content = answer.get("content", {})
                if code >= "400" and "text/html" not in content:
                    assert set(content) == {PROBLEM_JSON}, (where, code, answer)
                if code < "400":
                    assert "application/problem+json" not in content, (where, code)
            if "requestBody" in operation:
                assert {"413", "415", "422"} <= set(responses), where
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in responses, where
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(metrics) == {"text/plain"}, metrics
    assert "application/json" not in metrics
    audit = spec["paths"]["/v1/audit"]["get"]["responses"]
    assert {"200", "401", "403", "422"} <= set(audit)
    # The bearer scheme is declared, so that Swagger UI offers "Authorize" and sends the token.
    schemes = spec["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "401" in operation["responses"] and path != "/metrics":
                assert operation.get("security") == [{name: []}], f"{method.upper()} {path}"


@pytest.mark.parametrize("service", sorted(APPS))
async def test_the_docs_pages_load_only_from_the_service(
    service: str, service_settings: ServiceSettings
) -> None:
    async with running(APPS[service], service_settings, NOW) as svc:
        for page in ("/docs", "/redoc"):
            answer = await svc.http.get(page)
            assert answer.status_code == 200
            assert "text/html" in answer.headers["content-type"]
            urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", answer.text)
            assert urls, answer.text
            for url in urls:
                assert url.startswith("/") and not url.startswith("//"), (page, url)
                assert (await svc.http.get(url)).status_code == 200, (page, url)
            assert "http://" not in answer.text and "https://" not in answer.text, answer.text
