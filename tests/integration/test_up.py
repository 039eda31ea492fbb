"""`thuisbest up` as a user runs it: healthy, deciding, stopped cleanly by Ctrl-C, data kept in --data-dir."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from shared.settings import DEMO_NETWORK
from tools.cli import SERVICES
from tools.embedded import free_port
from tools.latency import sample_referral
from tools.scenario import load_scenario

pytestmark = pytest.mark.integration


class Up:
    def __init__(self, data_dir: Path, ports: dict[str, int], log: Path) -> None:
        args = ["--data-dir", str(data_dir)]
        for name, port in ports.items():
            args += [f"--{name}-port", str(port)]
        self.ports, self.log = ports, log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from tools.cli import main; sys.exit(main())",
                "up",
                *args,
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(SERVICES)
        while pending:
            assert self.proc.poll() is None, self.log.read_text()
            for name in sorted(pending):
                try:
                    if httpx.get(self.url(name) + "/healthz", timeout=1).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            assert time.monotonic() < deadline, f"not healthy: {pending}\n{self.log.read_text()}"
            time.sleep(0.2)

    def case(self, case: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url('intake')}/v1/cases/{case}", timeout=5)
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
        posted = httpx.post(f"{first.url('intake')}/v1/referrals", json=body, timeout=10)
        assert posted.status_code == 201, posted.text
        first.wait_decided(body["case"])
        decided = first.case(body["case"])
        # A referral the scheduler has not read yet when the stack stops: the embedded broker
        # forgets it, the outbox does not.
        first.service("scheduler").suspend()
        assert httpx.post(f"{first.url('intake')}/v1/referrals", json=unread, timeout=10).status_code == 201
        time.sleep(1)  # published to the broker by intake's outbox relay, unread by the scheduler
        first.interrupt()
    finally:
        first.kill()
    assert "stopped" in log.read_text()

    second = Up(data_dir, ports, log)
    try:
        second.wait_healthy()
        again = second.case(body["case"])
        assert again["status"] == decided["status"] and again["stay"] == decided["stay"]
        second.wait_decided(unread["case"])
        repeat = httpx.post(f"{second.url('intake')}/v1/referrals", json=body, timeout=10)
        assert repeat.status_code == 200, repeat.text  # the same referral: known, not a second case
        second.interrupt()
    finally:
        second.kill()
