"""Schemathesis against each service's /openapi.json on the real stack: no server error, and every
answer's status, media type and body as documented.

The three services run as processes on the embedded PostgreSQL and the tansu broker, signed in
with tokens of the embedded default's own issuer (tools/issuer.py). `pytest -s` prints the figures
per service (operations tested, examples, failures)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.settings import DEMO_NETWORK
from tools.cli import SERVICES, ServiceProcesses
from tools.embedded import free_port
from tools.issuer import ISSUER, Issuer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
MAX_EXAMPLES = 15  # per operation and phase: keeps the three runs within about a minute
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@dataclass
class Stack:
    services: ServiceProcesses
    issuer: Issuer


@pytest.fixture(scope="module")
def stack(pg_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("fuzz")
    issuer = Issuer.ensure(data / "auth")
    keys = data / "identity.keys"
    keys.write_text(f"k1:{base64.b64encode(os.urandom(32)).decode()}\n")
    prefix = f"fz{uuid.uuid4().hex[:8]}_"
    ports = {name: free_port() for name in SERVICES}
    services = ServiceProcesses(
        pg_dsn,
        kafka_bootstrap,
        DEMO_NETWORK,
        ports,
        data,
        topic_prefix=prefix,
        db_prefix=prefix,
        extra_env={
            "THUISBEST_AUTH_JWKS_FILE": str(issuer.jwks_file),
            "THUISBEST_AUTH_ISSUER": ISSUER,
            "THUISBEST_IDENTITY_KEY_FILE": str(keys),
            "THUISBEST_WEBHOOK_SECRET": uuid.uuid4().hex,
            "THUISBEST_INTAKE_URL": f"http://127.0.0.1:{ports['intake']}",
            "THUISBEST_EMBEDDED": "true",
        },
    )
    services.prepare()
    services.start()
    try:
        services.wait_healthy(90)
        yield Stack(services, issuer)
    finally:
        services.stop()


@dataclass
class Figures:
    operations: int
    examples: int
    failures: int
    output: str


def fuzz(stack: Stack, service: str, person: str, report: Path, *only: str) -> Figures:
    """One schemathesis run against a service as `person`; `only`: a regex of the paths to test."""
    token = stack.issuer.token(person, minutes=30)
    command = [
        str(SCHEMATHESIS),
        "--no-color",
        "run",
        stack.services.url(service) + "/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "9",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "20",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--suppress-health-check",
        "all",
    ]
    for pattern in only:
        command += ["--include-path-regex", pattern]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    return figures_of(report, output, done.returncode)


def figures_of(report: Path, output: str, returncode: int) -> Figures:
    """Operations tested, test cases generated and unique failures, from the run's summary; the
    NDJSON events must agree that no check failed."""
    tested = re.search(r"Tested: (\d+)", output)
    generated = re.search(r"(\d+) generated", output)
    unique = re.search(r"(\d+) unique failures?", output)
    failed_checks = 0
    for line in report.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished") or {}
        for checks in ((finished.get("recorder") or {}).get("checks") or {}).values():
            failed_checks += sum(1 for check in checks if check.get("status") == "FAILURE")
    failures = int(unique.group(1)) if unique else failed_checks
    if returncode != 0 and failures == 0:
        failures = 1  # schemathesis failed for a reason the summary does not count: see its output
    return Figures(
        int(tested.group(1)) if tested else 0, int(generated.group(1)) if generated else 0, failures, output
    )


@pytest.mark.parametrize(
    "service, person, only",
    [
        ("intake", "coord", ()),
        ("scheduler", "coord", ()),
        ("notifier", "coord", ()),
        ("notifier", "ops", ("^/v1/dead-letters",)),
    ],
)
def test_schemathesis_finds_nothing(
    stack: Stack, tmp_path: Path, service: str, person: str, only: tuple[str, ...]
) -> None:
    found = fuzz(stack, service, person, tmp_path / "events.ndjson", *only)
    print(
        f"\nschemathesis {service} as {person}: {found.operations} operations tested,"
        f" {found.examples} examples, {found.failures} failures"
    )
    assert found.operations > 0, found.output[-3000:]
    assert found.failures == 0, found.output[-6000:]
