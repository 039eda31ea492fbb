"""The live path against the embedded PostgreSQL: events processed once, durable timers that survive a
restart, two dispatchers that never send one notice twice, acknowledgements, cancellations."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from services.notifier.channels import Message, PermanentDeliveryError, RetryPolicy
from services.notifier.dispatcher import Dispatcher
from services.notifier.engine import Notice, NotificationEngine
from services.notifier.metrics import NotifierMetrics
from services.notifier.store import MIGRATIONS, SERVICE, NotifierStore
from shared import events as ev
from shared.db import create_pool, migrate
from shared.network import Network
from tools.scenario import load_scenario

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "scenarios" / "landsdeel-zuid.json"
T0 = datetime(2026, 1, 5, 10, 0)
MEETING = datetime(2026, 1, 8, 13, 30)
TH, TB, REF, SUP, COORD = "th-WBW-0", "tb-WBW-0", "ref-WBW", "sup0", "coord"


def network() -> Network:
    return load_scenario(SAMPLE).network


def case_events(case: str = "c1", at: datetime = T0) -> list[Any]:
    start = date(2026, 1, 7)
    return [
        ev.ReferralRegistered(
            occurred_at=at,
            case=case,
            kind="thuisbest",
            home_region="WBW",
            referrer=REF,
            urgency="normal",
            earliest_start=start,
            stay_days=56,
            eligible_from=date(2021, 1, 1),
            eligible_until=date(2027, 1, 1),
            machtiging={"valid_from": start, "valid_until": date(2026, 7, 6)},
        ),
        ev.PlacementPlanned(
            occurred_at=at,
            case=case,
            kind="thuisbest",
            home_region="WBW",
            referrer=REF,
            group="L01-g2",
            location="L01",
            region="WBW",
            start=start,
            end=date(2026, 3, 4),
            mst_therapist=TH,
            trajectbegeleider=TB,
            explanation="test",
        ),
        ev.StartgesprekPlanned(
            occurred_at=at,
            case=case,
            start=MEETING,
            end=MEETING + timedelta(minutes=90),
            place="L01",
            attendees=[TH, TB, REF],
        ),
    ]


class Outbox:
    """A channel that keeps what it sends; a short pause lets a concurrent dispatcher interleave."""

    name = "email"

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        await asyncio.sleep(0.001)
        self.sent.append(message)


def dispatcher(store: NotifierStore, outbox: Outbox, **kw: Any) -> Dispatcher:
    return Dispatcher(
        store,
        {"email": outbox},
        address_of=lambda p: f"{p}@thuisbest.invalid",
        base_url="http://localhost:8003",
        board_url="http://board",
        retry=RetryPolicy(attempts=2, base_delay=0.01),
        **kw,
    )


@pytest.fixture
async def store(fresh_db: str) -> AsyncIterator[NotifierStore]:
    pool = await create_pool(fresh_db)
    store = NotifierStore(pool)
    await store.migrate()
    try:
        yield store
    finally:
        await pool.close()


async def feed(store: NotifierStore, engine: NotificationEngine, events: list[Any]) -> None:
    for event in events:
        await store.process(event, engine, event.occurred_at)


async def test_an_event_is_processed_once(store: NotifierStore) -> None:
    engine = NotificationEngine(network())
    referral = case_events()[0]
    first = await store.process(referral, engine, T0)
    again = await store.process(referral, engine, T0 + timedelta(minutes=1))
    assert not first.duplicate and again.duplicate
    assert {n.to for n in first.notices} == {COORD, SUP, REF}
    assert len([r for r in await store.alerts("c1") if r.kind == "referral_received"]) == 3


async def test_due_notices_go_out_and_an_acknowledgement_stops_the_escalation(store: NotifierStore) -> None:
    engine = NotificationEngine(network())
    await feed(store, engine, case_events())
    outbox = Outbox()
    registry = CollectorRegistry()
    store.metrics = NotifierMetrics(registry)
    d = dispatcher(store, outbox, metrics=store.metrics)
    assert (await d.run_once(T0)).sent == 3 + 5 + 3  # referral, placement, invitations
    assert Counter(m.kind for m in outbox.sent) == {
        "referral_received": 3,
        "placement_assigned": 5,
        "startgesprek_invite": 3,
    }
    invite = next(m for m in outbox.sent if m.kind == "startgesprek_invite")
    assert invite.ical is not None and invite.ack_url.startswith("http://localhost:8003/v1/notifications/")

    await d.run_once(datetime(2026, 1, 9, 17, 0))
    level0 = [m for m in outbox.sent if m.kind == "startgesprek_unconfirmed"]
    assert {(m.person, m.level) for m in level0} == {(SUP, 0)}
    assert registry.get_sample_value("thuisbest_notification_open_alerts") == 1

    # the link in the message is the supervisor's, for 14 days; only a hash of its token is kept
    alert_id = level0[0].alert_id
    token = level0[0].ack_url.rsplit("token=", 1)[1]
    async with store.unit() as uow:
        assert await uow.alerts.link(alert_id, "forged") is None
        link = await uow.alerts.link(alert_id, token)
    assert link is not None and link.recipient == SUP and link.used_at is None
    assert link.expires_at == datetime(2026, 1, 9, 17) + timedelta(days=14)
    assert link.problem(link.expires_at - timedelta(minutes=1)) is None
    assert link.problem(link.expires_at) == "expired"
    stored = await store.pool.fetch("SELECT token_hash::text AS h FROM notifier_ack_link")
    assert stored and not [r for r in stored if token in r["h"]]

    # the supervisor acknowledges
    assert await store.ack(10**9, SUP, datetime(2026, 1, 9, 18)) is None
    acked = await store.ack(alert_id, SUP, datetime(2026, 1, 9, 18))
    assert acked is not None and acked.first and acked.seconds_to_ack == 3600
    again = await store.ack(alert_id, COORD, datetime(2026, 1, 9, 19))
    assert again is not None and not again.first and again.acked_by == SUP
    assert registry.get_sample_value("thuisbest_notification_time_to_ack_seconds_count") == 1
    # once sent, a message's text is not kept
    payload = await store.pool.fetchval("SELECT payload FROM notifier_alert WHERE id = $1", alert_id)
    assert '"text"' not in payload and '"subject"' in payload

    await d.run_once(datetime(2026, 1, 31))
    assert {m.level for m in outbox.sent if m.kind == "startgesprek_unconfirmed"} == {0}
    rows = [r for r in await store.alerts("c1") if r.kind == "startgesprek_unconfirmed"]
    assert {r.status for r in rows} == {"acked"} and len(rows) == 2  # the supervisor, then the coordinator
    assert {r.acked_by for r in rows} == {level0[0].person}
    assert registry.get_sample_value("thuisbest_notification_open_alerts") == 0

    # an event after the ack re-derives the same timers: they stay acknowledged
    await store.process(
        ev.MachtigingGranted(
            occurred_at=datetime(2026, 1, 20, 9),
            case="c1",
            valid_from=date(2026, 1, 7),
            valid_until=date(2026, 12, 31),
        ),
        engine,
        datetime(2026, 1, 20, 9),
    )
    rows = [r for r in await store.alerts("c1") if r.kind == "startgesprek_unconfirmed"]
    assert {r.status for r in rows} == {"acked"}


async def test_meeting_held_and_close_cancel_pending_timers(store: NotifierStore) -> None:
    engine = NotificationEngine(network())
    await feed(store, engine, case_events())
    outcome = await store.process(
        ev.MeetingHeld(occurred_at=datetime(2026, 1, 8, 15), case="c1", meeting="startgesprek"),
        engine,
        datetime(2026, 1, 8, 15),
    )
    assert outcome.cancelled and all(k.startswith("startgesprek_unconfirmed|") for k in outcome.cancelled)
    by_kind: dict[str, set[str]] = {}
    for row in await store.alerts("c1"):
        by_kind.setdefault(row.kind, set()).add(row.status)
    assert by_kind["startgesprek_unconfirmed"] == {"cancelled"}
    assert by_kind["return_home_review"] == {"pending"}

    await store.process(
        ev.CaseClosed(occurred_at=datetime(2026, 1, 20, 9), case="c1"), engine, datetime(2026, 1, 20, 9)
    )
    statuses = {r.status for r in await store.alerts("c1") if r.due_at > datetime(2026, 1, 20, 9)}
    assert statuses == {"cancelled"}
    outbox = Outbox()
    await dispatcher(store, outbox).run_once(datetime(2026, 12, 31))
    assert {m.kind for m in outbox.sent} == {
        "referral_received",
        "placement_assigned",
        "startgesprek_invite",
        "meeting_reminder",
    }


async def test_a_moved_meeting_retimes_its_durable_timers(store: NotifierStore) -> None:
    engine = NotificationEngine(network())
    await feed(store, engine, case_events())
    moved = MEETING + timedelta(days=5)  # Tuesday 13 January
    await store.process(
        ev.StartgesprekPlanned(
            occurred_at=datetime(2026, 1, 6, 9),
            case="c1",
            start=moved,
            end=moved + timedelta(minutes=90),
            place="L01",
            attendees=[TH, TB, REF],
            sequence=1,
        ),
        engine,
        datetime(2026, 1, 6, 9),
    )
    rows = [r for r in await store.alerts("c1") if r.kind == "meeting_reminder"]
    assert {(r.due_at, r.status) for r in rows} == {
        (datetime(2026, 1, 7, 9), "cancelled"),
        (datetime(2026, 1, 12, 9), "pending"),
    }


async def test_a_due_timer_survives_a_restart_and_two_dispatchers_send_it_once(fresh_db: str) -> None:
    # first process: many cases' events recorded, then the process goes away
    pool = await create_pool(fresh_db)
    try:
        store = NotifierStore(pool)
        await store.migrate()
        engine = NotificationEngine(network())
        for i in range(12):
            await feed(store, engine, case_events(f"c{i:02d}", T0 + timedelta(minutes=i)))
    finally:
        await pool.close()

    # after the restart: two dispatchers, each with its own pool, race for the same due rows
    until = datetime(2026, 1, 13, 18)
    pools = [await create_pool(fresh_db, max_size=3) for _ in range(2)]
    try:
        stores = [NotifierStore(p) for p in pools]
        expected = await pools[0].fetchval(
            "SELECT count(*) FROM notifier_alert WHERE status = 'pending' AND due_at <= $1", until
        )
        # sent at once, reminders, and the unconfirmed escalation: supervisor, then coordinator
        assert expected == 12 * (3 + 5 + 3 + 3 + 2)
        outboxes = [Outbox(), Outbox()]
        dispatchers = [dispatcher(s, o, concurrency=3) for s, o in zip(stores, outboxes, strict=True)]
        for moment in (T0 + timedelta(hours=1), datetime(2026, 1, 9, 17), until):
            results = await asyncio.gather(*(d.run_once(moment) for d in dispatchers))
            assert all(r.dead == 0 for r in results)
        sent = [m.alert_id for o in outboxes for m in o.sent]
        assert len(sent) == expected and len(set(sent)) == expected
        assert all(o.sent for o in outboxes)  # both took part
        deliveries = await pools[0].fetchval("SELECT count(*) FROM notifier_delivery WHERE ok")
        assert deliveries == expected
        # still pending: review, stay exceeded (supervisor and referrer, then the coordinator),
        # machtiging expiring, MST ending (therapist, supervisor, referrer); cancelled: the lapse
        # warning once the placement was planned
        assert await stores[0].counts() == {
            "sent": expected,
            "pending": 12 * (2 + 3 + 2 + 3),
            "cancelled": 12 * 2,
        }
    finally:
        for p in pools:
            await p.close()


async def test_a_claimed_row_is_not_claimed_again_before_its_lease_ends(store: NotifierStore) -> None:
    n = Notice(
        at=T0, case="c1", kind="referral_received", to=COORD, key="k", alert="a", subject="s", text="t"
    )
    await store.record([n], now=T0)
    lease = timedelta(minutes=5)
    assert len(await store.claim_due(T0, limit=10, lease=lease)) == 1
    assert await store.claim_due(T0 + timedelta(minutes=1), limit=10, lease=lease) == []
    # a dispatcher that died mid-send: the row comes back after the lease
    assert len(await store.claim_due(T0 + timedelta(minutes=6), limit=10, lease=lease)) == 1


async def test_migrations_apply_once(fresh_db: str) -> None:
    pool = await create_pool(fresh_db)
    try:
        assert await NotifierStore(pool).migrate() == ["001_init.sql", "002_trust.sql", "003_own_alerts.sql"]
        assert await NotifierStore(pool).migrate() == []
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(
                "INSERT INTO notifier_alert (key, alert, case_id, kind, recipient, channel, level, due_at,"
                " status, payload)"
                " VALUES ('k', 'a', 'c', 'x', 'p', 'email', 0, now(), 'lost', '{}')"
            )
    finally:
        await pool.close()


async def test_the_trust_migration_keeps_who_a_case_concerns_and_the_links_but_no_address(
    fresh_db: str, tmp_path: Path
) -> None:
    address, token = "Dorpsstraat 12, Goes (aunt)", "an-old-clear-token"
    before = tmp_path / "migrations"
    before.mkdir()
    (before / "001_init.sql").write_text((MIGRATIONS / "001_init.sql").read_text())
    pool = await create_pool(fresh_db)
    try:
        assert await migrate(pool, SERVICE, before) == ["001_init.sql"]
        # What a notifier of before kept: the address in the engine's state and in a message not
        # yet sent, and the link tokens in clear.
        state = {
            "case": "c1",
            "home_region": "ZL",
            "referrer": "ref-ZL",
            "placement": {"therapist": "th-ZL-0", "trajectbegeleider": "tb-ZL-0"},
            "timeout_address": address,
        }
        await pool.execute(
            "INSERT INTO notifier_case_state (case_id, state) VALUES ('c1', $1::jsonb), ('c2', 'null')",
            json.dumps(state),
        )
        insert = (
            "INSERT INTO notifier_alert (key, alert, case_id, kind, recipient, channel, level, due_at,"
            " status, token, payload, sent_at) VALUES ($1, $1, 'c1', $2, $3, 'email', 0, $4, $5, $6,"
            " $7::jsonb, $8)"
        )
        await pool.execute(
            insert, "k1", "timeout_informal_network", "th-ZL-0", T0, "pending", "t1",
            json.dumps({"text": f"Time-out address: {address}", "subject": "Time-out c1"}), None,
        )  # fmt: skip
        await pool.execute(
            insert, "k2", "placement_assigned", "coord", T0, "sent", token, json.dumps({"subject": "s"}), T0
        )
        await pool.execute(
            insert, "k3", "custom_rule", "th-ZL-0", T0, "cancelled", "t3",
            json.dumps({"text": f"Go to {address}", "subject": "s"}), None,
        )  # fmt: skip

        assert await NotifierStore(pool).migrate() == ["002_trust.sql", "003_own_alerts.sql"]
        everything = [
            str(list(r.values()))
            for table in ("notifier_case_state", "notifier_alert", "notifier_case_scope", "notifier_ack_link")
            for r in await pool.fetch(f"SELECT * FROM {table}")  # noqa: S608 (the names above)
        ]
        assert not [row for row in everything if "Dorpsstraat" in row or token in row], everything
        [scope] = await pool.fetch("SELECT * FROM notifier_case_scope")
        assert dict(scope) == {
            "case_id": "c1",
            "home_region": "ZL",
            "referrer": "ref-ZL",
            "therapist": "th-ZL-0",
            "trajectbegeleider": "tb-ZL-0",
        }
        kept = json.loads(await pool.fetchval("SELECT state FROM notifier_case_state WHERE case_id = 'c1'"))
        assert kept["has_timeout_address"] is True and "timeout_address" not in kept
        texts = await pool.fetch("SELECT payload->>'text' AS text FROM notifier_alert WHERE key <> 'k2'")
        assert all("intake" in r["text"] for r in texts), texts
        # the link mailed before still works, for 14 days after it was sent, once
        store = NotifierStore(pool)
        async with store.unit() as uow:
            alert_id = await uow.conn.fetchval("SELECT id FROM notifier_alert WHERE key = 'k2'")
            link = await uow.alerts.link(alert_id, token)
        assert link is not None and link.expires_at == T0 + timedelta(days=14) and link.recipient == "coord"
    finally:
        await pool.close()


async def test_each_claim_of_a_row_makes_a_link_of_its_own(store: NotifierStore) -> None:
    n = Notice(
        at=T0, case="c1", kind="referral_received", to=COORD, key="k", alert="a", subject="s", text="t"
    )
    await store.record([n], now=T0)
    lease = timedelta(minutes=5)
    [first] = await store.claim_due(T0, limit=10, lease=lease, link_valid=timedelta(days=3))
    # the dispatcher died after sending: the row is sent again once the lease ended
    [second] = await store.claim_due(T0 + timedelta(minutes=6), limit=10, lease=lease)
    assert first.id == second.id and first.token != second.token
    async with store.unit() as uow:
        links = [await uow.alerts.link(first.id, claim.token) for claim in (first, second)]
        await uow.alerts.use_link(first.token, T0 + timedelta(hours=1))
        used = await uow.alerts.link(first.id, first.token)
        unused = await uow.alerts.link(first.id, second.token)
    assert [link.expires_at for link in links if link] == [
        T0 + timedelta(days=3),
        T0 + timedelta(days=14, minutes=6),
    ]
    assert used is not None and used.problem(T0 + timedelta(hours=2)) == "used before"
    assert unused is not None and unused.problem(T0 + timedelta(hours=2)) is None


class Readings:
    """A clock that returns the given times in turn (the last one from then on)."""

    def __init__(self, *times: datetime) -> None:
        self.times = list(times)

    def now(self) -> datetime:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


async def test_each_batch_is_claimed_at_its_own_time_so_no_second_dispatcher_resends(
    store: NotifierStore,
) -> None:
    engine = NotificationEngine(network())
    for i in range(3):
        await feed(store, engine, case_events(case=f"c{i}"))
    first, second = Outbox(), Outbox()
    a = dispatcher(store, first, concurrency=2)
    b = dispatcher(store, second, concurrency=2)
    later = T0 + a.lease + timedelta(minutes=1)  # the first batch took longer than a lease
    task = asyncio.create_task(a.run_once(T0, Readings(T0, later)))
    while len(first.sent) < 3:  # noqa: ASYNC110 (the outbox is a plain list)
        await asyncio.sleep(0.001)
    await b.run_once(later)
    await task
    ids = Counter(m.alert_id for m in first.sent + second.sent)
    assert ids and max(ids.values()) == 1, ids


async def test_a_requeued_dead_letter_of_an_acknowledged_alert_is_not_sent(store: NotifierStore) -> None:
    engine = NotificationEngine(network())
    await feed(store, engine, case_events())

    class RefusesTheReferrer:
        name = "email"

        async def send(self, message: Message) -> None:
            if message.kind == "placement_assigned" and message.person == REF:
                raise PermanentDeliveryError("mailbox refused")

    failing = Dispatcher(
        store,
        {"email": RefusesTheReferrer()},
        address_of=lambda p: p,
        base_url="http://x",
        board_url="http://board",
        retry=RetryPolicy(attempts=1),
    )
    await failing.run_once(T0)
    dead = await store.dead_letters()
    assert [d.kind for d in dead] == ["placement_assigned"]
    other = next(
        r for r in await store.alerts("c1") if r.kind == "placement_assigned" and r.recipient == COORD
    )
    assert await store.ack(other.id, COORD, T0 + timedelta(hours=1)) is not None
    assert await store.requeue(dead[0].id, T0 + timedelta(hours=2))
    out = Outbox()
    await dispatcher(store, out).run_once(T0 + timedelta(hours=2))
    assert out.sent == []
