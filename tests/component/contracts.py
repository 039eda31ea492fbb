"""Checks of a running service's published contracts against what it actually does.

OpenAPI: each answer a probe provokes (status, media type, JSON keys) must be documented for its
route, and each route that takes a JSON body documents that body's schema. AsyncAPI: each
subscription and publication names its (prefixed) topic and a non-empty payload schema that
covers exactly the event types of the service's contract in `shared/events.py`.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter

from shared.clock import VirtualClock
from shared.events import TOPIC_DEAD_LETTER, MessageDeadLettered
from shared.settings import ServiceSettings
from tests.component.conftest import AppFactory, Running


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    status: int
    body: Any = None


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref`s (local, `#/a/b/c`) until a schema with content."""
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def models_of(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The titles of the object schemas a (possibly union) schema stands for."""
    schema = resolve(spec, schema)
    variants = schema.get("oneOf") or schema.get("anyOf")
    if variants:
        return set().union(*(models_of(spec, v) for v in variants))
    assert schema.get("properties"), f"an empty payload schema: {schema}"
    return {schema["title"]}


def event_types(contract: Any) -> set[str]:
    """Class names of a schema, or of every member of an (annotated) union of schemas."""
    if isinstance(contract, type) and issubclass(contract, BaseModel):
        return {contract.__name__}
    args = typing.get_args(contract)
    if typing.get_origin(contract) is typing.Annotated:
        return event_types(args[0])
    return set().union(*(event_types(a) for a in args))


def _operation(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    for template, ops in spec["paths"].items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), path) and method in ops:
            return template, ops[method]
    raise AssertionError(f"{method.upper()} {path} is not in /openapi.json")


async def check_openapi(
    svc: Running, probes: list[Probe], bodies: dict[tuple[str, str], Any], known: frozenset[str] = frozenset()
) -> None:
    """Run the probes (each must answer its status) and check each answer is documented as sent.

    `bodies`: (method, route template) -> the request body type of every write route that takes one
    (the other write routes must document no body).
    `known`: descriptions of mismatches already reported as service bugs (not failed on here)."""
    answer = await svc.http.get("/openapi.json")
    assert answer.status_code == 200
    spec = answer.json()

    writes = {
        (method, template): op
        for template, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in ("post", "put", "patch", "delete")
    }
    assert set(bodies) <= set(writes), f"write routes: {sorted(writes)}"
    for key, op in writes.items():
        if key not in bodies:
            assert "requestBody" not in op, f"{key}: a body the test does not know of"
            continue
        documented = op["requestBody"]["content"]["application/json"]["schema"]
        assert op["requestBody"].get("required"), f"{key}: the body is optional?"
        expected = TypeAdapter(bodies[key]).json_schema(mode="validation", by_alias=True)
        resolved = resolve(spec, documented)
        if "oneOf" in expected:
            assert models_of(spec, documented) == {resolve(expected, v)["title"] for v in expected["oneOf"]}
            mapping = resolved.get("discriminator", {}).get("mapping", {})
            assert set(mapping) == set(expected["discriminator"]["mapping"]), resolved
        else:
            assert set(resolved["properties"]) == set(expected["properties"]), (key, resolved)
            assert set(resolved.get("required", [])) == set(expected.get("required", [])), key

    mismatches: list[str] = []
    for probe in probes:
        response = await svc.http.request(probe.method, probe.path, json=probe.body)
        assert response.status_code == probe.status, (probe, response.text)
        template, op = _operation(spec, probe.method, urlsplit(probe.path).path)
        where = f"{probe.method.upper()} {template} {probe.status}"
        documented = op["responses"].get(str(probe.status))
        if documented is None:
            mismatches.append(f"{where}: not documented")
            continue
        media = response.headers.get("content-type", "").split(";")[0]
        content = documented.get("content", {})
        if media not in content:
            mismatches.append(f"{where}: {media} not documented ({sorted(content)})")
            continue
        if media in ("application/json", "application/problem+json") and isinstance(response.json(), dict):
            schema = resolve(spec, content[media].get("schema", {}))
            keys = set(schema.get("properties", {}))
            sent = set(response.json())
            if probe.status >= 400 and keys != sent or not sent <= keys:
                mismatches.append(f"{where}: sends {sorted(sent)}, documents {sorted(keys)}")
    assert set(mismatches) <= known, mismatches


async def check_asyncapi(
    factory: AppFactory, settings: ServiceSettings, receives: dict[str, Any], sends: dict[str, Any]
) -> None:
    """`/asyncapi.json` of a service as built (not started: under TestKafkaBroker the spec would
    also show the test broker's stand-in subscribers of each publisher).

    `receives`/`sends`: unprefixed topic -> the schema (or union) its messages follow. Every service
    also sends dead letters, so that topic is expected without being named."""
    sends = {**sends, TOPIC_DEAD_LETTER: MessageDeadLettered}
    transport = httpx.ASGITransport(app=factory(settings, VirtualClock(datetime(2026, 1, 5))))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/asyncapi.json")
    assert answer.status_code == 200, answer.text
    spec = answer.json()
    found: dict[str, dict[str, set[str]]] = {"receive": {}, "send": {}}
    for op in spec["operations"].values():
        channel = resolve(spec, op["channel"])
        models: set[str] = set()
        for message in op["messages"]:
            payload = resolve(spec, message)["payload"]
            models |= models_of(spec, payload)
        found[op["action"]].setdefault(channel["address"], set()).update(models)
    assert found["receive"] == {settings.topic(t): event_types(c) for t, c in receives.items()}
    assert found["send"] == {settings.topic(t): event_types(c) for t, c in sends.items()}
