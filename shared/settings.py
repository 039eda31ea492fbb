"""Service settings, read from THUISBEST_* environment variables by pydantic-settings in each app factory."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_NETWORK = Path(__file__).parent / "data" / "demo-network.json"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THUISBEST_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    network_file: Path = DEMO_NETWORK
    http_host: str = "127.0.0.1"
    http_port: int = 0  # 0: the service's own default port
    base_url: str = ""  # public URL of this service, for links in messages
    intake_url: str = ""  # public URL of intake: messages link to its time-out address page
    # Public URL of the board (the coordinators' pages): mail links to its case and alert pages.
    board_url: str = ""
    # The board reads and writes through the other services (their URLs as the board reaches them).
    scheduler_url: str = ""
    notifier_url: str = ""
    # Board sign-in. Production: OpenID Connect authorization code flow with PKCE against
    # `auth_issuer` as this client. The embedded default: one-time sign-in links
    # (`thuisbest login`), and the board signs the person's API tokens with the issuer in
    # `board_issuer_dir`.
    oidc_client_id: str = ""
    oidc_client_secret: str = Field("", repr=False)
    oidc_scopes: str = "openid profile"
    # Where the board reads the provider's endpoints; default: `auth_issuer`'s discovery document.
    # Inside a container network it is the provider's internal address (Keycloak then answers the
    # browser's authorization endpoint at its public name, the token endpoint at the internal one).
    oidc_discovery_url: str = ""
    board_issuer_dir: Path | None = None  # the embedded issuer's folder (signing-key.pem)
    board_session_hours: float = Field(10.0, gt=0, le=24)  # a working day; then sign in again
    board_idle_minutes: float = Field(60.0, gt=0)  # a session unused this long ends
    topic_prefix: str = ""  # tests run several stacks on one broker, each with its own topics
    # Consumer group tuning. A restarted consumer waits until the dead member's session has
    # expired; `thuisbest up` sets 1000/200 for the embedded broker (measured: rejoin in ~1 s),
    # Apache Kafka refuses sessions under its group.min.session.timeout.ms (6 s by default).
    kafka_session_timeout_ms: int = 10000
    kafka_heartbeat_interval_ms: int = 3000
    kafka_rebalance_timeout_ms: int = 10000
    kafka_max_poll_interval_ms: int = 60000
    # How long a fetch may wait for new messages: short, so that a decision follows its referral
    # within a second even where the broker answers a fetch only when this wait ends (tansu).
    kafka_fetch_max_wait_ms: int = Field(50, ge=1, le=500)
    outbox_poll_seconds: float = 0.2
    # Health: degraded (503 on /readyz) when an unpublished outbox row is older than this, or a
    # consumer is more than this many messages behind on a topic.
    outbox_stuck_seconds: float = Field(60.0, gt=0)
    consumer_lag_max: int = Field(1000, ge=0)
    # The largest request body any service reads (bytes); a larger one is refused with a 413.
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Scheduler
    replan_debounce_seconds: float = 0.3
    # A new case gets its first decision at once (`Scheduler._decide_now`); a running re-plan holds
    # the planner for up to this long, so it bounds the referral-to-decision time (p99 <= 1 s).
    solver_time_limit_seconds: float = 0.5
    # A placement is promised (announced) when its start is this many days away or less; further
    # out a case waits with an expected start (see services/scheduler/core/scheduler.py).
    promise_days: int = Field(7, ge=0, le=180)
    # Notifier
    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str = "ThuisBest <noreply@thuisbest.invalid>"
    mail_dir: Path | None = None  # embedded default: write mail as .eml files here
    webhook_url: str | None = None
    webhook_secret: str = Field("", repr=False)  # required outside the embedded default
    dispatch_poll_seconds: float = 0.5
    rules_file: Path | None = None  # notifier: the rules as data (default: the shipped rules.yaml)
    shutdown_grace_seconds: float = 20.0  # how long a stopping notifier lets a sending run finish

    # Who is asking: bearer tokens (JWT) of an OpenID Connect issuer. The signing keys come from
    # `auth_jwks_file` (the embedded default: `thuisbest up` is the issuer), else from
    # `auth_jwks_url`, else from the issuer's discovery document.
    auth_issuer: str = ""
    auth_audience: str = "thuisbest-api"
    auth_person_claim: str = "sub"  # the claim that names the person (a person id of the network)
    auth_jwks_file: Path | None = None
    auth_jwks_url: str = ""
    auth_algorithms: list[str] = ["ES256", "RS256"]
    auth_leeway_seconds: int = 30  # clock skew tolerated on exp/nbf/iat
    metrics_require_token: bool = False  # True: /metrics needs an ops person's token
    cors_origins: list[str] = []  # no CORS unless origins are configured
    # The embedded default (`thuisbest up`) on one machine; False refuses weak secrets at start.
    embedded: bool = False
    # Audit trail (NEN 7513): kept this many days (20 years by default), then purged.
    audit_retention_days: int = Field(7305, ge=365)
    # Intake's identity store: AES-256-GCM keys, one per line as `key-id:base64 of 32 bytes`; the
    # first line encrypts, every line decrypts (rotation: put a new key first, restart).
    identity_key_file: Path | None = None
    # Notifier: how long the acknowledge link in a mail works (single use).
    ack_token_days: int = Field(14, ge=1, le=90)

    def topic(self, name: str) -> str:
        return self.topic_prefix + name
