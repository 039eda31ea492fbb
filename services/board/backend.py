"""The board's way to the other services: their HTTP APIs, called with the signed-in person's token,
so that each service keeps deciding who may see and do what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx

from shared.service import DEFAULT_PORTS
from shared.settings import ServiceSettings

Service = Literal["intake", "scheduler", "notifier"]
TIMEOUT = httpx.Timeout(10.0, connect=2.0)


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str


class BackendError(Exception):
    """A service refused or failed: its status and problems (RFC 9457 `problems`, or one made up)."""

    def __init__(self, service: str, status: int, problems: list[Problem]) -> None:
        super().__init__(f"{service}: {status}: " + "; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.service, self.status, self.problems = service, status, problems

    def by_field(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for p in self.problems:
            found.setdefault(p.field, []).append(p.reason)
        return found


def _problems(answer: httpx.Response) -> list[Problem]:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("problems"), list):
        return [
            Problem(str(p.get("field", "")), str(p.get("reason", "")))
            for p in body["problems"]
            if isinstance(p, dict)
        ]
    return [Problem("service", answer.reason_phrase or f"HTTP {answer.status_code}")]


class Backend:
    def __init__(self, settings: ServiceSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "") else settings.http_host  # noqa: S104
        self.urls: dict[str, str] = {
            name: (getattr(settings, f"{name}_url") or f"http://{host}:{DEFAULT_PORTS[name]}").rstrip("/")
            for name in ("intake", "scheduler", "notifier")
        }
        self.http = httpx.AsyncClient(timeout=TIMEOUT, transport=transport)

    async def close(self) -> None:
        await self.http.aclose()

    async def call(
        self,
        service: Service,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        try:
            answer = await self.http.request(
                method,
                self.urls[service] + path,
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise BackendError(
                service, 503, [Problem("service", f"{service} not reachable ({exc})")]
            ) from exc
        if answer.status_code >= 400:
            raise BackendError(service, answer.status_code, _problems(answer))
        return answer.json() if answer.content else None

    async def get(self, service: Service, path: str, token: str, **params: Any) -> Any:
        return await self.call(service, "GET", path, token, params={k: v for k, v in params.items() if v})

    async def post(self, service: Service, path: str, token: str, body: Any, **params: Any) -> Any:
        return await self.call(service, "POST", path, token, body=body, params=params or None)
