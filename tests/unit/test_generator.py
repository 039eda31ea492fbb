"""Tests of the seeded scenario generator (tools.generator)."""

from __future__ import annotations

import collections
import json
import re
import time
from datetime import date, datetime, timedelta

import pytest

from tools.generator import TIERS, closed_bed_demand, generate, main

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CASE_EVENTS = {"referral", "machtiging", "discharge", "timeout_request", "meeting_held", "withdraw", "close"}
AGE = {"thuisbest": (12, 17), "thuisbest_open": (10, 19)}
DEFAULT_STAY = {"thuisbest": 56, "thuisbest_open": 42}


@pytest.fixture(scope="module")
def scenarios() -> dict[str, dict]:
    return {tier: generate(tier, 1) for tier in TIERS}


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _referrals(s: dict) -> list[dict]:
    return [e for e in s["events"] if e["type"] == "referral"]


def _groups(s: dict) -> list[dict]:
    return [g for loc in s["locations"] for g in loc["groups"]]


def _invalid(ref: dict) -> str:
    """Why intake refuses this referral ('' when it is acceptable)."""
    lo, hi = AGE[ref["kind"]]
    age = _age(date.fromisoformat(ref["birth_date"]), date.fromisoformat(ref["earliest_start"]))
    if not lo <= age <= hi:
        return "age"
    m = ref["machtiging"]
    if ref["kind"] == "thuisbest" and m is not None:
        length = (date.fromisoformat(m["valid_until"]) - date.fromisoformat(m["valid_from"])).days
        if ref.get("stay_days", DEFAULT_STAY["thuisbest"]) > length:
            return "stay"
    return ""


# --- determinism ---------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_same_seed_same_scenario_other_seed_other_scenario(tier: str) -> None:
    a = generate(tier, 7)
    assert a == generate(tier, 7)
    assert json.dumps(a) == json.dumps(generate(tier, 7))  # key order too
    b = generate(tier, 8)
    assert a != b
    assert a["events"] != b["events"]
    assert a["name"] == f"{tier}-s7"


def test_unknown_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tier"):
        generate("galaxy", 1)


def test_start_and_days_can_be_chosen() -> None:
    s = generate("region", 3, start="2027-03-01", days=30)
    assert s["start"] == "2027-03-01"
    assert s["end"] == "2027-03-31"
    assert 8 <= len(_referrals(s)) <= 20
    assert all("2027-03-01T00:00" <= e["at"] < "2027-03-31T00:00" for e in s["events"])
    assert "2027-04-27" in s["settings"]["holidays"]  # King's Day of the scenario's year


# --- shape and counts per tier -------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_top_level_shape(scenarios: dict[str, dict], tier: str) -> None:
    s = scenarios[tier]
    assert list(s) == [
        "scenario_version",
        "name",
        "start",
        "end",
        "settings",
        "regions",
        "travel_minutes",
        "locations",
        "people",
        "busy",
        "events",
    ]
    assert s["scenario_version"] == 1
    assert s["settings"]["startgesprek_within_working_days"] == 3
    assert s["settings"]["meeting_minutes"] == 90
    assert s["settings"]["working_hours"] == ["09:00", "17:00"]
    assert s["settings"]["mst_weeks"] == 20
    assert len(s["settings"]["holidays"]) >= 5
    assert all(DATE_RE.match(h) for h in s["settings"]["holidays"])
    assert DATE_RE.match(s["start"]) and DATE_RE.match(s["end"])
    assert not any(e["type"] == "meeting_held" for e in s["events"])
    json.dumps(s)  # plain JSON types only


def test_region_tier_matches_the_sample_network(scenarios: dict[str, dict]) -> None:
    s = scenarios["region"]
    assert (_day(s["end"]) - _day(s["start"])).days == 180
    assert [r["code"] for r in s["regions"]] == ["ZL", "WBW", "WBO"]
    assert sorted(map(tuple, s["travel_minutes"])) == sorted(
        [("ZL", "WBW", 50), ("ZL", "WBO", 83), ("WBW", "WBO", 47)]
    )
    assert len(s["locations"]) == 3
    groups = _groups(s)
    assert len(groups) == 9 and all(g["beds"] == 4 for g in groups)
    kinds = collections.Counter(g["kind"] for g in groups)
    assert kinds["closed"] >= 3 and kinds["open"] >= 3
    timeout = [g for g in groups if g["timeout_beds"]]
    assert len(timeout) == 1 and timeout[0]["kind"] == "closed" and timeout[0]["timeout_beds"] == 1
    roles = collections.Counter(p["role"] for p in s["people"])
    assert roles == {
        "mst_supervisor": 1,
        "mst_therapist": 9,
        "referrer": 6,
        "trajectbegeleider": 9,
        "coordinator": 1,
    }
    for code in ("ZL", "WBW", "WBO"):
        caps = sorted(
            p["max_cases"] for p in s["people"] if p["role"] == "mst_therapist" and p["regions"] == [code]
        )
        assert caps == [4, 4, 6]
    assert all(p["max_cases"] == 8 for p in s["people"] if p["role"] == "trajectbegeleider")
    assert 70 <= len(_referrals(s)) <= 90
    assert 550 <= len(s["busy"]) <= 950
    counts = collections.Counter(e["type"] for e in s["events"])
    assert counts["capacity"] == 3
    assert 5 <= counts["machtiging"] <= 30
    assert 8 <= counts["discharge"] <= 35
    assert 1 <= counts["timeout_request"] <= 25
    assert 2 <= counts["close"] <= 45  # closes come 3-6 months after the referral
    assert counts["withdraw"] <= 10


def test_tight_tier_is_the_region_network_with_twice_the_referrals(scenarios: dict[str, dict]) -> None:
    region, tight = scenarios["region"], scenarios["tight"]
    for key in ("regions", "travel_minutes", "locations", "people", "settings", "start", "end"):
        assert tight[key] == region[key], key
    assert 140 <= len(_referrals(tight)) <= 180
    counts = collections.Counter(e["type"] for e in tight["events"])
    assert counts["capacity"] == 6
    assert counts["referral"] > 1.7 * collections.Counter(e["type"] for e in region["events"])["referral"]


def test_national_tier_counts(scenarios: dict[str, dict]) -> None:
    s = scenarios["national"]
    assert (_day(s["end"]) - _day(s["start"])).days == 365
    codes = [r["code"] for r in s["regions"]]
    assert codes == [f"R{i:02d}" for i in range(1, 43)]
    assert len({r["name"] for r in s["regions"]}) == 42
    pairs = {frozenset((a, b)) for a, b, _ in s["travel_minutes"]}
    assert len(s["travel_minutes"]) == len(pairs) == 42 * 41 // 2  # every region reaches every other
    assert all(a != b and 10 < m < 400 for a, b, m in s["travel_minutes"])
    assert 22 <= len(s["locations"]) <= 28
    groups = _groups(s)
    beds = sum(g["beds"] for g in groups)
    closed = sum(g["beds"] for g in groups if g["kind"] == "closed")
    assert 380 <= beds <= 520
    assert 0.5 <= closed / beds <= 0.65
    assert all(3 <= g["beds"] <= 6 for g in groups)
    assert collections.Counter(g["beds"] for g in groups).most_common(1)[0][0] == 4
    assert 5 <= sum(g["timeout_beds"] for g in groups) <= 26
    assert all(g["kind"] == "closed" for g in groups if g["timeout_beds"])
    assert 1850 <= len(_referrals(s)) <= 2150
    assert 10_000 <= len(s["busy"]) <= 26_000
    counts = collections.Counter(e["type"] for e in s["events"])
    assert 15 <= counts["capacity"] <= 25
    assert counts["discharge"] >= 350 and counts["close"] >= 400 and counts["timeout_request"] >= 150
    assert 40 <= counts["withdraw"] <= 160
    assert counts["machtiging"] >= 250


def test_national_people(scenarios: dict[str, dict]) -> None:
    s = scenarios["national"]
    codes = {r["code"] for r in s["regions"]}
    people = {p["id"]: p for p in s["people"]}
    therapists = [p for p in s["people"] if p["role"] == "mst_therapist"]
    per_region = collections.Counter(p["regions"][0] for p in therapists)
    assert set(per_region) == codes
    assert all(2 <= n <= 8 for n in per_region.values())
    assert all(4 <= p["max_cases"] <= 6 for p in therapists)
    teams = collections.defaultdict(list)
    for p in therapists:
        teams[p["supervisor"]].append(p)
    for sup, team in teams.items():
        assert people[sup]["role"] == "mst_supervisor"
        assert 3 <= len(team) <= 4
        assert {r for p in team for r in p["regions"]} <= set(people[sup]["regions"])
    referrers = collections.Counter(p["regions"][0] for p in s["people"] if p["role"] == "referrer")
    assert referrers == {code: 2 for code in codes}
    coordinators = [p for p in s["people"] if p["role"] == "coordinator"]
    assert 8 <= len(coordinators) <= 14
    assert {r for p in coordinators for r in p["regions"]} == codes
    location_regions = {loc["region"] for loc in s["locations"]}
    tbs = [p for p in s["people"] if p["role"] == "trajectbegeleider"]
    assert {p["regions"][0] for p in tbs} == location_regions


def test_national_is_feasible_ish(scenarios: dict[str, dict]) -> None:
    """Closed beds: enough for the demand but not idle; caseloads above the concurrent need."""
    s = scenarios["national"]
    regular = sum(g["beds"] - g["timeout_beds"] for g in _groups(s) if g["kind"] == "closed")
    assert 0.75 <= closed_bed_demand(s) / regular <= 0.97
    # Concurrent MST need in steady state: placements per day times the load (<= 20 weeks).
    placed = sum(1 for r in _referrals(s) if not _invalid(r))
    need = placed / 365 * 20 * 7
    tb_caps = sum(p["max_cases"] for p in s["people"] if p["role"] == "trajectbegeleider")
    th_caps = sum(p["max_cases"] for p in s["people"] if p["role"] == "mst_therapist")
    assert tb_caps >= 1.1 * need * 0.9  # loads end earlier when a case closes
    assert th_caps >= 1.1 * need * 0.9


def test_national_is_fast() -> None:
    t0 = time.perf_counter()
    generate("national", 5)
    assert time.perf_counter() - t0 < 3.0


# --- events --------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_events_sorted_well_formed_and_inside_the_horizon(scenarios: dict[str, dict], tier: str) -> None:
    s = scenarios[tier]
    ats = [e["at"] for e in s["events"]]
    assert all(TIME_RE.match(a) for a in ats)
    assert ats == sorted(ats)
    assert s["start"] + "T00:00" <= ats[0] and ats[-1] < s["end"] + "T00:00"
    for e in s["events"]:
        datetime.strptime(e["at"], "%Y-%m-%dT%H:%M")
        if e["type"] in CASE_EVENTS:
            assert set(e) >= {"at", "type", "case"}
    office = sum(1 for a in ats if "08:00" <= a[11:] <= "17:00" and _day(a).weekday() < 5)
    assert office / len(ats) >= 0.75  # mostly during working hours


@pytest.mark.parametrize("tier", TIERS)
def test_all_referenced_ids_exist(scenarios: dict[str, dict], tier: str) -> None:
    s = scenarios[tier]
    codes = {r["code"] for r in s["regions"]}
    people = {p["id"]: p for p in s["people"]}
    assert len(people) == len(s["people"])
    groups = {g["id"]: g for g in _groups(s)}
    assert len(groups) == len(_groups(s))
    assert len({loc["id"] for loc in s["locations"]}) == len(s["locations"])
    for a, b, _ in s["travel_minutes"]:
        assert a in codes and b in codes
    for loc in s["locations"]:
        assert loc["region"] in codes
    for p in s["people"]:
        assert p["regions"] and set(p["regions"]) <= codes
        if p["role"] in ("mst_therapist", "trajectbegeleider"):
            assert p["max_cases"] >= 1
        if p["role"] == "mst_therapist":
            assert people[p["supervisor"]]["role"] == "mst_supervisor"
    for b in s["busy"]:
        assert b["person"] in people
        assert people[b["person"]]["role"] in ("mst_therapist", "trajectbegeleider", "referrer")
        assert TIME_RE.match(b["from"]) and TIME_RE.match(b["until"])
        assert b["from"][:10] == b["until"][:10] and "09:00" <= b["from"][11:] < b["until"][11:] <= "17:00"
        assert _day(b["from"]).weekday() < 5
        assert b["from"][:10] not in s["settings"]["holidays"]
    for e in s["events"]:
        if e["type"] == "referral":
            assert e["home_region"] in codes
            ref = people[e["referrer"]]
            assert ref["role"] == "referrer" and e["home_region"] in ref["regions"]
        elif e["type"] == "capacity":
            g = groups[e["group"]]
            assert g["timeout_beds"] <= e["beds"] < g["beds"]
            assert e["at"][:10] < e["from"] < e["until"]


@pytest.mark.parametrize("tier", TIERS)
def test_case_events_follow_their_referral(scenarios: dict[str, dict], tier: str) -> None:
    s = scenarios[tier]
    referrals: dict[str, dict] = {}
    for e in s["events"]:
        if e["type"] == "referral":
            assert e["case"] not in referrals
            referrals[e["case"]] = e
        elif e["type"] in CASE_EVENTS:
            ref = referrals.get(e["case"])
            assert ref is not None, f"{e['type']} of {e['case']} before its referral"
            assert e["at"] > ref["at"]
            assert not _invalid(ref), "a refused referral has no follow-up events"
            if e["type"] == "discharge":
                assert e["date"] > ref["earliest_start"]
            elif e["type"] == "timeout_request":
                assert 1 <= e["days"] <= 14
            elif e["type"] == "machtiging":
                assert ref["kind"] == "thuisbest"
                span = (date.fromisoformat(e["valid_until"]) - date.fromisoformat(e["valid_from"])).days
                assert 150 <= span <= 365
                assert e["valid_from"] >= e["at"][:10]
        else:
            assert e["type"] == "capacity" and "case" not in e
    withdrawn = {e["case"] for e in s["events"] if e["type"] == "withdraw"}
    for e in s["events"]:  # nothing happens to a withdrawn case afterwards
        if e["type"] in ("discharge", "timeout_request", "close"):
            assert e["case"] not in withdrawn


@pytest.mark.parametrize("tier", TIERS)
def test_conflicts_are_symmetric_and_ids_safe(scenarios: dict[str, dict], tier: str) -> None:
    refs = {e["case"]: e for e in _referrals(scenarios[tier])}
    pairs = 0
    for case, e in refs.items():
        assert re.fullmatch(r"c\d{5}", case)
        assert not re.fullmatch(r"\d{9}", case) and len(case) <= 36
        for other in e["conflicts_with"]:
            assert other != case and other in refs
            assert case in refs[other]["conflicts_with"]
            pairs += 1
    assert pairs >= 2  # at least one pair, listed on both sides


@pytest.mark.parametrize("tier", TIERS)
def test_referral_details(scenarios: dict[str, dict], tier: str) -> None:
    refs = _referrals(scenarios[tier])
    n = len(refs)
    invalid = collections.Counter(_invalid(r) for r in refs)
    assert 1 <= n - invalid[""] <= max(2, 0.05 * n)
    kinds = collections.Counter(r["kind"] for r in refs)
    assert set(kinds) == {"thuisbest", "thuisbest_open"}
    assert 0.6 <= kinds["thuisbest"] / n <= 0.85
    urgency = collections.Counter(r["urgency"] for r in refs)
    assert set(urgency) <= {"normal", "urgent", "crisis"}
    assert urgency["normal"] > urgency["urgent"] > urgency["crisis"] > 0
    no_machtiging = 0
    for r in refs:
        lead = (date.fromisoformat(r["earliest_start"]) - _day(r["at"])).days
        assert 0 <= lead <= (1 if r["urgency"] == "crisis" else 14)
        assert DATE_RE.match(r["birth_date"])
        assert "stay_days" in r or r["kind"] in DEFAULT_STAY
        if r["kind"] == "thuisbest":
            assert r["timeout_address"] is None
            if _invalid(r) != "stay":
                assert 42 <= r.get("stay_days", 56) <= 56
            if r["machtiging"] is None:
                no_machtiging += 1
            else:
                m = r["machtiging"]
                assert m["valid_from"] <= m["valid_until"]
                assert (
                    date.fromisoformat(m["valid_until"]) - date.fromisoformat(m["valid_from"])
                ).days <= 365
        else:
            assert r["machtiging"] is None
            assert r["timeout_address"].startswith("informal network")
            assert 28 <= r.get("stay_days", 42) <= 42
    assert no_machtiging >= 1
    # every thuisbest referral without machtiging gets one later (unless withdrawn first);
    # the court takes up to ~3 weeks, so late referrals may end the scenario still waiting
    events = scenarios[tier]["events"]
    granted = {e["case"] for e in events if e["type"] == "machtiging"}
    withdrawn = {e["case"] for e in events if e["type"] == "withdraw"}
    last = (_day(scenarios[tier]["end"]) - timedelta(days=25)).isoformat()
    for r in refs:
        if r["kind"] == "thuisbest" and r["machtiging"] is None and not _invalid(r) and r["at"] < last:
            assert r["case"] in granted or r["case"] in withdrawn


# --- contract and CLI ----------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_validates_against_the_scenario_model(scenarios: dict[str, dict], tier: str) -> None:
    mod = pytest.importorskip("tools.scenario")
    load = getattr(mod, "load_scenario_dict", None)
    if load is None:
        model = getattr(mod, "Scenario", None)
        if model is None:
            pytest.skip("shared.scenario has neither load_scenario_dict nor Scenario")
        load = model.model_validate
    loaded = load(scenarios[tier])
    events = getattr(loaded, "events", None)
    if events is not None:
        assert len(events) == len(scenarios[tier]["events"])


def test_cli_writes_the_scenario(tmp_path) -> None:
    out = tmp_path / "region.json"
    assert main(["region", "--seed", "4", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert json.loads(text) == generate("region", 4)
    assert text.startswith('{\n "scenario_version": 1,')  # indent 1
    out2 = tmp_path / "short.json"
    assert main(["national", "--seed", "2", "--days", "20", "--out", str(out2)]) == 0
    short = json.loads(out2.read_text(encoding="utf-8"))
    assert short["end"] == (date(2026, 1, 5) + timedelta(days=20)).isoformat()


@pytest.mark.parametrize("tier", TIERS)
def test_intake_accepts_all_but_a_few_age_or_stay_referrals(scenarios: dict[str, dict], tier: str) -> None:
    referrals = pytest.importorskip("services.intake.rules")
    network = pytest.importorskip("shared.network")
    scenario = pytest.importorskip("tools.scenario").load_scenario_dict(scenarios[tier])
    net = network.NetworkIndex(scenario.network)
    raw = {r["case"]: r for r in _referrals(scenarios[tier])}
    refused = 0
    for ev in scenario.events:
        if ev.type != "referral":
            continue
        problems = referrals.referral_problems(ev, net)
        assert {p.field for p in problems} <= {"birth_date", "stay_days"}, problems
        assert bool(problems) == bool(_invalid(raw[ev.case]))
        refused += bool(problems)
    n = len(_referrals(scenarios[tier]))
    assert 1 <= refused <= max(2, 0.05 * n)


def test_national_tight_is_the_national_network_contended(scenarios: dict[str, dict]) -> None:
    """The same 42 regions and demand as `national`, with fewer closed beds and MST places per need."""
    tight, national = scenarios["national-tight"], scenarios["national"]
    assert tight["name"] == "national-tight-s1"
    assert (_day(tight["end"]) - _day(tight["start"])).days == 365
    assert [r["name"] for r in tight["regions"]] == [r["name"] for r in national["regions"]]
    assert 1850 <= len(_referrals(tight)) <= 2150

    def regular_closed(s: dict) -> int:
        return sum(g["beds"] - g["timeout_beds"] for g in _groups(s) if g["kind"] == "closed")

    def mst_places_per_referral(s: dict) -> float:
        places = sum(p["max_cases"] for p in s["people"] if p["role"] == "mst_therapist")
        return places / len(_referrals(s))

    tight_load = closed_bed_demand(tight) / regular_closed(tight)
    national_load = closed_bed_demand(national) / regular_closed(national)
    print("closed demand per regular bed", tight_load, national_load)
    print("MST places per referral", mst_places_per_referral(tight), mst_places_per_referral(national))
    assert tight_load > 1.0 > national_load  # more demand than beds: a waiting list
    assert mst_places_per_referral(tight) < 0.8 * mst_places_per_referral(national)
