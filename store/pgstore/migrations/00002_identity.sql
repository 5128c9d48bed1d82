-- +goose Up
-- Identity: tenant settings, organizations, app registration and grants,
-- login security state, one-time-code challenges, id_token signing keys and
-- the audit log. Times are unix microseconds (UTC).
ALTER TABLE tenants ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tenants ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;

ALTER TABLE users ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN password_history TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
CREATE INDEX users_org ON users (org_id) WHERE org_id <> '';

CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    parent_id  TEXT NOT NULL DEFAULT '',
    name       TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, parent_id, name)
);
CREATE INDEX orgs_parent ON orgs (parent_id);

ALTER TABLE apps ADD COLUMN isv BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE apps ADD COLUMN access TEXT NOT NULL DEFAULT 'all';
ALTER TABLE apps ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN id_token_ttl BIGINT NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN secret_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX apps_tenant ON apps (tenant_id);

CREATE TABLE app_grants (
    app_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);
CREATE INDEX app_grants_user ON app_grants (user_id);

ALTER TABLE tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN data TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE challenges (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    channel    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    attempts   BIGINT NOT NULL,
    sends      BIGINT NOT NULL,
    sent_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX challenges_expires_at ON challenges (expires_at);

CREATE TABLE signing_keys (
    id         TEXT PRIMARY KEY,
    sealed     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    tenant_id  TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT COLLATE "C" NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    ip         TEXT NOT NULL,
    device     TEXT NOT NULL,
    client_id  TEXT NOT NULL
);
CREATE INDEX audit_events_tenant_at ON audit_events (tenant_id, at, id);
CREATE INDEX audit_events_at ON audit_events (at, id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE challenges;
DROP INDEX tokens_user;
ALTER TABLE tokens DROP COLUMN data;
ALTER TABLE tokens DROP COLUMN purpose;
DROP TABLE app_grants;
DROP INDEX apps_tenant;
ALTER TABLE apps DROP COLUMN updated_at;
ALTER TABLE apps DROP COLUMN secret_hash;
ALTER TABLE apps DROP COLUMN id_token_ttl;
ALTER TABLE apps DROP COLUMN redirect_uris;
ALTER TABLE apps DROP COLUMN access;
ALTER TABLE apps DROP COLUMN isv;
DROP TABLE orgs;
DROP INDEX users_org;
ALTER TABLE users DROP COLUMN locked_until;
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN totp_enabled;
ALTER TABLE users DROP COLUMN totp_secret;
ALTER TABLE users DROP COLUMN mfa;
ALTER TABLE users DROP COLUMN must_change_password;
ALTER TABLE users DROP COLUMN password_history;
ALTER TABLE users DROP COLUMN org_id;
ALTER TABLE tenants DROP COLUMN updated_at;
ALTER TABLE tenants DROP COLUMN settings;
