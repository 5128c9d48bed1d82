-- +goose Up
-- Times are unix microseconds (UTC). Names and object keys use the "C"
-- collation so that they compare byte-wise, which object listing relies on.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL,
    email               TEXT NOT NULL,
    name                TEXT COLLATE "C" NOT NULL,
    display_name        TEXT NOT NULL DEFAULT '',
    mobile              TEXT NOT NULL DEFAULT '',
    role                TEXT NOT NULL,
    status              TEXT NOT NULL,
    password_hash       TEXT NOT NULL DEFAULT '',
    password_changed_at BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (tenant_id, email),
    UNIQUE (tenant_id, name)
);
CREATE INDEX users_email ON users (email);

CREATE TABLE apps (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL UNIQUE,
    name       TEXT COLLATE "C" NOT NULL,
    built_in   BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    access_key TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_access_key ON tokens (access_key) WHERE access_key <> '';

CREATE TABLE api_keys (
    access_key  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (tenant_id, user_id, created_at);

CREATE TABLE buckets (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE objects (
    bucket_id     TEXT NOT NULL REFERENCES buckets (id) ON DELETE RESTRICT,
    object_key    TEXT COLLATE "C" NOT NULL,
    blob_key      TEXT NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (bucket_id, object_key)
);

CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    bucket_id  TEXT NOT NULL,
    object_key TEXT NOT NULL,
    blob_key   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_updated_at ON uploads (updated_at);

CREATE TABLE blob_deletions (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    blob_key  TEXT NOT NULL UNIQUE,
    queued_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE blob_deletions;
DROP TABLE uploads;
DROP TABLE objects;
DROP TABLE buckets;
DROP TABLE api_keys;
DROP TABLE tokens;
DROP TABLE apps;
DROP TABLE users;
DROP TABLE tenants;
