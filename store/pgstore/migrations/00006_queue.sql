-- +goose Up
-- The durable queue (store.QueueStore). Times are unix microseconds (UTC);
-- 0 is "not set".
CREATE TABLE queue_items (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    args         TEXT NOT NULL,           -- JSON
    queue        TEXT NOT NULL,
    priority     INTEGER NOT NULL,
    state        TEXT NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    errors       TEXT NOT NULL DEFAULT '[]', -- JSON array of the last failures
    unique_key   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    finalized_at BIGINT NOT NULL DEFAULT 0
);
-- Claims walk a queue's due items in claim order (the queue leads, so that
-- an equality picks this index even before the table has statistics); the
-- claim repeats the predicate.
CREATE INDEX queue_items_due ON queue_items (queue, priority, scheduled_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
-- Running items by lease end: the expired ones are claimable again.
CREATE INDEX queue_items_lease ON queue_items (lease_until) WHERE state = 'running';
-- A unique key is unique among unfinished items.
CREATE UNIQUE INDEX queue_items_unique ON queue_items (unique_key)
    WHERE unique_key <> '' AND state IN ('available', 'scheduled', 'running', 'retryable');
-- Every claim and finish updates a row out of the due index; vacuum often,
-- so that claims do not walk over the entries of items already claimed.
ALTER TABLE queue_items SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
-- Pruning finished items; partial, so that no planner takes it for a claim.
CREATE INDEX queue_items_finished ON queue_items (state, finalized_at)
    WHERE state IN ('completed', 'cancelled', 'discarded');

-- +goose Down
DROP TABLE queue_items;
