"""`thuisbest capacity`: the sweep's answers agree with single simulations; files, shape and bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tools.capacity import (
    answers_document,
    current_capacity,
    kpi_of,
    main,
    mean_kpis,
    parse_target,
    plan_points,
    replicate,
    run_kpis,
    run_sweep,
    with_capacity,
)
from tools.capacity_report import write_pictures, write_report
from tools.scenario import load_scenario_dict
from tools.simulate import run_simulation, youth_waits

ANSWER_KEYS = {"region", "resource", "now", "needed", "interval", "kpis_at_needed"}


def referral(k: int) -> dict[str, Any]:
    day = 5 + k % 4
    return {
        "at": f"2026-01-{day:02d}T10:00",
        "type": "referral",
        "case": f"c{k}",
        "kind": "thuisbest",
        "birth_date": "2011-03-02",
        "home_region": "WBW",
        "referrer": "ref1",
        "urgency": "normal",
        "earliest_start": "2026-01-09",
        "stay_days": 42,
        "conflicts_with": [],
        "timeout_address": None,
        "machtiging": {"valid_from": "2026-01-09", "valid_until": "2026-07-06"},
    }


def small_scenario() -> dict[str, Any]:
    """8 closed referrals in one week on a region with 4 closed beds: beds bind, staff does not."""
    events = [referral(k) for k in range(8)]
    events.sort(key=lambda ev: ev["at"])
    return {
        "scenario_version": 1,
        "name": "capacity-small",
        "start": "2026-01-05",
        "end": "2026-03-31",
        "settings": {
            "startgesprek_within_working_days": 3,
            "meeting_minutes": 90,
            "working_hours": ["09:00", "17:00"],
            "holidays": [],
            "mst_weeks": 20,
        },
        "regions": [{"code": "WBW", "name": "West-Brabant West"}, {"code": "ZL", "name": "Zeeland"}],
        "travel_minutes": [],
        "locations": [
            {
                "id": "oss",
                "name": "Ossendrecht",
                "region": "WBW",
                "groups": [
                    {"id": "oss-a", "kind": "closed", "beds": 2, "timeout_beds": 0},
                    {"id": "oss-b", "kind": "closed", "beds": 2, "timeout_beds": 0},
                    {"id": "oss-o", "kind": "open", "beds": 2, "timeout_beds": 0},
                ],
            },
            {
                "id": "mid",
                "name": "Middelburg",
                "region": "ZL",
                "groups": [{"id": "mid-o", "kind": "open", "beds": 2, "timeout_beds": 0}],
            },
        ],
        "people": [
            {"id": "sup1", "role": "mst_supervisor", "regions": ["WBW", "ZL"]},
            {"id": "th1", "role": "mst_therapist", "regions": ["WBW"], "max_cases": 6, "supervisor": "sup1"},
            {"id": "th2", "role": "mst_therapist", "regions": ["WBW"], "max_cases": 6, "supervisor": "sup1"},
            {"id": "th3", "role": "mst_therapist", "regions": ["ZL"], "max_cases": 6, "supervisor": "sup1"},
            {"id": "tb1", "role": "trajectbegeleider", "regions": ["WBW"], "max_cases": 8},
            {"id": "tb2", "role": "trajectbegeleider", "regions": ["WBW"], "max_cases": 8},
            {"id": "tb3", "role": "trajectbegeleider", "regions": ["ZL"], "max_cases": 8},
            {"id": "ref1", "role": "referrer", "regions": ["WBW"]},
            {"id": "coord", "role": "coordinator", "regions": ["WBW", "ZL"]},
        ],
        "busy": [{"person": "th2", "from": "2026-01-12T09:00", "until": "2026-01-12T13:00"}],
        "events": events,
    }


@pytest.fixture(scope="module")
def swept() -> Any:
    data = small_scenario()
    target = parse_target("p90_wait_days<=14")
    sweep = run_sweep(
        data,
        target,
        regions=["WBW"],
        resources=["closed_beds"],
        steps={"closed_beds": (-2, 4)},
        replications=2,
        policy="fcfs",
        jobs=1,
        price_per_bed_night=300.0,
        progress=False,
    )
    return data, sweep, answers_document(sweep)


def test_answers_have_the_documented_shape(swept: Any) -> None:
    _, sweep, doc = swept
    assert set(doc) == {"target", "answers", "runs"}
    assert doc["target"] == "p90_wait_days<=14"
    [answer] = doc["answers"]
    assert set(answer) == ANSWER_KEYS
    assert (answer["region"], answer["resource"], answer["now"]) == ("WBW", "closed_beds", 4)
    assert answer["needed"] is not None and 2 <= answer["needed"] <= 8
    low, high = answer["interval"]
    assert low is not None and low <= answer["needed"] and (high is None or answer["needed"] <= high)
    assert answer["kpis_at_needed"]["region_wait"]["WBW/p90_wait_days"] <= 14  # WBW's own youths
    # One baseline run and one per other capacity, each for both replications.
    assert len(doc["runs"]) == 2 * len(sweep.values[("WBW", "closed_beds")])
    for run in doc["runs"]:
        assert set(run) == {"capacity", "replication", "kpis"}
        assert set(run["capacity"]) == {"WBW/closed_beds"} and run["replication"] in (0, 1)
        kpis = run["kpis"]
        assert {"mean_wait_days", "p90_wait_days", "placed", "bed_nights", "occupancy_pct"} <= set(kpis)
        assert 0 <= kpis["occupancy_pct"]["closed"] <= 100
        if kpis["placed"]:
            assert kpis["cost_per_placement"] == pytest.approx(
                kpis["bed_nights"] * 300 / kpis["placed"], 0.01
            )
    json.dumps(doc)


def test_needed_agrees_with_single_simulations(swept: Any) -> None:
    data, sweep, doc = swept
    [answer] = doc["answers"]
    target = sweep.target

    def mean_at(beds: int) -> dict[str, Any]:
        runs = []
        for rep in range(sweep.replications):
            scenario = load_scenario_dict(with_capacity(replicate(data, rep), "WBW", "closed_beds", beds))
            assert current_capacity(scenario.model_dump(by_alias=True), "WBW", "closed_beds") == beds
            report, _ = run_simulation(scenario, "fcfs")
            runs.append(run_kpis(scenario, report, 300.0))
        return mean_kpis(runs)

    needed = answer["needed"]
    at_needed = mean_at(needed)
    assert target.met(kpi_of(at_needed, "WBW", target.kpi))
    assert at_needed == answer["kpis_at_needed"]
    if needed - 1 >= 0 and needed - 1 in sweep.values[("WBW", "closed_beds")]:
        assert not target.met(kpi_of(mean_at(needed - 1), "WBW", target.kpi))
    # More beds never make the mean wait longer here (beds are what binds).
    waits = [mean_kpis(sweep.kpis("WBW", "closed_beds", v))["mean_wait_days"] for v in (2, 8)]
    assert waits[0] > waits[1]


def test_pictures_and_report(swept: Any, tmp_path: Path) -> None:
    _, sweep, doc = swept
    pngs = write_pictures(sweep, doc["answers"], tmp_path)
    assert [p.name for p in pngs] == ["capacity-WBW-closed_beds.png"]
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ET.parse(tmp_path / "capacity-WBW-closed_beds.svg")
    html = write_report(
        sweep, [["a<b", "x"], ["<script>", "y"]], pngs, tmp_path, scenario_name="s&p", policy="fcfs"
    )
    text = html.read_text(encoding="utf-8")
    assert 'src="capacity-WBW-closed_beds.png"' in text
    assert "<script>" not in text and "&lt;script&gt;" in text and "s&amp;p" in text


def test_replications_are_seeded_and_keep_the_number_of_referrals() -> None:
    data = small_scenario()
    assert replicate(data, 0) is data
    one, again, other = replicate(data, 1), replicate(data, 1), replicate(data, 2)
    assert one == again and one != other
    referrals = [ev for ev in one["events"] if ev["type"] == "referral"]
    assert len(referrals) == 8 and len({ev["case"] for ev in referrals}) == 8
    assert [ev["at"] for ev in one["events"]] == sorted(ev["at"] for ev in one["events"])
    load_scenario_dict(one)


def test_staff_is_added_and_removed_in_the_region_only() -> None:
    data = small_scenario()
    assert current_capacity(data, "WBW", "mst_therapists") == 2
    more = with_capacity(data, "WBW", "mst_therapists", 4)
    assert current_capacity(more, "WBW", "mst_therapists") == 4
    assert current_capacity(more, "ZL", "mst_therapists") == 1
    fewer = with_capacity(data, "WBW", "mst_therapists", 1)
    assert current_capacity(fewer, "WBW", "mst_therapists") == 1
    assert all(b["person"] != "th2" for b in fewer["busy"])
    load_scenario_dict(more)
    load_scenario_dict(fewer)
    beds = with_capacity(data, "WBW", "closed_beds", 1)
    assert current_capacity(beds, "WBW", "closed_beds") == 1
    load_scenario_dict(beds)


def test_capacity_below_zero_is_clipped_with_a_note() -> None:
    nows, values, notes = plan_points(small_scenario(), ["WBW"], ["closed_beds"], {"closed_beds": (-9, 1)})
    assert nows[("WBW", "closed_beds")] == 4 and values[("WBW", "closed_beds")] == [0, 1, 2, 3, 4, 5]
    assert any("clipped" in note for note in notes)


def test_cli_writes_table_answers_pictures_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "small.json"
    scenario.write_text(json.dumps(small_scenario()), encoding="utf-8")
    out = tmp_path / "out"
    argv = [str(scenario), "--out", str(out), "--regions", "WBW", "--resources", "closed_beds,mst_therapists"]
    argv += [
        "--beds",
        "-1..+1",
        "--therapists",
        "-1..0",
        "--replications",
        "1",
        "--jobs",
        "1",
        "--no-progress",
    ]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "closed_beds" in stdout and "mst_therapists" in stdout and "needed" in stdout
    doc = json.loads((out / "answers.json").read_text(encoding="utf-8"))
    assert [(a["region"], a["resource"]) for a in doc["answers"]] == [
        ("WBW", "closed_beds"),
        ("WBW", "mst_therapists"),
    ]
    for stem in ("capacity-WBW-closed_beds", "capacity-WBW-mst_therapists"):
        assert (out / f"{stem}.png").stat().st_size > 0
        ET.parse(out / f"{stem}.svg")
    assert "capacity-WBW-mst_therapists.png" in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "option", "reason"),
    [
        (["--regions", "WBW,XX"], "--regions", "unknown region 'XX'"),
        (["--resources", "attic_beds"], "--resources", "unknown resource 'attic_beds'"),
        (["--beds", "3..-1"], "--beds", "runs backwards"),
        (["--therapists", "one"], "--therapists", "not a range"),
        (["--target", "happiness>=3"], "--target", "unknown KPI 'happiness'; known KPIs: mean_wait_days"),
        (["--target", "p90_wait_days=14"], "--target", "not KPI OP NUMBER"),
        (["--replications", "0"], "--replications", "less than 1"),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], option: str, reason: str
) -> None:
    scenario = tmp_path / "small.json"
    scenario.write_text(json.dumps(small_scenario()), encoding="utf-8")
    assert main([str(scenario), "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"thuisbest capacity: {option}: ") and reason in err
    assert "\n" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "small.json"),
        ("{not json", "small.json"),
        (json.dumps({"scenario_version": 1, "name": "x"}), "invalid scenario"),
        (json.dumps(dict(small_scenario(), events=[])), "has no referrals"),
    ],
)
def test_missing_or_invalid_scenario_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, reason: str
) -> None:
    scenario = tmp_path / "small.json"
    if content is not None:
        scenario.write_text(content, encoding="utf-8")
    assert main([str(scenario), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("thuisbest capacity: SCENARIO: ") and reason in err and "\n" not in err


def test_a_youth_still_waiting_counts_with_the_days_waited_so_far() -> None:
    """Fewer beds must not look better because the longest waiters are never placed."""
    scenario = load_scenario_dict(small_scenario())
    referral = next(ev for ev in scenario.events if ev.type == "referral")
    end = referral.at.date() + timedelta(days=30)
    waits = youth_waits(scenario, [], [referral.case], end)
    ready = max(referral.at.date(), referral.earliest_start)
    if referral.machtiging is not None:
        ready = max(ready, referral.machtiging.valid_from)
    assert waits == {referral.case: (referral.home_region, (end - ready).days)}
    # Placed, the wait runs to the placement's start instead.
    start = ready + timedelta(days=3)
    stay = {
        "case": referral.case,
        "type": "placement",
        "group": "g",
        "location": "l",
        "start": start.isoformat(),
        "end": (start + timedelta(days=42)).isoformat(),
    }
    assert youth_waits(scenario, [stay], [], end)[referral.case][1] == 3
