-- The notifier's own tables: events seen, per-case engine state, alerts (durable timers), deliveries,
-- acknowledgements and dead letters. Times are local Europe/Amsterdam wall times (timestamp without
-- time zone), as everywhere in ThuisBest's events.

CREATE TABLE notifier_event (
    event_id    uuid PRIMARY KEY,
    case_id     text NOT NULL,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- The pure engine's facts and timers of one case, between events.
CREATE TABLE notifier_case_state (
    case_id    text PRIMARY KEY,
    state      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per notice: to one person, at one level, on one channel. `key` is the dedupe key
-- (rule|case|deadline|person|level|channel); `alert` (rule|case|deadline) is what an
-- acknowledgement stops. A pending row is a durable timer: the dispatcher sends it at due_at.
CREATE TABLE notifier_alert (
    id              bigserial PRIMARY KEY,
    key             text NOT NULL UNIQUE,
    alert           text NOT NULL,
    case_id         text NOT NULL,
    kind            text NOT NULL,
    recipient       text NOT NULL,
    channel         text NOT NULL,
    level           integer NOT NULL,
    due_at          timestamp NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'acked', 'cancelled', 'dead')),
    token           text NOT NULL,
    payload         jsonb NOT NULL,
    claimed_until   timestamp,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    sent_at         timestamp,
    acked_at        timestamp,
    acked_by        text,
    cancelled_at    timestamp,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifier_alert_due ON notifier_alert (due_at, id) WHERE status = 'pending';
CREATE INDEX notifier_alert_case ON notifier_alert (case_id, due_at);
CREATE INDEX notifier_alert_alert ON notifier_alert (alert);

CREATE TABLE notifier_delivery (
    id        bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES notifier_alert (id),
    at        timestamp NOT NULL,
    channel   text NOT NULL,
    attempts  integer NOT NULL,
    ok        boolean NOT NULL,
    error     text
);
CREATE INDEX notifier_delivery_alert ON notifier_delivery (alert_id);

CREATE TABLE notifier_ack (
    alert     text PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES notifier_alert (id),
    acked_by  text NOT NULL,
    acked_at  timestamp NOT NULL
);

CREATE TABLE notifier_dead_letter (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES notifier_alert (id),
    case_id     text NOT NULL,
    kind        text NOT NULL,
    recipient   text NOT NULL,
    channel     text NOT NULL,
    attempts    integer NOT NULL,
    reason      text NOT NULL,
    at          timestamp NOT NULL,
    requeued_at timestamp
);
