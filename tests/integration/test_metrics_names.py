"""Every metric the Grafana dashboard and the alert rules read is one the running services expose,
with the labels they group and match by.

The three services run as processes on the embedded PostgreSQL and the tansu broker (the fixture
of tests/integration/test_trust.py); one referral goes through intake and the scheduler so that
the histograms and labelled series have samples; then every service's /metrics is scraped."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.unit.test_dashboard import (
    SCRAPE_SERIES,
    exposition_types,
    label_names,
    metric_names,
    resolve,
    used_queries,
)
from tools.cli import SERVICES

if TYPE_CHECKING:
    from tests.integration.conftest import StartStack

pytestmark = pytest.mark.integration

# Labels Prometheus adds to every series it scrapes; `le` and `quantile` are the series' own.
TARGET_LABELS = {"job", "instance"}


def scraped_labels(text: str) -> dict[str, set[str]]:
    """Metric family -> the label names its samples carry (a histogram's `le` included)."""
    types = exposition_types(text)
    labels: dict[str, set[str]] = {}
    for name, inside in re.findall(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})? \S+", text, flags=re.MULTILINE):
        family = resolve(name, types) or name
        labels.setdefault(family, set()).update(re.findall(r'(\w+)="', inside))
    return labels


@pytest.fixture(scope="module")
def scraped(start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The /metrics text of each of the three services, after one referral was decided."""
    with start_stack(tmp_path_factory.mktemp("metrics"), "mn") as (services, trust):
        coord = {"authorization": f"Bearer {trust.issuer.token('coord')}"}
        ops = {"authorization": f"Bearer {trust.issuer.token('ops')}"}  # in case /metrics asks for a token
        case = f"mn-{uuid.uuid4().hex[:8]}"
        answer = httpx.post(
            services.url("intake") + "/v1/referrals", json=referral(case), headers=coord, timeout=30
        )
        assert answer.status_code == 201, answer.text
        wait_decided(services.url("intake") + f"/v1/cases/{case}", coord)
        yield [
            httpx.get(services.url(name) + "/metrics", headers=ops, timeout=30).raise_for_status().text
            for name in SERVICES
        ]


def referral(case: str) -> dict[str, Any]:
    return {
        "case": case,
        "kind": "thuisbest_open",
        "birth_date": "2012-05-09",
        "home_region": "ZL",
        "referrer": "ref-ZL",
        "urgency": "normal",
        "earliest_start": (date.today() + timedelta(days=2)).isoformat(),
        "conflicts_with": [],
        "timeout_address": "Kerkstraat 12, Goes (oma)",
        "machtiging": None,
    }


def wait_decided(url: str, headers: dict[str, str], timeout: float = 90.0) -> None:
    """Until the scheduler's decision on the referral has reached intake."""
    deadline = time.monotonic() + timeout
    while (status := httpx.get(url, headers=headers, timeout=30).json().get("status")) == "registered":
        if time.monotonic() > deadline:
            raise AssertionError(f"no decision on the referral within {timeout} s")
        time.sleep(0.2)
    assert status in ("waiting", "planned", "placed"), status


def test_every_metric_of_the_dashboard_and_the_rules_is_exposed(scraped: list[str]) -> None:
    exposed: dict[str, str] = {}
    for text in scraped:
        exposed |= exposition_types(text)
    missing = sorted(
        {
            (name, where)
            for where, expr, _ in used_queries()
            for name in metric_names(expr) - SCRAPE_SERIES
            if resolve(name, exposed) is None
        }
    )
    assert not missing, f"used but in no service's /metrics: {missing}"


def test_the_labels_they_group_and_match_by_are_on_the_series(scraped: list[str]) -> None:
    """For each query whose metrics have samples: every label it groups or matches by, or its
    legend shows, is on some of them (a labelled counter has no sample before its first event)."""
    exposed: dict[str, str] = {}
    labels: dict[str, set[str]] = {}  # only the families that have samples
    for text in scraped:
        exposed |= exposition_types(text)
        for family, names in scraped_labels(text).items():
            labels.setdefault(family, set()).update(names)
    wrong = []
    for where, expr, legend in used_queries():
        families = {resolve(name, exposed) for name in metric_names(expr)} & labels.keys()
        if not families:
            continue
        unknown = label_names(expr, legend) - TARGET_LABELS - set().union(*(labels[f] for f in families))
        if unknown:
            wrong.append((where, expr, sorted(unknown)))
    assert not wrong, f"labels no series of the query has: {wrong}"


def test_the_referral_gave_the_latency_histogram_a_sample(scraped: list[str]) -> None:
    sample = re.compile(r"^thuisbest_referral_decision_seconds_count(?:\{[^}]*\})? (\S+)$", re.MULTILINE)
    counts = [float(value) for text in scraped for value in sample.findall(text)]
    assert sum(counts) >= 1, "time from referral to decision is observed"
