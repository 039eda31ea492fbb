"""The Grafana dashboard and the alert rules use only metrics the services declare, and the
dashboard shows what the issue asks of it.

Declared: the prometheus-client metrics created in services/ and shared/ (read from the source),
faststream's broker metrics and Prometheus's own `up`. tests/integration/test_metrics_names.py
checks the same names, and their labels, against what the running services' /metrics return."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, generate_latest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/dashboards/thuisbest.json"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
SCRAPE_SERIES = {"up"}  # written by Prometheus itself for every target it scrapes

# --- reading PromQL ----------------------------------------------------------------------------

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_GRAFANA_VARIABLES = re.compile(r"\$\{?\w+\}?")
# A number or duration (`0.95`, `7d`, `1e3`) is read whole so that its letters are no name.
_TOKEN = re.compile(r"\d[\w.]*|[A-Za-z_:][\w:]*")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS |= {"offset", "bool", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are no function, keyword,
    label or number."""
    text = _GRAFANA_VARIABLES.sub("", _STRING.sub('""', expr))
    text = _LABEL_LISTS.sub("", _RANGES.sub("", _MATCHERS.sub("", text)))  # `sum by (x) (...)`: `sum (...)`
    names = set()
    for token in _TOKEN.finditer(text):
        word = token.group()
        if word[0].isdigit() or word.lower() in _KEYWORDS or text[token.end() :].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def label_names(expr: str, legend: str = "") -> set[str]:
    """The labels an expression groups or matches by, and those its legend shows."""
    text = _STRING.sub('""', expr)
    labels = {name for _, names in _LABEL_LISTS.findall(text) for name in re.findall(r"\w+", names)}
    for matchers in _MATCHERS.findall(text):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
    return labels | set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))


def resolve(name: str, exposed: Mapping[str, str]) -> str | None:
    """The exposed metric a name of an expression reads (`x_bucket` of histogram `x`), if any."""
    if name in exposed:
        return name
    for suffix, kinds in (("_bucket", {"histogram"}), ("_sum", {"histogram", "summary"})):
        base = name.removesuffix(suffix)
        if base != name and exposed.get(base) in kinds:
            return base
    base = name.removesuffix("_count")
    if base != name and exposed.get(base) in {"histogram", "summary"}:
        return base
    return None


# --- what the dashboard and the rules query ----------------------------------------------------


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # the panels of a collapsed row


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(panel title, expression, legend) of every query of the dashboard."""
    board = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"], target.get("legendFormat", ""))
        for panel in _panels(board["panels"])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def used_queries() -> list[tuple[str, str, str]]:
    """(where, expression, legend) of every query of the dashboard and the alert rules."""
    rules = [(f"alert {rule['alert']}", rule["expr"], "") for rule in alert_rules()]
    return [(f"panel {title!r}", expr, legend) for title, expr, legend in dashboard_queries()] + rules


# --- what the services declare -----------------------------------------------------------------

_KINDS = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram", "Summary": "summary"}


def exposition_types(text: str) -> dict[str, str]:
    """Metric name -> type, from the `# TYPE` lines of a Prometheus text exposition (written for a
    metric even before its first labelled sample)."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))


def declared_metrics() -> dict[str, str]:
    """Exposed name -> type of every prometheus-client metric created in services/ and shared/
    with a literal name (a counter's name gets `_total`), and of faststream's broker metrics."""
    declared: dict[str, str] = {}
    for path in sorted([*ROOT.joinpath("services").rglob("*.py"), *ROOT.joinpath("shared").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            first = node.args[0]
            if callee in _KINDS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                kind = _KINDS[callee]
                name = first.value.removesuffix("_total") + "_total" if kind == "counter" else first.value
                declared[name] = kind
    broker = CollectorRegistry()
    KafkaPrometheusMiddleware(registry=broker, app_name="probe")
    return declared | exposition_types(generate_latest(broker).decode())


# --- tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum by (status) (thuisbest_cases)", {"thuisbest_cases"}),
        (
            "histogram_quantile(0.95, sum by (le) (rate(thuisbest_x_seconds_bucket[$__rate_interval])))",
            {"thuisbest_x_seconds_bucket"},
        ),
        ('up{job="thuisbest", instance=~"in.*"} == 0', {"up"}),
        ("a - a offset 7d > 0 and deriv(a[7d]) > 0", {"a"}),
        ("x > 0 unless x offset 15m and on (job, instance) (up offset 15m == 1)", {"x", "up"}),
        ("sum without (instance) (rate(y_total[5m])) / on (job) group_left (le) z", {"y_total", "z"}),
        ("1e3 * count(b) or vector(0)", {"b"}),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_labels_are_read_from_groupings_matchers_and_legends() -> None:
    expr = 'sum by (region, group_kind) (thuisbest_beds{state="free"}) / on (job) x'
    assert label_names(expr, "{{region}} {{ kind }}") == {"region", "group_kind", "state", "job", "kind"}


def test_histograms_and_summaries_are_read_by_their_series() -> None:
    exposed = {"h": "histogram", "s": "summary", "c_total": "counter", "g_count": "gauge"}
    read = ("h_bucket", "h_count", "s_sum", "s_bucket", "c_total", "c", "g_count", "g")
    expected = ["h", "h", "s", None, "c_total", None, "g_count", None]
    assert [resolve(name, exposed) for name in read] == expected


def test_the_dashboard_and_the_rules_use_only_declared_metrics() -> None:
    exposed = declared_metrics() | dict.fromkeys(SCRAPE_SERIES, "gauge")
    unknown = {
        (where, name)
        for where, expr, _ in used_queries()
        for name in metric_names(expr)
        if resolve(name, exposed) is None
    }
    assert not unknown, f"metrics no service declares: {sorted(unknown)}"


def test_the_open_alerts_panel_reads_the_notifiers_gauge() -> None:
    panel = [expr for title, expr, _ in dashboard_queries() if title == "Open unacknowledged alerts"]
    assert panel, "the panel is there"
    assert "thuisbest_notification_open_alerts" in {name for expr in panel for name in metric_names(expr)}


def test_the_dashboard_shows_what_ops_and_coordinators_watch() -> None:
    queries = dashboard_queries()
    used = {name for _, expr, _ in queries for name in metric_names(expr)}
    for name in (
        "thuisbest_cases",
        "thuisbest_beds",
        "thuisbest_waiting_list_length",
        "thuisbest_longest_wait_days",
        "thuisbest_referral_decision_seconds_bucket",
        "thuisbest_notifications_sent_total",
        "thuisbest_notification_open_alerts",
        "thuisbest_notification_escalations_exhausted",
        "thuisbest_outbox_backlog_rows",
        "thuisbest_consumer_lag",
    ):
        assert name in used, f"no panel shows {name}"
    beds = [(expr, legend) for _, expr, legend in queries if "thuisbest_beds" in metric_names(expr)]
    assert any({"region", "group_kind", "state"} <= label_names(*query) for query in beds)
    latency = [expr for _, expr, _ in queries if "thuisbest_referral_decision_seconds_bucket" in expr]
    assert any("histogram_quantile(0.5," in e for e in latency), "p50 of referral to decision"
    assert any("histogram_quantile(0.95," in e for e in latency), "p95 of referral to decision"


def test_panels_have_unique_ids_and_queries_unique_ref_ids() -> None:
    panels = list(_panels(json.loads(DASHBOARD.read_text())["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        refs = [target["refId"] for target in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
