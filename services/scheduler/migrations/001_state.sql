-- The scheduler's state: one snapshot of the planning core, written in the same transaction
-- as the decisions it published (outbox) and the events it consumed (processed_events).
CREATE TABLE planner_state (
    id         int PRIMARY KEY CHECK (id = 1),
    snapshot   jsonb       NOT NULL,
    saved_at   timestamptz NOT NULL DEFAULT now()
);

-- Capacity changes announced through the API, kept so that a restart replays them.
CREATE TABLE capacity_changes (
    id         bigserial PRIMARY KEY,
    group_id   text        NOT NULL,
    beds       int         NOT NULL,
    from_day   date        NOT NULL,
    until_day  date        NOT NULL,
    at         timestamp   NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
