"""Schemathesis against each service's /openapi.json on the real stack: no server error, and every
answer's status, media type and body as documented.

The three services run as processes on the embedded PostgreSQL and the tansu broker, signed in
with tokens of the embedded default's own issuer (shared/issuer.py). `pytest -s` prints the figures
per service (operations tested, examples, failures)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shared.issuer import Issuer
from tools.cli import ServiceProcesses

if TYPE_CHECKING:
    from tests.integration.conftest import StartStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
MAX_EXAMPLES = 15  # per operation and phase: keeps the three runs within about a minute
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@dataclass
class Stack:
    services: ServiceProcesses
    issuer: Issuer


@pytest.fixture(scope="module")
def stack(start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("fuzz"), "fz") as (services, trust):
        yield Stack(services, trust.issuer)


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
