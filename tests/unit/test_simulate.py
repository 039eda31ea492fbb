"""`thuisbest simulate`: the sample scenario under both policies, the report contract, the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.scenario import load_scenario
from tools.simulate import main, simulate
from tools.validator import validate_report

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "scenarios" / "landsdeel-zuid.json"


@pytest.fixture(scope="module")
def sample() -> dict:
    if not SAMPLE.exists():
        pytest.skip(f"sample scenario {SAMPLE} not found")
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("policy", ["optimized", "fcfs"])
def test_sample_has_no_violations(sample: dict, policy: str) -> None:
    report = simulate(load_scenario(SAMPLE), policy).model_dump(mode="json", by_alias=True)
    result = validate_report(sample, report)
    assert result.violations == []
    assert report["kpis"] == result.kpis
    assert report["policy"] == policy
    assert report["solver"]["runs"] > 0 and report["solver"]["max_seconds"] <= 2.0
    # Every referred case is accounted for exactly once (placement, waiting or rejected referral).
    seen = [s["case"] for s in report["stays"] if s["type"] == "placement"]
    seen += [w["case"] for w in report["waiting"]]
    seen += [r["case"] for r in report["rejected"] if r["event"] == "referral"]
    assert len(seen) == len(set(seen))
    # Notifications, when the notifier engine is there, come sorted.
    keys = [(n["at"], n["case"], n["kind"], n["to"]) for n in report["notifications"]]
    assert keys == sorted(keys)


def test_cli_writes_a_report(tmp_path: Path, sample: dict, capsys: pytest.CaptureFixture[str]) -> None:
    small = dict(sample)
    small["end"] = "2026-02-15"
    scenario = tmp_path / "small.json"
    scenario.write_text(json.dumps(small), encoding="utf-8")
    out = tmp_path / "report.json"
    assert main([str(scenario), "--out", str(out), "--policy", "fcfs"]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["report_version"] == 1 and report["policy"] == "fcfs"
    assert validate_report(small, report).ok
    assert "placed" in capsys.readouterr().out


def test_cli_names_key_and_place_of_a_bad_scenario(
    tmp_path: Path, sample: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = json.loads(json.dumps(sample))
    bad["events"][2]["colour"] = "blue"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    assert main([str(path), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "events[2]" in err and "colour" in err and "unknown key" in err
    assert not (tmp_path / "r.json").exists()


def test_cli_reports_unreadable_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    assert main([str(path), "--out", str(tmp_path / "r.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.json"), "--out", str(tmp_path / "r.json")]) == 2


def test_unknown_policy_is_refused(sample: dict) -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        simulate(load_scenario(SAMPLE), "random")


def test_bench_writes_one_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import bench
    from tools.generator import generate

    monkeypatch.setattr(
        bench, "generate", lambda tier, seed, days, version: generate(tier, seed, days=30, version=version)
    )
    out = tmp_path / "bench.md"
    assert bench.main(["--tiers", "region", "--seed", "3", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "| region | placed |" in text and "| region | violations | 0 | 0 |" in text
    assert bench.main(["--tiers", "nowhere", "--out", str(out)]) == 2


def test_an_operator_rule_added_to_a_copy_of_the_rules_file_is_used(
    tmp_path: Path, sample: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from services.notifier.rules import DEFAULT_RULES

    rules = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    rules["rules"].append(
        {
            "name": "placement_week_before",
            "description": "a week before the placement starts, the trajectbegeleider prepares the group",
            "anchor": "placement.start",
            "offset": {"days": -7},
            "recipients": ["trajectbegeleider"],
            "subject": "Case {case} starts on {start} at {group}",
            "body": "Prepare the group {group} for case {case}.",
        }
    )
    mine = tmp_path / "rules.yaml"
    mine.write_text(yaml.safe_dump(rules), encoding="utf-8")
    small = dict(sample) | {"end": "2026-02-15"}
    scenario = tmp_path / "small.json"
    scenario.write_text(json.dumps(small), encoding="utf-8")
    out = tmp_path / "report.json"
    assert main([str(scenario), "--out", str(out), "--rules", str(mine)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    added = [n for n in report["notifications"] if n["kind"] == "placement_week_before"]
    assert added and all(n["to"].startswith("tb-") for n in added)

    rules["rules"][-1]["recipients"] = ["caretaker"]
    mine.write_text(yaml.safe_dump(rules), encoding="utf-8")
    assert main([str(scenario), "--out", str(out), "--rules", str(mine)]) == 2
    error = capsys.readouterr().err
    assert "placement_week_before" in error and "caretaker" in error


def test_stays_that_end_as_planned_raise_no_stay_exceeded(monkeypatch: pytest.MonkeyPatch) -> None:
    # SCENARIO.md: in a simulation a stay without a counted discharge ends on its planned end, so
    # the notifier must not escalate it. Without telling the engine so, every such stay escalated.
    from collections import Counter

    from tools import simulate as simulate_module
    from tools.generator import generate
    from tools.scenario import load_scenario_dict

    scenario = load_scenario_dict(generate("tight", 1, days=120))
    fixed = Counter(n.kind for n in simulate(scenario, "fcfs").notifications)
    monkeypatch.setattr(simulate_module._DecisionCounts, "ended_as_planned", lambda self, until: [])
    untold = Counter(n.kind for n in simulate(scenario, "fcfs").notifications)
    print({kind: (untold[kind], fixed[kind]) for kind in sorted(untold | fixed)})
    assert untold["stay_exceeded"] > 0
    assert fixed["stay_exceeded"] == 0
    # Nothing else changes: the stays that ended as planned were told nobody anything else.
    assert dict(fixed) == {kind: n for kind, n in untold.items() if kind != "stay_exceeded"}
