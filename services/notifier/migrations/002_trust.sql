-- Trust (issue 8): who may read a case here, acknowledge links that work once, and no family
-- address anywhere in the notifier's tables.

-- Who a case concerns (shared/access.py, read_case): its home region and the people working on
-- it, as the events the notifier consumes told them. Filled from the engine's state kept so far.
CREATE TABLE notifier_case_scope (
    case_id           text PRIMARY KEY,
    home_region       text,
    referrer          text,
    therapist         text,
    trajectbegeleider text
);
INSERT INTO notifier_case_scope (case_id, home_region, referrer, therapist, trajectbegeleider)
SELECT case_id,
       state->>'home_region',
       state->>'referrer',
       coalesce(state->'placement'->>'therapist', state->>'therapist_hint'),
       coalesce(state->'placement'->>'trajectbegeleider', state->>'trajectbegeleider_hint')
FROM notifier_case_state
WHERE jsonb_typeof(state) = 'object';

-- The acknowledge link of each message: its own credential, so only a hash of its token is kept,
-- with its expiry; `used_at` makes it work once.
CREATE TABLE notifier_ack_link (
    token_hash bytea PRIMARY KEY,
    alert_id   bigint NOT NULL REFERENCES notifier_alert (id),
    expires_at timestamp NOT NULL,
    used_at    timestamp
);
CREATE INDEX notifier_ack_link_alert ON notifier_ack_link (alert_id);

-- The tokens kept in clear until now: the links already mailed keep working, as hashes, for the
-- default 14 days after they were sent.
INSERT INTO notifier_ack_link (token_hash, alert_id, expires_at)
SELECT sha256(convert_to(token, 'UTF8')), id, sent_at + interval '14 days'
FROM notifier_alert
WHERE sent_at IS NOT NULL AND status IN ('sent', 'acked');
ALTER TABLE notifier_alert DROP COLUMN token;

-- The family's time-out address is intake's alone: it no longer comes here, and what came before
-- goes. Message texts that may show it (the rule that carried it, or any text holding a case's
-- stored address) are replaced; the engine's state keeps only that intake holds one.
UPDATE notifier_alert a
SET payload = jsonb_set(
        a.payload,
        '{text}',
        to_jsonb('A time-out was requested for case ' || a.case_id || '. The family uses the time-out'
                 || ' address in its own informal network; the therapist finds it at intake, on the'
                 || ' time-out address page of the case.'))
WHERE a.payload ? 'text'
  AND (a.kind = 'timeout_informal_network'
       OR EXISTS (SELECT 1 FROM notifier_case_state s
                  WHERE s.case_id = a.case_id
                    AND jsonb_typeof(s.state) = 'object'
                    AND coalesce(s.state->>'timeout_address', '') <> ''
                    AND strpos(a.payload->>'text', s.state->>'timeout_address') > 0));
UPDATE notifier_case_state
SET state = (state - 'timeout_address')
            || jsonb_build_object('has_timeout_address', coalesce(state->>'timeout_address', '') <> '')
WHERE jsonb_typeof(state) = 'object' AND state ? 'timeout_address';
