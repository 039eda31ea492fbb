"""Session-wide embedded tansu broker, fresh topic names per test, and the three services as
processes on both with the embedded default's secrets (PostgreSQL: tests/conftest.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from shared.settings import DEMO_NETWORK
from tools.cli import SERVICES, ServiceProcesses
from tools.embedded import EmbeddedKafka, free_port
from tools.trust import EmbeddedTrust

StartStack = Callable[[Path, str], AbstractContextManager[tuple[ServiceProcesses, EmbeddedTrust]]]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedKafka(log_file=tmp_path_factory.mktemp("kafka") / "tansu.log") as broker:
        yield broker.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}-"


@pytest.fixture(scope="session")
def start_stack(pg_dsn: str, kafka_bootstrap: str) -> StartStack:
    """`with start_stack(data_dir, "xy") as (services, trust):` the three services as processes,
    healthy, with their own databases and topics (prefix `xy` and a random part) and the data dir's
    issuer, identity keys and webhook secret, as `thuisbest up` gives them; stopped afterwards."""

    @contextlib.contextmanager
    def start(data_dir: Path, name: str) -> Iterator[tuple[ServiceProcesses, EmbeddedTrust]]:
        trust = EmbeddedTrust.ensure(data_dir)
        prefix = f"{name}{uuid.uuid4().hex[:8]}_"
        services = ServiceProcesses(
            pg_dsn,
            kafka_bootstrap,
            DEMO_NETWORK,
            {service: free_port() for service in SERVICES},
            data_dir,
            topic_prefix=prefix,
            db_prefix=prefix,
            extra_env=trust.service_env(),
        )
        services.prepare()
        services.start()
        try:
            services.wait_healthy(90)
            yield services, trust
        finally:
            services.stop()

    return start
