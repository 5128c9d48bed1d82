-- +goose Up
-- Event callbacks: the transactional outbox, apps' subscriptions, one
-- delivery per (event, subscribed app) and each delivery's attempts. Times
-- are unix microseconds (UTC); 0 is "not set".
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    fanned      INTEGER NOT NULL DEFAULT 0
);
-- Events waiting for fan-out: FanOut's query repeats this predicate.
CREATE INDEX outbox_unfanned ON outbox (id) WHERE fanned = 0;

CREATE TABLE callback_subscriptions (
    client_id   TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    url         TEXT NOT NULL,
    event_types TEXT NOT NULL,           -- JSON array
    ordered     INTEGER NOT NULL DEFAULT 0,
    enabled     INTEGER NOT NULL DEFAULT 1,
    encrypted   INTEGER NOT NULL DEFAULT 0,
    sealed      TEXT NOT NULL,
    sealed_next TEXT NOT NULL DEFAULT '',
    next_at     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX callback_subscriptions_tenant ON callback_subscriptions (tenant_id);

CREATE TABLE callback_deliveries (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    event_id        INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    lease_token     TEXT NOT NULL DEFAULT '',
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_reply      TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (client_id, event_id)
);
-- Claims: the apps with PENDING deliveries (a seek per app), an app's due
-- deliveries oldest event first (next_attempt_at filters in the index) and
-- the deliveries in flight; an app's listing by state and the counts by
-- state.
CREATE INDEX callback_deliveries_due ON callback_deliveries (state, client_id, event_id, next_attempt_at);
-- Per-subject ordering: an earlier delivery of the subject still to go.
CREATE INDEX callback_deliveries_subject ON callback_deliveries (client_id, subject, state, event_id);
-- Whether an outbox event still has deliveries (PruneCallbacks).
CREATE INDEX callback_deliveries_event ON callback_deliveries (event_id);

CREATE TABLE callback_attempts (
    delivery_id TEXT NOT NULL,
    n           INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    status      INTEGER NOT NULL DEFAULT 0,
    reply       TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    ok          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (delivery_id, n)
);

-- +goose Down
DROP TABLE callback_attempts;
DROP TABLE callback_deliveries;
DROP TABLE callback_subscriptions;
DROP TABLE outbox;
