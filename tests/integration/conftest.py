"""Session-wide embedded tansu broker and fresh topic names per test (PostgreSQL: tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tools.embedded import EmbeddedKafka


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedKafka(log_file=tmp_path_factory.mktemp("kafka") / "tansu.log") as broker:
        yield broker.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}-"
