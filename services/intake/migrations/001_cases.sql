-- Intake owns the cases. Identity data (birth date, time-out address) lives in `identities`
-- only; every other table and every event uses the pseudonymous case id.
CREATE TABLE identities (
    case_id         text PRIMARY KEY,
    birth_date      date NOT NULL,
    timeout_address text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cases (
    case_id         text PRIMARY KEY REFERENCES identities (case_id),
    kind            text        NOT NULL,
    home_region     text        NOT NULL,
    referrer        text        NOT NULL,
    urgency         text        NOT NULL,
    received_at     timestamp   NOT NULL,
    request_hash    text        NOT NULL,
    closed          text,               -- NULL, 'closed' or 'withdrawn'
    stay            jsonb,
    timeouts        jsonb       NOT NULL DEFAULT '[]',
    meetings        jsonb       NOT NULL DEFAULT '[]',
    waiting_reason  text,
    expected_start  date,
    refusals        jsonb       NOT NULL DEFAULT '[]',
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE case_events (
    id          bigserial PRIMARY KEY,
    case_id     text        NOT NULL REFERENCES cases (case_id),
    type        text        NOT NULL,
    at          timestamp   NOT NULL,
    body        jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_events_case ON case_events (case_id, id);

-- Who read or changed which case (AVG/GDPR accountability).
CREATE TABLE access_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,
    case_id text        NOT NULL,
    action  text        NOT NULL
);
