"""Tests of the generator's scenario version 2 (PATHWAY-V2) and the `parttime` tier; version 1 unchanged."""

from __future__ import annotations

import collections
import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.intake.rules import referral_problems, staff_change_problems
from shared.kinds import KIND_TABLE, KINDS, WEEKDAYS
from shared.network import NetworkIndex
from shared.workdays import WorkCalendar
from tools.generator import ALL_TIERS, TIERS, V2_TIERS, generate, main
from tools.scenario import Scenario, load_scenario_dict

JSON = dict[str, Any]
# A year (the national tiers' default): long enough for follow-ups, six months after a close.
DAYS = 365
V2_EVENT_TYPES = {"timeout_address", "staff_change", "follow_up"}
CLOSE_REASONS = {"goal_reached", "broken_off", "moved", "other"}
THUISBEST = {"thuisbest", "thuisbest_open"}

# sha256 of the CLI's text (json indent 1 plus a newline) of version 1 scenarios, taken with the
# generator as it was before version 2 existed (commit 8920813): version 1 must stay byte for byte.
V1_SHA256 = {
    ("region", 1, None): "be3a9a2b72524bc2679afe4a6399a2dfbbdb1e2ff5f51a0ee0d4f0fa9fc4dd1d",
    ("tight", 2, 60): "d47cc943c16150b58b7155786655f72abdc50cba798f0b79856d4c6d20b33e3a",
    ("national", 1, 30): "a08085af67bbd6f3ce0f2c4081a09395c1d20f86680b0f76634ea515d1a73ea5",
    ("national-tight", 3, 30): "e89c2ffbd68d197572f1de6673765845c3ad2d87bfb241fac2ba15785a3e3c67",
    ("region", 5, 30): "cf7383e64279cf782e3e9fa2945d94a58b565d0f7d002e5e455624ad0916df35",
}


def _text(scenario: JSON) -> str:
    return json.dumps(scenario, indent=1, ensure_ascii=False) + "\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture(scope="module")
def v2() -> dict[str, JSON]:
    return {tier: generate(tier, 1, days=DAYS, version=2) for tier in ALL_TIERS}


@pytest.fixture(scope="module")
def loaded(v2: dict[str, JSON]) -> dict[str, Scenario]:
    return {tier: load_scenario_dict(s) for tier, s in v2.items()}


def _refs(s: JSON) -> list[JSON]:
    return [e for e in s["events"] if e["type"] == "referral"]


def _groups(s: JSON) -> list[JSON]:
    return [g for loc in s["locations"] for g in loc["groups"]]


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


# --- version 1 stays what it was -----------------------------------------------------------


@pytest.mark.parametrize(("tier", "seed", "days"), list(V1_SHA256))
def test_version1_is_byte_for_byte_what_it_was(tier: str, seed: int, days: int | None) -> None:
    expected = V1_SHA256[(tier, seed, days)]
    assert _sha(_text(generate(tier, seed, days=days))) == expected
    assert _sha(_text(generate(tier, seed, days=days, version=1))) == expected


def test_version1_cli_file_is_byte_for_byte_what_it_was(tmp_path: Path) -> None:
    out = tmp_path / "region.json"
    assert main(["region", "--seed", "1", "--out", str(out)]) == 0
    assert hashlib.sha256(out.read_bytes()).hexdigest() == V1_SHA256[("region", 1, None)]


# --- every tier in version 2 ---------------------------------------------------------------


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_v2_loads_with_every_new_kind_group_and_event(
    v2: dict[str, JSON], loaded: dict[str, Scenario], tier: str
) -> None:
    s = v2[tier]
    assert loaded[tier].scenario_version == 2 and len(loaded[tier].events) == len(s["events"])
    assert s["settings"]["kennismaking_within_working_days"] == 5
    group_kinds = collections.Counter(g["kind"] for g in _groups(s))
    assert group_kinds["day"] >= 1 and group_kinds["part_time"] >= 1
    for g in _groups(s):
        if g["kind"] == "day":
            assert "beds" not in g and 3 <= g["places"] <= 8
        elif g["kind"] == "part_time":
            assert 2 <= g["beds"] <= 4 and "places" not in g
    assert {r["kind"] for r in _refs(s)} == {spec.name for spec in KIND_TABLE}
    types = collections.Counter(e["type"] for e in s["events"])
    assert V2_EVENT_TYPES <= set(types), types
    refs = _refs(s)
    for name in ("current_therapist", "program_weeks", "nights_per_week", "preferred_nights"):
        assert any(name in r for r in refs), name
    closes = [e for e in s["events"] if e["type"] == "close"]
    assert closes and all(e["reason"] in CLOSE_REASONS for e in closes)
    assert any("outcome" in e for e in closes)


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_v2_intake_accepts_every_referral_and_staff_change(loaded: dict[str, Scenario], tier: str) -> None:
    scenario = loaded[tier]
    net = NetworkIndex(scenario)  # a scenario is a network with events
    for ev in scenario.events:
        if ev.type == "referral":
            assert referral_problems(ev, net) == [], ev.case
        elif ev.type == "staff_change":
            assert staff_change_problems(ev, net) == [], ev.person


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_v2_same_seed_same_scenario(tier: str) -> None:
    days = 60 if tier.startswith("national") else None
    a = generate(tier, 4, days=days, version=2)
    assert _text(a) == _text(generate(tier, 4, days=days, version=2))
    b = generate(tier, 5, days=days, version=2)
    assert a["events"] != b["events"]
    assert a["name"] == (f"{tier}-s4" if tier in V2_TIERS else f"{tier}-v2-s4")


def test_v2_default_horizons_of_the_small_tiers_load_and_pass_intake() -> None:
    for tier in ("region", "tight", "parttime"):
        s = generate(tier, 2, version=2)
        scenario = load_scenario_dict(s)
        net = NetworkIndex(scenario.network)
        assert all(not referral_problems(e, net) for e in scenario.events if e.type == "referral")
        assert not any(e["type"] == "follow_up" for e in s["events"])  # 180 days: no close is 6 months old


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_v2_events_sorted_inside_the_horizon_and_after_their_referral(v2: dict[str, JSON], tier: str) -> None:
    s = v2[tier]
    ats = [e["at"] for e in s["events"]]
    assert ats == sorted(ats)
    assert s["start"] + "T00:00" <= ats[0] and ats[-1] < s["end"] + "T00:00"
    referred: dict[str, str] = {}
    for e in s["events"]:
        if e["type"] == "referral":
            assert e["case"] not in referred
            referred[e["case"]] = e["at"]
        elif e["type"] in ("staff_change", "capacity"):
            assert "case" not in e
        else:
            assert e["at"] > referred[e["case"]], e


def test_version2_extends_the_version1_network() -> None:
    one, two = generate("region", 3, days=30), generate("region", 3, days=30, version=2)
    for key in ("regions", "travel_minutes", "start", "end"):
        assert one[key] == two[key]
    assert {g["id"] for g in _groups(one)} < {g["id"] for g in _groups(two)}
    assert [p["id"] for p in one["people"]] == [
        p["id"] for p in two["people"] if p["id"] in {q["id"] for q in one["people"]}
    ]
    # region, tight and parttime share the network of a seed (groups and staff)
    for tier in ("tight", "parttime"):
        other = generate(tier, 3, days=30, version=2)
        assert other["locations"] == two["locations"] and other["people"] == two["people"]


# --- the new kinds' referrals --------------------------------------------------------------


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_v2_referrals_of_the_new_kinds(v2: dict[str, JSON], tier: str) -> None:
    s = v2[tier]
    events = s["events"]
    named_later = {e["case"] for e in events if e["type"] == "timeout_address"}
    address = collections.Counter()
    for r in _refs(s):
        spec = KINDS[r["kind"]]
        if not spec.stay_in_weeks:
            assert not {"program_weeks", "nights_per_week", "preferred_nights"} & set(r)
            continue
        assert "stay_days" not in r and r["machtiging"] is None and r["conflicts_with"] == []
        assert spec.min_stay <= 7 * r.get("program_weeks", spec.default_stay // 7) <= spec.max_stay
        assert spec.age_fits(_age(_day(r["birth_date"]), _day(r["earliest_start"])))
        assert r["urgency"] in ("normal", "urgent")
        if spec.nights_per_week is not None:
            lo, hi = spec.nights_per_week
            assert lo <= r["nights_per_week"] <= hi
            nights = r.get("preferred_nights")
            if nights is not None:
                assert len(set(nights)) == len(nights) <= r["nights_per_week"]
                assert set(nights) <= set(WEEKDAYS)
        else:
            assert "nights_per_week" not in r and "preferred_nights" not in r
        if not spec.timeout_address_expected:
            assert r["timeout_address"] is None and r["case"] not in named_later
        else:
            address[
                "referral" if r["timeout_address"] else "later" if r["case"] in named_later else "never"
            ] += 1
    if tier.startswith("national"):  # enough cases to see all three
        assert address["referral"] > address["later"] > 0 and address["never"] > 0
    refs = {r["case"]: r for r in _refs(s)}
    for e in events:
        if e["type"] == "timeout_address":
            assert KINDS[refs[e["case"]]["kind"]].timeout_address_expected
            assert refs[e["case"]]["timeout_address"] is None and e["address"]
    # time-outs are asked mostly where they are served; the new kinds (which refuse them) ask rarely
    new = [r for r in refs.values() if KINDS[r["kind"]].stay_in_weeks]
    asked = {e["case"] for e in events if e["type"] == "timeout_request"}
    assert all(not KINDS[r["kind"]].timeout_on_group for r in new)
    assert len([r for r in new if r["case"] in asked]) <= 0.2 * len(new)


def test_v2_part_time_preferences_vary() -> None:
    refs = [r for r in _refs(generate("national", 1, days=120, version=2)) if "nights_per_week" in r]
    assert len(refs) > 40
    nights = collections.Counter(r["nights_per_week"] for r in refs)
    assert set(nights) == {2, 3, 4, 5}
    given = [r for r in refs if "preferred_nights" in r]
    assert 0.8 <= len(given) / len(refs) < 1.0  # usually given, sometimes absent
    assert any(r["preferred_nights"] == [] for r in given)
    assert any(0 < len(r["preferred_nights"]) < r["nights_per_week"] for r in given)


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_v2_current_therapists(v2: dict[str, JSON], tier: str) -> None:
    s = v2[tier]
    people = {p["id"]: p for p in s["people"]}
    thuisbest = [r for r in _refs(s) if r["kind"] in THUISBEST]
    with_therapist = [r for r in _refs(s) if "current_therapist" in r]
    assert all(r["kind"] in THUISBEST for r in with_therapist)
    assert abs(len(with_therapist) / len(thuisbest) - 0.09) < 0.02
    for r in with_therapist:
        th = people[r["current_therapist"]]
        assert th["role"] == "mst_therapist" and r["home_region"] in th["regions"]


# --- staff changes, closes and follow-ups --------------------------------------------------


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_v2_staff_changes(v2: dict[str, JSON], tier: str) -> None:
    s = v2[tier]
    cal = WorkCalendar(date.fromisoformat(h) for h in s["settings"]["holidays"])
    people = {p["id"]: p for p in s["people"]}
    changes = [e for e in s["events"] if e["type"] == "staff_change"]
    assert len({e["person"] for e in changes}) == len(changes)
    absent = [e for e in changes if e["status"] == "absent"]
    left = [e for e in changes if e["status"] == "left"]
    assert len(absent) >= 2 and len(left) >= 1
    for e in changes:
        assert set(e) == {"at", "type", "person", "from", "until", "status"}
        assert people[e["person"]]["role"] in ("mst_therapist", "trajectbegeleider")
        assert e["at"][:10] <= e["from"] < s["end"]
        assert (e["until"] is None) == (e["status"] == "left")
    working = []
    for e in absent:
        frm, until = date.fromisoformat(e["from"]), date.fromisoformat(e["until"])
        assert 2 <= (until - frm).days <= 21
        working.append(sum(cal.is_working_day(frm + timedelta(k)) for k in range((until - frm).days)))
    assert max(working) > 5 and min(working) <= 5  # some hand their cases over, some do not


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_v2_closes_come_after_the_stay_and_follow_ups_six_months_later(
    v2: dict[str, JSON], tier: str
) -> None:
    s = v2[tier]
    refs = {r["case"]: r for r in _refs(s)}
    discharged = {e["case"]: e["date"] for e in s["events"] if e["type"] == "discharge"}
    closes = {e["case"]: e for e in s["events"] if e["type"] == "close"}
    for case, e in closes.items():
        r, spec = refs[case], KINDS[refs[case]["kind"]]
        planned = spec.requested_stay(r.get("stay_days"), r.get("program_weeks"))
        stay_end = _day(r["earliest_start"]) + timedelta(days=spec.stay_or_default(planned))
        assert _day(e["at"]) > (date.fromisoformat(discharged[case]) if case in discharged else stay_end)
    follow_ups = [e for e in s["events"] if e["type"] == "follow_up"]
    assert len({e["case"] for e in follow_ups}) == len(follow_ups)
    for e in follow_ups:
        close = closes[e["case"]]
        assert "outcome" in close and isinstance(e["relapse"], bool)
        assert 182 <= (_day(e["at"]) - _day(close["at"])).days <= 184
    # every close with an outcome six months before the end has its follow-up
    last = (_day(s["end"]) - timedelta(days=185)).isoformat()
    due = {c for c, e in closes.items() if "outcome" in e and e["at"] < last}
    assert due <= {e["case"] for e in follow_ups}


def test_v2_outcome_and_relapse_rates_are_near_the_seeds(v2: dict[str, JSON]) -> None:
    closes = [e for t in ("national", "national-tight") for e in v2[t]["events"] if e["type"] == "close"]
    outcomes = [e["outcome"] for e in closes if "outcome" in e]
    assert 0.75 <= len(outcomes) / len(closes) < 1.0  # most closes report an outcome
    assert abs(sum(o["at_home"] for o in outcomes) / len(outcomes) - 0.73) < 0.05
    assert abs(sum(o["day_activity"] for o in outcomes) / len(outcomes) - 0.82) < 0.05
    reasons = collections.Counter(e["reason"] for e in closes)
    assert set(reasons) == CLOSE_REASONS and reasons.most_common(1)[0][0] == "goal_reached"
    relapses = [
        e["relapse"]
        for t in ("national", "national-tight")
        for e in v2[t]["events"]
        if e["type"] == "follow_up"
    ]
    assert len(relapses) > 100 and 0.03 <= sum(relapses) / len(relapses) <= 0.16


# --- the parttime tier ---------------------------------------------------------------------


def test_parttime_is_a_version2_only_tier() -> None:
    assert "parttime" in V2_TIERS and "parttime" not in TIERS
    s = generate("parttime", 1, days=30)
    assert s["scenario_version"] == 2 and s["name"] == "parttime-s1"
    assert generate("parttime", 1, days=30, version=2) == s
    with pytest.raises(ValueError, match="version 2 only"):
        generate("parttime", 1, version=1)
    with pytest.raises(ValueError, match="unknown scenario version"):
        generate("region", 1, version=3)


def _youths(s: JSON) -> list[JSON]:
    """The part-time referrals that are not withdrawn, by readiness then referral time."""
    gone = {e["case"] for e in s["events"] if e["type"] == "withdraw"}
    refs = [r for r in _refs(s) if "nights_per_week" in r and r["case"] not in gone]
    return sorted(refs, key=lambda r: (r["earliest_start"], r["at"]))


def _part_time_beds(s: JSON) -> dict[str, int]:
    return {g["id"]: g["beds"] for g in _groups(s) if g["kind"] == "part_time"}


def _first_fit(s: JSON, youths: list[JSON]) -> int:
    """Youths placed in turn, each on its preferred nights where a bed is free, then the first free
    nights in week order, on the first group where that gives all its nights."""
    free = {g: [beds] * 7 for g, beds in _part_time_beds(s).items()}
    placed = 0
    for r in youths:
        order = [WEEKDAYS.index(n) for n in r.get("preferred_nights") or []]
        order += [d for d in range(7) if d not in order]
        for left in free.values():
            chosen = [d for d in order if left[d] > 0][: r["nights_per_week"]]
            if len(chosen) == r["nights_per_week"]:
                for d in chosen:
                    left[d] -= 1
                placed += 1
                break
    return placed


def _packed(s: JSON, youths: list[JSON]) -> int:
    """Patterns chosen over all youths at once: fewest nights first, each group filled cyclically
    (a youth takes the next nights round the week), checked against the beds of every night."""
    beds = _part_time_beds(s)
    used = {g: [0] * 7 for g in beds}
    cursor = dict.fromkeys(beds, 0)
    placed = 0
    for r in sorted(youths, key=lambda r: r["nights_per_week"]):
        n = r["nights_per_week"]
        g = max(beds, key=lambda g: 7 * beds[g] - sum(used[g]))
        if 7 * beds[g] - sum(used[g]) < n:
            continue
        nights = {(cursor[g] + k) % 7 for k in range(n)}
        assert len(nights) == n
        for d in nights:
            used[g][d] += 1
        cursor[g] += n
        placed += 1
    assert all(count <= beds[g] for g in beds for count in used[g])
    return placed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parttime_beds_are_contended_so_pattern_choice_matters(seed: int) -> None:
    s = generate("parttime", seed)
    beds = _part_time_beds(s)
    assert 1 <= len(beds) <= 2 and all(2 <= b <= 3 for b in beds.values())
    youths = _youths(s)
    assert {r["nights_per_week"] for r in youths} <= {2, 3}
    asked = sum(r["nights_per_week"] for r in youths)
    assert asked >= 1.3 * 7 * sum(beds.values())
    # the first wave (all ready the same Monday) alone asks for more nights than the beds hold
    first = min(r["earliest_start"] for r in youths)
    wave = [r for r in youths if r["earliest_start"] == first]
    assert sum(r["nights_per_week"] for r in wave) > 7 * sum(beds.values())
    assert len({_day(r["at"]).isocalendar()[1] for r in wave}) == 1
    # nearly all prefer as many school nights as they ask for
    school = {"mon", "tue", "wed", "thu"}
    full = [r for r in youths if len(r.get("preferred_nights") or []) == r["nights_per_week"]]
    assert len(full) >= 0.75 * len(youths)
    assert sum(set(r["preferred_nights"]) <= school for r in full) >= 0.9 * len(full)
    # stays outlast the horizon: a bed-night once given stays taken
    assert all(7 * r.get("program_weeks", KINDS[r["kind"]].default_stay // 7) >= 180 for r in youths)
    # first fit leaves bed-nights no youth can use; patterns chosen together fit more youths
    assert _packed(s, youths) > _first_fit(s, youths)


# --- CLI -----------------------------------------------------------------------------------


def test_cli_v2_flag_and_parttime_tier(tmp_path: Path) -> None:
    out = tmp_path / "v2.json"
    assert main(["region", "--seed", "2", "--days", "40", "--v2", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text == _text(generate("region", 2, days=40, version=2))
    assert text.startswith('{\n "scenario_version": 2,')
    out2 = tmp_path / "pt.json"
    assert main(["parttime", "--days", "40", "--out", str(out2)]) == 0
    assert json.loads(out2.read_text(encoding="utf-8"))["scenario_version"] == 2


def test_thuisbest_generate_passes_v2_on(tmp_path: Path) -> None:
    from tools.cli import main as thuisbest

    out = tmp_path / "cli.json"
    assert thuisbest(["generate", "tight", "--v2", "--days", "30", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == generate("tight", 1, days=30, version=2)


def test_event_times_are_local_minutes(v2: dict[str, JSON]) -> None:
    for e in v2["region"]["events"]:
        datetime.strptime(e["at"], "%Y-%m-%dT%H:%M")
