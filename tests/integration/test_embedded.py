"""The embedded PostgreSQL and tansu broker, exercised with the clients the services use."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from shared.aio import within
from tools.embedded import EmbeddedPostgres, create_topics, kafka_client_options


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def server_pids(data_dir: Path) -> set[int]:
    """The postmaster of data_dir and its children."""
    postmaster = postmaster_pid(data_dir)
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True, check=False
    ).stdout
    return {postmaster, *map(int, children.split())}


def live(pids: set[int]) -> set[int]:
    """Those of pids that ps shows as running (zombies excluded)."""
    out = subprocess.run(
        ["ps", "-o", "pid=,stat=", "-p", ",".join(map(str, pids))],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = (line.split() for line in out.splitlines())
    return {int(pid) for pid, stat in rows if not stat.startswith("Z")}


async def fetch_notes(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [row["body"] for row in await conn.fetch("SELECT body FROM note ORDER BY id")]
    finally:
        await conn.close()


async def add_note(dsn: str, body: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS note (id serial PRIMARY KEY, body text)")
        await conn.execute("INSERT INTO note (body) VALUES ($1)", body)
    finally:
        await conn.close()


async def test_asyncpg_roundtrip(fresh_db: str) -> None:
    conn = await asyncpg.connect(fresh_db)
    try:
        await conn.execute("CREATE TABLE client (id int PRIMARY KEY, name text NOT NULL)")
        await conn.executemany("INSERT INTO client (id, name) VALUES ($1, $2)", [(1, "Eşref"), (2, "Noëlle")])
        rows = await conn.fetch("SELECT id, name, upper(name) AS shout FROM client ORDER BY id")
    finally:
        await conn.close()
    assert [tuple(row) for row in rows] == [(1, "Eşref", "EŞREF"), (2, "Noëlle", "NOËLLE")]


async def test_dsn_works_from_another_process(fresh_db: str) -> None:
    await add_note(fresh_db, "from the test process")
    script = (
        "import asyncio, asyncpg, sys\n"
        "async def main():\n"
        "    conn = await asyncpg.connect(sys.argv[1])\n"
        "    print(await conn.fetchval('SELECT body FROM note'))\n"
        "    await conn.close()\n"
        "asyncio.run(main())\n"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, fresh_db, stdout=subprocess.PIPE
    )
    out, _ = await child.communicate()
    assert child.returncode == 0
    assert out.decode().strip() == "from the test process"


async def test_data_survives_stop_and_start(pg_tmp_path: Path) -> None:
    server = EmbeddedPostgres(pg_tmp_path / "pg")
    started = time.perf_counter()
    server.start()
    fresh = time.perf_counter() - started
    try:
        await add_note(server.dsn, "kept")
        pids = server_pids(server.data_dir)
        assert len(pids) > 1
    finally:
        server.stop()
    assert live(pids) == set()
    assert not (server.data_dir / "postmaster.pid").exists()

    started = time.perf_counter()
    server.start()
    restart = time.perf_counter() - started
    try:
        assert await fetch_notes(server.dsn) == ["kept"]
    finally:
        server.stop()
    print(f"\npostgres start: fresh initdb {fresh:.3f} s, restart {restart:.3f} s")


async def refused(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidPasswordError:
        return True
    await conn.close()
    return False


async def test_only_the_password_opens_it_and_every_start_sets_it(pg_tmp_path: Path) -> None:
    server = EmbeddedPostgres(pg_tmp_path / "pg", password="first-Password_1")
    server.start()
    try:
        assert await refused(server.address)  # no password
        assert await refused(server.address.replace("postgres@", "postgres:guess@"))
        await add_note(server.dsn, "behind the password")
        assert "first-Password_1" not in server.log_file.read_text()  # only its verifier was sent
    finally:
        server.stop()
    # A data dir of before passwords, or whose pg_hba.conf somebody opened up: the next start
    # closes it again and sets the password it is given.
    hba = server.data_dir / "pg_hba.conf"
    hba.write_text("host all all 127.0.0.1/32 trust\nlocal all all trust\n")
    again = EmbeddedPostgres(pg_tmp_path / "pg", password="second-Password_2")
    again.start()
    try:
        assert await refused(again.address)
        assert await refused(server.dsn.replace(str(server.port), str(again.port)))  # the old password
        assert await fetch_notes(again.dsn) == ["behind the password"]
    finally:
        again.stop()


async def test_start_after_a_crash(pg_tmp_path: Path) -> None:
    crashed = EmbeddedPostgres(pg_tmp_path / "pg")
    crashed.start()
    await add_note(crashed.dsn, "committed before the crash")
    os.kill(postmaster_pid(crashed.data_dir), signal.SIGKILL)

    # the postmaster is gone but its postmaster.pid is left behind
    recovered = EmbeddedPostgres(pg_tmp_path / "pg")
    recovered.start()
    try:
        assert await fetch_notes(recovered.dsn) == ["committed before the crash"]
        await add_note(recovered.dsn, "after recovery")

        # a server still running whose owner is gone: the next start takes over
        orphan = server_pids(recovered.data_dir)
        successor = EmbeddedPostgres(pg_tmp_path / "pg")
        successor.start()
        try:
            assert live(orphan) == set()
            assert await fetch_notes(successor.dsn) == [
                "committed before the crash",
                "after recovery",
            ]
        finally:
            successor.stop()
    finally:
        recovered.stop()
        crashed.stop()


async def test_consumer_group_resumes_after_manual_commit(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}cases", f"{topic_prefix}group"
    await create_topics(kafka_bootstrap, [topic], partitions=3)
    await create_topics(kafka_bootstrap, [topic], partitions=3)  # existing topics are fine

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        for seq in range(100):
            await producer.send(topic, key=f"case-{seq % 5}".encode(), value=str(seq).encode())
        await producer.flush()
    finally:
        await producer.stop()

    async def consume(count: int) -> tuple[AIOKafkaConsumer, list[ConsumerRecord[bytes, bytes]], float]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            **kafka_client_options(),
        )
        started = time.perf_counter()
        await consumer.start()
        records: list[ConsumerRecord[bytes, bytes]] = []
        first = 0.0
        async with asyncio.timeout(20):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=100)).values():
                    first = first or time.perf_counter() - started
                    records.extend(batch)
        return consumer, records, first

    consumer, records, join = await consume(100)
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for record in records:
        assert record.key is not None and record.value is not None
        by_key[record.key].append(int(record.value))
    assert len(records) == 100
    assert by_key == {f"case-{k}".encode(): list(range(k, 100, 5)) for k in range(5)}

    # commit the first 50 consumed, per partition the offset after the last of them
    positions = {TopicPartition(r.topic, r.partition): r.offset + 1 for r in records[:50]}
    await consumer.commit(positions)
    await consumer.stop()

    consumer, rest, rejoin = await consume(50)
    try:
        assert await consumer.getmany(timeout_ms=300) == {}
    finally:
        await consumer.stop()
    assert sorted(r.value for r in rest) == sorted(r.value for r in records[50:])
    resumed_at: dict[TopicPartition, int] = {}
    for record in rest:
        resumed_at.setdefault(TopicPartition(record.topic, record.partition), record.offset)
    assert resumed_at == {tp: positions.get(tp, 0) for tp in resumed_at}
    print(f"\nconsumer group: first join {join:.2f} s, rejoin after restart {rejoin:.2f} s")
    assert rejoin < 5


async def test_faststream_subscriber_with_manual_ack(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}referrals", f"{topic_prefix}scheduler"
    await create_topics(kafka_bootstrap, [topic])
    received: asyncio.Queue[tuple[dict[str, str], bytes | None]] = asyncio.Queue()
    broker = KafkaBroker(kafka_bootstrap, enable_idempotence=False, acks="all")

    @broker.subscriber(topic, group_id=group, ack_policy=AckPolicy.MANUAL, **kafka_client_options())
    async def handle(body: dict[str, str], msg: KafkaMessage) -> None:
        await msg.ack()  # commits the consumer's position
        assert isinstance(msg.raw_message, ConsumerRecord)
        await received.put((body, msg.raw_message.key))

    await broker.start()
    try:
        await broker.publish({"case": "c-17"}, topic, key=b"c-17")
        body, key = await within(received.get(), 10)
    finally:
        await broker.stop()
    assert (body, key) == ({"case": "c-17"}, b"c-17")

    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await reader.start()
    try:
        assert await reader.committed(TopicPartition(topic, 0)) == 1
    finally:
        await reader.stop()
