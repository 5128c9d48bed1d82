-- +goose Up
-- Event callbacks: the transactional outbox, apps' subscriptions, one
-- delivery per (event, subscribed app) and each delivery's attempts. Times
-- are unix microseconds (UTC); 0 is "not set". fanned is an integer (0/1) on
-- both backends so that the partial index predicate reads the same.
CREATE TABLE outbox (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    fanned      INTEGER NOT NULL DEFAULT 0
);
-- Events waiting for fan-out: FanOut's query repeats this predicate.
CREATE INDEX outbox_unfanned ON outbox (id) WHERE fanned = 0;

CREATE TABLE callback_subscriptions (
    client_id   TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    url         TEXT NOT NULL,
    event_types TEXT NOT NULL,           -- JSON array
    ordered     BOOLEAN NOT NULL DEFAULT FALSE,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    encrypted   BOOLEAN NOT NULL DEFAULT FALSE,
    sealed      TEXT NOT NULL,
    sealed_next TEXT NOT NULL DEFAULT '',
    next_at     BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX callback_subscriptions_tenant ON callback_subscriptions (tenant_id);

CREATE TABLE callback_deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    client_id       TEXT COLLATE "C" NOT NULL,
    tenant_id       TEXT NOT NULL,
    event_id        BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    lease_token     TEXT NOT NULL DEFAULT '',
    last_status     BIGINT NOT NULL DEFAULT 0,
    last_reply      TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    delivered_at    BIGINT NOT NULL DEFAULT 0,
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
    delivery_id TEXT COLLATE "C" NOT NULL,
    n           BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    status      BIGINT NOT NULL DEFAULT 0,
    reply       TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    ok          BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (delivery_id, n)
);

-- +goose Down
DROP TABLE callback_attempts;
DROP TABLE callback_deliveries;
DROP TABLE callback_subscriptions;
DROP TABLE outbox;
