-- A row the broker refuses for good (too large, an invalid topic) is moved aside, not retried
-- forever: marked poisoned with the reason, announced on the dead-letter topic. The relay and the
-- backlog metrics read the rows neither published nor poisoned, through the partial index.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS poisoned_at timestamptz;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS poison_reason text;
DROP INDEX IF EXISTS outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL AND poisoned_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_poisoned ON outbox (poisoned_at) WHERE poisoned_at IS NOT NULL;
