"""`thuisbest up` as a user runs it: healthy, deciding, stopped cleanly by Ctrl-C, data kept in --data-dir;
its doors locked: bearer tokens from the data dir's key, PostgreSQL on loopback with a password, secrets
in files only their owner reads."""

from __future__ import annotations

import asyncio
import random
import re
import signal
import stat
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import psutil
import pytest

from shared.issuer import ISSUER, KEY_FILE
from shared.settings import DEMO_NETWORK
from tools.cli import SERVICES
from tools.embedded import free_port
from tools.latency import sample_referral
from tools.scenario import load_scenario
from tools.trust import AUTH_DIR, IDENTITY_KEYS, POSTGRES_PASSWORD, SECRETS_DIR, WEBHOOK_SECRET

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-c", "import sys; from tools.cli import main; sys.exit(main())"]
TOKEN_LINE = re.compile(r"^  (eyJ[\w-]+\.[\w-]+\.[\w-]+)$", re.MULTILINE)
POSTGRES_LINE = re.compile(r"postgres\s+(postgresql://postgres@127\.0\.0\.1:(\d+)/postgres)")


class Up:
    def __init__(self, data_dir: Path, ports: dict[str, int], log: Path) -> None:
        args = ["--data-dir", str(data_dir)]
        for name, port in ports.items():
            args += [f"--{name}-port", str(port)]
        self.data_dir, self.ports, self.log = data_dir, ports, log
        self.start = log.stat().st_size if log.exists() else 0
        self.proc = subprocess.Popen([*CLI, "up", *args], stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def output(self) -> str:
        """What this run printed (the log file is shared by the runs of a test)."""
        return self.log.read_bytes()[self.start :].decode(errors="replace")

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(SERVICES)
        while pending or "press Ctrl-C" not in self.output():
            assert self.proc.poll() is None, self.log.read_text() + self.service_logs()
            for name in sorted(pending):
                try:
                    if httpx.get(self.url(name) + "/healthz", timeout=1).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            assert time.monotonic() < deadline, f"not healthy: {pending}\n{self.log.read_text()}"
            time.sleep(0.2)

    def service_logs(self, lines: int = 40) -> str:
        """The last lines of each service's log: why one stopped."""
        found = []
        for path in sorted((self.data_dir / "logs").glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            found.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n" + "\n".join(found)

    def token(self) -> str:
        """The coordinator's token `up` printed."""
        found = TOKEN_LINE.findall(self.output())
        assert len(found) == 1, self.output()
        return str(found[0])

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url('intake')}/v1/referrals", json=body, headers=self.headers(), timeout=10)

    def case(self, case: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url('intake')}/v1/cases/{case}", headers=self.headers(), timeout=5)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_decided(self, case: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.case(case)["status"] == "registered":
            assert time.monotonic() < deadline, f"{case} not decided within {timeout} s"
            time.sleep(0.2)

    def service(self, name: str) -> psutil.Process:
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            if f"services.{name}" in " ".join(child.cmdline()):
                return child
        raise AssertionError(f"no {name} process")

    def postmaster(self) -> psutil.Process:
        pid = int((self.data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)

    def interrupt(self) -> None:
        """Ctrl-C; everything the command started must be gone afterwards."""
        children = psutil.Process(self.proc.pid).children(recursive=True)
        names = " ".join(sorted({c.name() for c in children}))
        assert len(children) >= 5, names  # PostgreSQL (and its workers), the broker, three services
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=60) == 0, self.log.read_text()
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, [p.pid for p in alive]

    def kill(self) -> None:
        if self.proc.poll() is None:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
            self.proc.kill()
            self.proc.wait()


def thuisbest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def test_up_decides_stops_cleanly_on_ctrl_c_and_keeps_its_data(pg_tmp_path: Path) -> None:
    # Outside pytest's tmp_path: the embedded PostgreSQL runs as another user (see tests/conftest.py).
    data_dir = pg_tmp_path / "data"
    log = pg_tmp_path / "up.log"
    ports = {name: free_port() for name in SERVICES}
    rng = random.Random(7)
    body, unread = (sample_referral(load_scenario(DEMO_NETWORK).network, rng, date.today()) for _ in range(2))

    first = Up(data_dir, ports, log)
    try:
        first.wait_healthy()
        posted = first.post(body)
        assert posted.status_code == 201, posted.text
        first.wait_decided(body["case"])
        decided = first.case(body["case"])
        # A referral the scheduler has not read yet when the stack stops: the embedded broker
        # forgets it, the outbox does not.
        first.service("scheduler").suspend()
        assert first.post(unread).status_code == 201
        time.sleep(1)  # published to the broker by intake's outbox relay, unread by the scheduler
        first.interrupt()
    finally:
        first.kill()
    assert "stopped" in log.read_text()
    earlier = first.headers()
    secrets = {name: (data_dir / SECRETS_DIR / name).read_text() for name in (IDENTITY_KEYS, WEBHOOK_SECRET)}

    # Fresh ports: one of the first run's may meanwhile be another connection's ephemeral port
    # (the suite runs many); what must survive the restart is the data dir, not the ports.
    second = Up(data_dir, {name: free_port() for name in SERVICES}, log)
    try:
        second.wait_healthy()
        # The same signing key, identity keys and secrets: a token of the first run still works,
        # the cases' identity data still decrypts.
        again = httpx.get(f"{second.url('intake')}/v1/cases/{body['case']}", headers=earlier)
        assert again.status_code == 200, again.text
        assert again.json()["status"] == decided["status"] and again.json()["stay"] == decided["stay"]
        assert secrets == {name: (data_dir / SECRETS_DIR / name).read_text() for name in secrets}
        second.wait_decided(unread["case"])
        repeat = second.post(body)
        assert repeat.status_code == 200, repeat.text  # the same referral: known, not a second case
        second.interrupt()
    finally:
        second.kill()


def test_up_admits_only_bearers_of_its_tokens_and_keeps_its_secrets(pg_tmp_path: Path) -> None:
    data_dir = pg_tmp_path / "data"
    log = pg_tmp_path / "up.log"
    ports = {name: free_port() for name in SERVICES}

    refused = thuisbest("token", "coord", "--data-dir", str(data_dir))
    assert refused.returncode == 2 and not refused.stdout
    assert "thuisbest up" in refused.stderr, refused.stderr  # what to do about it

    up = Up(data_dir, ports, log)
    try:
        up.wait_healthy()
        plan = f"{up.url('scheduler')}/v1/plan"

        # The token `up` printed is a coordinator's: it may read the plan.
        answer = httpx.get(plan, headers=up.headers(), timeout=10)
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) >= {"stays", "meetings", "waiting", "rejected"}

        # Without a token, or with a forged one: 401 and how to authenticate.
        for headers in ({}, {"Authorization": "Bearer " + up.token()[:-4] + "AAAA"}):
            answer = httpx.get(plan, headers=headers, timeout=10)
            assert answer.status_code == 401, answer.text
            assert answer.headers["WWW-Authenticate"].startswith("Bearer "), answer.headers

        # `thuisbest token`: anybody of the network, signed by the same key; nobody else.
        printed = thuisbest("token", "coord-WBO", "--data-dir", str(data_dir), "--minutes", "5")
        assert printed.returncode == 0, printed.stderr
        token = printed.stdout.strip()
        answer = httpx.get(plan, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["sub"] == "coord-WBO" and claims["iss"] == ISSUER
        assert 0 < claims["exp"] - claims["iat"] <= 5 * 60
        unknown = thuisbest("token", "mallory", "--data-dir", str(data_dir))
        assert unknown.returncode == 2 and not unknown.stdout
        assert "mallory" in unknown.stderr and "not a person" in unknown.stderr, unknown.stderr

        # PostgreSQL: TCP on 127.0.0.1 only, and only with the password.
        postmaster = up.postmaster()
        listening = [c for c in postmaster.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening
        rules = [
            line.split()
            for line in (data_dir / "pg" / "pg_hba.conf").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        assert rules == [["host", "all", "all", "127.0.0.1/32", "scram-sha-256"]], rules
        shown = POSTGRES_LINE.search(up.output())
        assert shown, up.output()
        address, port = shown.group(1), int(shown.group(2))
        assert {c.laddr.port for c in listening} == {port}
        password = (data_dir / SECRETS_DIR / POSTGRES_PASSWORD).read_text().strip()
        assert asyncio.run(connects(address)) == "password authentication failed"
        assert asyncio.run(connects(address.replace("postgres@", "postgres:guess@"))) == (
            "password authentication failed"
        )
        assert asyncio.run(connects(address.replace("postgres@", f"postgres:{password}@"))) == "connected"
        up.interrupt()
    finally:
        up.kill()

    # Secrets: readable by their owner only, never printed (the one token aside), nor logged.
    for path in (
        data_dir / AUTH_DIR / KEY_FILE,
        data_dir / SECRETS_DIR / IDENTITY_KEYS,
        data_dir / SECRETS_DIR / WEBHOOK_SECRET,
        data_dir / SECRETS_DIR / POSTGRES_PASSWORD,
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((data_dir / SECRETS_DIR).stat().st_mode) == 0o700
    logs = [log, *(data_dir / "logs").glob("*.log")]
    for name in (IDENTITY_KEYS, WEBHOOK_SECRET, POSTGRES_PASSWORD):
        for line in (data_dir / SECRETS_DIR / name).read_text().splitlines():
            secret = line.split(":", 1)[-1].strip()
            for path in logs:
                assert secret not in path.read_text(errors="replace"), (name, path)


async def connects(dsn: str) -> str:
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except asyncpg.InvalidPasswordError:
        return "password authentication failed"
    await conn.close()
    return "connected"
