-- +goose Up
-- Training jobs, their numbered versions and each version's state
-- transitions. Times are unix microseconds (UTC); a time that is not set
-- yet (started_at, finished_at) is 0. A version's spec is the JSON of
-- atelier.JobSpec; exit_code is NULL until the version has one.
CREATE TABLE training_jobs (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX training_jobs_tenant_created ON training_jobs (tenant_id, created_at, id);

CREATE TABLE job_versions (
    job_id      TEXT NOT NULL,
    version_id  INTEGER NOT NULL,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    spec        TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    exit_code   INTEGER,
    handle      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    started_at  INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (job_id, version_id)
);
-- The versions that have not ended, oldest first: ActiveVersions' query
-- repeats this predicate word for word so that the index serves it.
CREATE INDEX job_versions_active ON job_versions (created_at, job_id, version_id)
    WHERE state NOT IN ('COMPLETED', 'FAILED', 'STOPPED');

CREATE TABLE job_events (
    job_id     TEXT NOT NULL,
    version_id INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    at         INTEGER NOT NULL,
    PRIMARY KEY (job_id, version_id, seq)
);

-- +goose Down
DROP TABLE job_events;
DROP TABLE job_versions;
DROP TABLE training_jobs;
