"""The alert rules of deploy/prometheus/: promtool checks them and the Prometheus configuration
that loads them, and runs their unit tests; every rule says what to do and is tested both ways.

promtool comes with Debian's `prometheus` package (`make test` installs it when missing). Without
it these tests fail under CI and are skipped elsewhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy/prometheus"
ALERTS = RULES_DIR / "alerts.yml"
RULE_TESTS = sorted(RULES_DIR.glob("*_test.yml"))  # alerts_test.yml, alerts_week_test.yml
RUNBOOK = RULES_DIR / "RUNBOOK.md"
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus.yml"
SEVERITIES = {"critical", "warning"}
TEAMS = {"ops", "coordination"}


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    message = "promtool is not installed: `make promtool` (or apt-get install prometheus)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(message)
    pytest.skip(message)


def run(promtool: str, *args: str) -> str:
    done = subprocess.run(
        [promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_promtool_checks_the_rules(promtool: str) -> None:
    output = run(promtool, "check", "rules", str(ALERTS.relative_to(ROOT)))
    assert f"SUCCESS: {len(rules())} rules found" in output


def test_the_rules_pass_their_unit_tests(promtool: str) -> None:
    run(promtool, "test", "rules", *(str(path.relative_to(ROOT)) for path in RULE_TESTS))


def test_promtool_checks_the_configuration_that_loads_the_rules(promtool: str) -> None:
    output = run(promtool, "check", "config", str(PROMETHEUS_CONFIG.relative_to(ROOT)))
    assert "SUCCESS: 1 rule files found" in output


def test_prometheus_loads_the_rules_here_and_in_compose() -> None:
    """rule_files are relative to prometheus.yml: compose mounts the rules at that same path."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert [(PROMETHEUS_CONFIG.parent / path).resolve() for path in config["rule_files"]] == [ALERTS]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = {
        volume.split(":")[0]: volume.split(":")[1] for volume in compose["services"]["prometheus"]["volumes"]
    }
    rules_in_container = Path(mounts["./deploy/prometheus.yml"]).parent / config["rule_files"][0]
    assert mounts["./deploy/prometheus/alerts.yml"] == str(rules_in_container)


def test_the_issue_alerts_are_all_there() -> None:
    metrics = " ".join(rule["expr"] for rule in rules())
    for watched in (
        'up{job="thuisbest"} == 0',
        "thuisbest_outbox_oldest_age_seconds > 300",
        "thuisbest_outbox_poisoned_total",
        "thuisbest_consumer_lag",
        "increase(thuisbest_dead_letters_total[15m]) > 0",
        "thuisbest_notification_dead_letters_total",
        "thuisbest_last_replan_failed == 1",
        "increase(thuisbest_replan_failures_total[10m]) > 0",
        "thuisbest_notification_escalations_exhausted > 0",
        "thuisbest_machtiging_lapsing_unplaced > 0",
        "thuisbest_waiting_list_length offset 7d",
        "deriv(thuisbest_waiting_list_length[7d]) > 0",
    ):
        assert watched in metrics, watched
    scrape_jobs = {job["job_name"] for job in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]}
    assert scrape_jobs == {"thuisbest"}, "the service-down rule names the scrape job"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_rule_says_how_bad_it_is_and_what_to_do() -> None:
    headings = [line.lstrip("#") for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")]
    anchors = {github_anchor(heading) for heading in headings}
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)), "alert names are unique"
    for rule in rules():
        name, labels, notes = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
        assert labels.get("severity") in SEVERITIES, name
        assert labels.get("team") in TEAMS, name
        assert len(notes.get("summary", "")) > 20 and len(notes.get("description", "")) > 80, name
        page, _, anchor = notes["runbook"].partition("#")
        assert (ROOT / page).resolve() == RUNBOOK, name
        assert anchor in anchors, f"{name}: no section #{anchor} in {RUNBOOK.name}"


def test_every_rule_is_unit_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        suite = yaml.safe_load(path.read_text())
        assert suite["rule_files"] == [ALERTS.name], path.name
        for case in suite["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert names - firing == set(), "rules never seen firing"
    assert names - quiet == set(), "rules never seen staying quiet"
    assert (firing | quiet) - names == set(), "tests of rules that do not exist"
