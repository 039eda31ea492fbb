"""Health that tells the truth: `/healthz` (alive: 200 unless down) and `/readyz` (200 only when ok)
say `degraded` when the outbox is stuck or the last re-plan failed, and the gauges say why."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from services.intake.app import create_app as intake_app
from services.notifier.app import create_app as notifier_app
from services.scheduler.app import create_app as scheduler_app
from shared.settings import ServiceSettings
from tests.component.conftest import NOW, Running, eventually, running


def sample(metrics: str, name: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def health(svc: Running) -> tuple[int, dict[str, Any], int]:
    alive = await svc.http.get("/healthz")
    ready = await svc.http.get("/readyz")
    return alive.status_code, alive.json(), ready.status_code


async def test_a_stuck_outbox_degrades_readiness_but_not_liveness(service_settings: ServiceSettings) -> None:
    async with running(
        intake_app, service_settings.model_copy(update={"outbox_stuck_seconds": 60}), NOW
    ) as svc:
        code, body, ready = await health(svc)
        assert (code, ready) == (200, 200), body
        assert body["status"] == "ok" and body["database"] == "ok" and body["broker"] == "ok"
        assert body["checks"]["outbox"] == "ok" and body["service"] == "intake"

        # An old row the relay cannot take (another transaction holds it): stuck.
        conn = await asyncpg.connect(svc.dsn)
        try:
            async with conn.transaction():
                event_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO outbox (event_id, topic, key, payload, created_at)"
                    " VALUES ($1, $2, 'c-1', $3::jsonb, now() - interval '5 minutes')",
                    event_id,
                    svc.topic("stuck.v1"),
                    json.dumps({"event_id": str(event_id)}),
                )
            await conn.execute("BEGIN")
            await conn.execute("SELECT 1 FROM outbox WHERE event_id = $1 FOR UPDATE", event_id)
            code, body, ready = await health(svc)
            assert (code, ready) == (200, 503), body
            assert body["status"] == "degraded" and body["checks"]["outbox"].startswith("stuck: 1 events")
            metrics = (await svc.http.get("/metrics")).text
            assert sample(metrics, "thuisbest_outbox_backlog_rows") == 1
            assert (sample(metrics, "thuisbest_outbox_oldest_age_seconds") or 0) >= 300
            await conn.execute("ROLLBACK")
        finally:
            await conn.close()
        svc.app.state.runtime.relay.kick()
        await eventually(lambda: health(svc), lambda h: h[2] == 200, what="ready again")
        metrics = (await svc.http.get("/metrics")).text
        assert sample(metrics, "thuisbest_outbox_backlog_rows") == 0
        assert sample(metrics, "thuisbest_outbox_oldest_age_seconds") == 0


async def test_a_failed_replan_degrades_the_scheduler_until_one_succeeds(
    service_settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(scheduler_app, service_settings, NOW) as svc:
        planner = svc.app.state.planner
        await eventually(lambda: health(svc), lambda h: h[2] == 200, what="ready")

        def broken(*_: Any) -> Any:
            raise RuntimeError("solver crashed")

        # on the class: a failed re-plan restores the core from its snapshot (a new instance)
        monkeypatch.setattr(type(planner.core), "replan", broken)
        with pytest.raises(RuntimeError):
            await planner.replan()
        code, body, ready = await health(svc)
        assert (code, ready) == (200, 503), body
        assert body["status"] == "degraded" and "solver crashed" in body["checks"]["replan"]
        metrics = (await svc.http.get("/metrics")).text
        assert sample(metrics, "thuisbest_last_replan_failed") == 1
        assert (sample(metrics, "thuisbest_replan_failures_total") or 0) >= 1
        assert sample(metrics, "thuisbest_longest_wait_days") == 0
        assert sample(metrics, "thuisbest_machtiging_lapsing_unplaced") == 0

        monkeypatch.undo()
        await planner.replan()
        code, body, ready = await health(svc)
        assert (code, ready) == (200, 200) and body["checks"]["replan"] == "ok", body
        assert sample((await svc.http.get("/metrics")).text, "thuisbest_last_replan_failed") == 0


@pytest.mark.parametrize(
    ("factory", "names"),
    [
        (intake_app, ["thuisbest_referral_decision_seconds_bucket"]),
        (notifier_app, ["thuisbest_notification_escalations_exhausted"]),
    ],
)
async def test_the_platform_and_service_gauges_are_on_metrics(
    service_settings: ServiceSettings, factory: Any, names: list[str]
) -> None:
    platform = [
        "thuisbest_outbox_backlog_rows",
        "thuisbest_outbox_oldest_age_seconds",
    ]
    async with running(factory, service_settings, NOW) as svc:
        await eventually(lambda: health(svc), lambda h: h[2] == 200, what="ready")
        metrics = (await svc.http.get("/metrics")).text
        for name in platform + names:
            assert name in metrics, name
