"""Prometheus metrics of the notifier: sent, escalated, failed, dead-lettered, open and acknowledged."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


class NotifierMetrics:
    """One set per registry (tests pass their own; the service uses the default registry once)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else REGISTRY
        self.sent = Counter(
            "thuisbest_notifications_sent",
            "Notifications delivered, by kind and channel",
            ["kind", "channel"],
            registry=registry,
        )
        self.escalations = Counter(
            "thuisbest_notification_escalations",
            "Escalation notices delivered, by rule and level",
            ["kind", "level"],
            registry=registry,
        )
        self.failures = Counter(
            "thuisbest_notification_delivery_failures",
            "Failed delivery attempts, by channel",
            ["channel"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "thuisbest_notification_dead_letters",
            "Notifications given up after all retries, by channel",
            ["channel"],
            registry=registry,
        )
        self.open_alerts = Gauge(
            "thuisbest_notification_open_alerts",
            "Escalating alerts under way: sent, further levels pending, not acknowledged",
            registry=registry,
        )
        self.escalations_exhausted = Gauge(
            "thuisbest_notification_escalations_exhausted",
            "Alerts still unacknowledged after their last escalation level went out",
            registry=registry,
        )
        self.time_to_ack = Histogram(
            "thuisbest_notification_time_to_ack_seconds",
            "From the first notice of an alert to its acknowledgement",
            buckets=(300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 7 * 86400),
            registry=registry,
        )


_default: NotifierMetrics | None = None


def default_metrics() -> NotifierMetrics:
    """The process-wide metrics on the default registry, created on first use."""
    global _default
    if _default is None:
        _default = NotifierMetrics()
    return _default
