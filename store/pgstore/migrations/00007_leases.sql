-- +goose Up
-- Named leases (store.LeaseStore), e.g. the leader lease. Times are unix
-- microseconds (UTC).
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE leases;
