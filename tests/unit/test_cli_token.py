"""`thuisbest token` and the token options of `thuisbest latency`: a person of the network gets a token
signed by the data dir's key; an unknown person or a data dir without a key is exit 2 with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from shared.issuer import AUDIENCE, ISSUER
from shared.network import Network
from shared.settings import DEMO_NETWORK
from tools.cli import first_coordinator, main
from tools.latency import main as latency_main
from tools.scenario import load_scenario
from tools.trust import EmbeddedTrust


def test_token_of_a_person_verifies_with_the_published_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = EmbeddedTrust.ensure(tmp_path)
    assert main(["token", "ops", "--data-dir", str(tmp_path), "--minutes", "15"]) == 0
    token = capsys.readouterr().out.strip()
    keys = jwt.PyJWKSet.from_json(trust.issuer.jwks_file.read_text())
    claims = jwt.decode(token, keys.keys[0].key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == "ops"
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_an_unknown_person_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    EmbeddedTrust.ensure(tmp_path)
    assert main(["token", "mallory", "--data-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert not out and "'mallory' is not a person" in err and "coordinator: coord, coord-WBO" in err


def test_a_data_dir_without_a_key_says_to_run_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "coord", "--data-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert not out and "thuisbest up" in err
    assert not list(tmp_path.iterdir()), "a refused token makes no key"


def test_a_person_of_another_network_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(DEMO_NETWORK.read_text())
    data["people"].append({"id": "coord-extra", "role": "coordinator", "regions": ["ZL"]})
    network = tmp_path / "net.json"
    network.write_text(json.dumps(data))
    EmbeddedTrust.ensure(tmp_path / "data")
    args = ["token", "coord-extra", "--data-dir", str(tmp_path / "data")]
    assert main(args) == 2
    assert main([*args, "--network", str(network)]) == 0
    assert capsys.readouterr().out.count(".") == 2  # one JWT


@pytest.mark.parametrize("minutes", ["0", "-5", "100000", "soon"])
def test_a_lifetime_out_of_bounds_is_a_usage_error(tmp_path: Path, minutes: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["token", "coord", "--data-dir", str(tmp_path), "--minutes", minutes])
    assert stopped.value.code == 2


def test_up_prints_the_token_of_coord_or_else_of_the_first_coordinator() -> None:
    net = load_scenario(DEMO_NETWORK).network
    chosen = first_coordinator(net)
    assert chosen is not None and chosen.id == "coord"
    others = net.model_copy(update={"people": [p for p in net.people if p.id != "coord"]})
    chosen = first_coordinator(others)
    assert chosen is not None and chosen.role == "coordinator"
    nobody = Network.model_construct(**(net.__dict__ | {"people": []}))
    assert first_coordinator(nobody) is None


def test_latency_needs_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THUISBEST_TOKEN", raising=False)
    assert latency_main(["--n", "1"]) == 2
    assert "bearer token" in capsys.readouterr().err
    assert latency_main(["--n", "1", "--data-dir", str(tmp_path)]) == 2
    assert "thuisbest up" in capsys.readouterr().err
