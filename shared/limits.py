"""Limits on what a request may send: the body's size counted on the stream, and a JSON body's
nesting and number of values checked before anything parses it."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import Problem
from shared.http import problem_response

# Our bodies nest three levels at most (a referral's machtiging); JSON parsers and pydantic recurse,
# so a deep body must be refused before either sees it.
MAX_JSON_DEPTH = 8
# Values (objects, arrays, scalars) in one body: our largest body has a few dozen; each value may
# become one line of a refusal, so many of them make a large answer out of a small request.
MAX_JSON_VALUES = 1000
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_shape_problem(body: bytes) -> tuple[int, Problem] | None:
    """Why a JSON body is too deep (422) or has too many values (413), or None. Malformed JSON is
    left to the parser, which names the place."""
    bare = _STRING.sub(b'""', body)  # brackets and commas inside strings do not count
    depth = deepest = 0
    containers = 0
    for bracket in _BRACKETS.finditer(bare):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            containers += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return 422, Problem("body", f"nested deeper than {MAX_JSON_DEPTH} levels")
        else:
            depth -= 1
    values = containers + bare.count(b",") + 1
    if values > MAX_JSON_VALUES:
        return 413, Problem("body", f"more than {MAX_JSON_VALUES} values")
    return None


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class BodyLimits:
    """ASGI middleware: reads a request's body up to `max_bytes` (a Content-Length above it is
    refused unread, a chunked body as soon as it passes it), checks a JSON body's shape, then hands
    the body on to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        too_large = Problem("body", f"larger than {self.max_bytes} bytes")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(headers.get("content-type", "")):
            try:
                body.decode()
            except UnicodeDecodeError:  # JSON is UTF-8 (RFC 8259); FastAPI would answer a bare 400
                await self._refuse(scope, receive, send, 422, Problem("body", "not valid JSON: not UTF-8"))
                return
            shape = json_shape_problem(body)
            if shape is not None:
                await self._refuse(scope, receive, send, *shape)
                return
        request: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([request], receive), send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, problem: Problem) -> None:
        answer = problem_response([problem], status)
        answer.headers["Connection"] = "close"  # the rest of an unread body is not waited for
        await answer(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives `messages` first, then whatever the server sends next."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class JsonWritesOnly:
    """ASGI middleware: a write with a body (or a content type) must be JSON, else 415.

    A web page cannot make a browser send application/json cross-site without CORS, so refusing
    every other body type stops cross-site writes (a form's text/plain post). Paths matching one
    of `form_paths` (a page's own confirmation form) are let through."""

    def __init__(self, app: ASGIApp, form_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.forms = [re.compile(pattern) for pattern in form_paths]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            if not any(form.fullmatch(scope["path"]) for form in self.forms):
                headers = Headers(scope=scope)
                kind = headers.get("content-type", "").split(";")[0].strip().lower()
                has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
                if (kind or has_body) and not _is_json(kind):
                    reason = f"must be application/json, not {kind or 'missing'}"
                    answer = problem_response([Problem("content-type", reason)], 415)
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)
