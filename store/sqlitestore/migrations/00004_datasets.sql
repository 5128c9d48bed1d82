-- +goose Up
-- Datasets, their samples, versions (snapshots of the samples) and import
-- and export tasks. Times are unix microseconds (UTC). Labels, schemas,
-- annotations and task errors are JSON text. A dataset keeps its sample
-- counters (sample_count, annotated_count) and the sequence its next sample
-- id is drawn from (next_sample), updated in the transactions that change
-- its samples.
CREATE TABLE datasets (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    data_type          TEXT NOT NULL,
    dataset_type       INTEGER NOT NULL,
    data_path          TEXT NOT NULL,
    work_path          TEXT NOT NULL,
    labels             TEXT NOT NULL DEFAULT '[]',
    schema_columns     TEXT NOT NULL DEFAULT '[]',
    with_column_header INTEGER NOT NULL DEFAULT 0,
    sample_count       INTEGER NOT NULL DEFAULT 0,
    annotated_count    INTEGER NOT NULL DEFAULT 0,
    next_sample        INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Sample ids are the dataset's sequence, zero-padded, so they sort in
-- insertion order and page by keyset. source_key makes a re-import skip
-- the sources the dataset has: the source itself when it is at most 255
-- bytes long, else its first 200 bytes and its SHA-256, so that index
-- entries stay small however long a text sample is, and sorted sources are
-- inserted in index order.
CREATE TABLE samples (
    dataset_id  TEXT NOT NULL,
    id          TEXT NOT NULL,
    source      TEXT NOT NULL,
    source_key  TEXT NOT NULL,
    usage       TEXT NOT NULL DEFAULT '',
    annotations TEXT NOT NULL DEFAULT '[]',
    labels      TEXT NOT NULL DEFAULT '[]',
    labelled    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, id),
    UNIQUE (dataset_id, source_key)
);
CREATE INDEX samples_labelled ON samples (dataset_id, labelled, id);
CREATE INDEX samples_usage ON samples (dataset_id, usage, id);

-- The label filter's index: one row per (sample, label name).
CREATE TABLE sample_labels (
    dataset_id TEXT NOT NULL,
    label      TEXT NOT NULL,
    sample_id  TEXT NOT NULL,
    PRIMARY KEY (dataset_id, label, sample_id)
) WITHOUT ROWID;

CREATE TABLE dataset_versions (
    id            TEXT PRIMARY KEY,
    dataset_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    ratio         REAL NOT NULL DEFAULT 0,
    sample_count  INTEGER NOT NULL DEFAULT 0,
    manifest_path TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (dataset_id, seq)
);

-- A version's snapshot of the samples, as they were when it was created.
CREATE TABLE version_samples (
    version_id  TEXT NOT NULL,
    sample_id   TEXT NOT NULL,
    dataset_id  TEXT NOT NULL,
    source      TEXT NOT NULL,
    usage       TEXT NOT NULL DEFAULT '',
    annotations TEXT NOT NULL DEFAULT '[]',
    labels      TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (version_id, sample_id)
);

CREATE TABLE import_tasks (
    id         TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL,
    path       TEXT NOT NULL,
    format     TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL,
    imported   INTEGER NOT NULL DEFAULT 0,
    rejected   INTEGER NOT NULL DEFAULT 0,
    errors     TEXT NOT NULL DEFAULT '[]',
    cursor     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX import_tasks_dataset ON import_tasks (dataset_id, created_at, id);
-- The tasks to resume, oldest first: ActiveImportTasks' query repeats this
-- predicate word for word so that the index serves it.
CREATE INDEX import_tasks_active ON import_tasks (created_at, id)
    WHERE state IN ('QUEUED', 'RUNNING');

CREATE TABLE export_tasks (
    id         TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    path       TEXT NOT NULL,
    state      TEXT NOT NULL,
    exported   INTEGER NOT NULL DEFAULT 0,
    error      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX export_tasks_dataset ON export_tasks (dataset_id, created_at, id);

-- +goose Down
DROP TABLE export_tasks;
DROP TABLE import_tasks;
DROP TABLE version_samples;
DROP TABLE dataset_versions;
DROP TABLE sample_labels;
DROP TABLE samples;
DROP TABLE datasets;
