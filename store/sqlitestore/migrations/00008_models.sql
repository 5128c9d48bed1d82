-- +goose Up
-- The model registry and inference services (CONTRACT §7). Times are unix
-- microseconds (UTC); a time that is not set yet (an instance's started_at)
-- is 0.
--
-- Workspaces: the default workspace "0" of every tenant is implicit and
-- never stored.
CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Models: one row per version. name_fold and description_fold are the
-- lower-cased name and description (Go's strings.ToLower, the same on every
-- backend) that the list's substring filters match. version_key is the
-- version's sort key: each run of digits compares as a number ("0.0.9" <
-- "0.0.10"), everything else byte-wise. input_params, output_params,
-- dependencies and apis hold the caller's JSON as is ('' for none).
CREATE TABLE models (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    workspace_id       TEXT NOT NULL,
    name               TEXT NOT NULL,
    version            TEXT NOT NULL,
    name_fold          TEXT NOT NULL,
    version_key        TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    description_fold   TEXT NOT NULL DEFAULT '',
    source_location    TEXT NOT NULL DEFAULT '',
    source_job_id      TEXT NOT NULL DEFAULT '',
    source_job_version TEXT NOT NULL DEFAULT '',
    model_type         TEXT NOT NULL DEFAULT '',
    runtime            TEXT NOT NULL DEFAULT '',
    execution_code     TEXT NOT NULL DEFAULT '',
    input_params       TEXT NOT NULL DEFAULT '',
    output_params      TEXT NOT NULL DEFAULT '',
    dependencies       TEXT NOT NULL DEFAULT '',
    apis               TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL,
    reason             TEXT NOT NULL DEFAULT '',
    handler            TEXT NOT NULL DEFAULT '',
    size               INTEGER NOT NULL DEFAULT 0,
    digest             TEXT NOT NULL DEFAULT '',
    owner              TEXT NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (tenant_id, workspace_id, name, version)
);
-- One index per sort of ListModels, ties by id: a page is a walk of one
-- index from either end, whatever the sort and order.
CREATE INDEX models_by_created ON models (tenant_id, workspace_id, created_at, id);
CREATE INDEX models_by_version ON models (tenant_id, workspace_id, version_key, id);
CREATE INDEX models_by_size ON models (tenant_id, workspace_id, size, id);

-- Services: configs is the JSON of []atelier.ServiceConfig, the model
-- names and versions included (a model's name and version never change,
-- and a model in use cannot be deleted).
CREATE TABLE services (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    name_fold    TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    infer_type   TEXT NOT NULL DEFAULT '',
    configs      TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    generation   INTEGER NOT NULL DEFAULT 0,
    owner        TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX services_by_created ON services (tenant_id, created_at, id);
-- The services that are not stopped, oldest first: ActiveServices' query
-- repeats this predicate word for word so that the index serves it.
CREATE INDEX services_active ON services (created_at, id) WHERE status <> 'stopped';

-- The models a service's configs name, kept by CreateService and
-- UpdateService: ON DELETE RESTRICT makes deleting a model in use fail in
-- the database, whatever races it.
CREATE TABLE service_models (
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    model_id   TEXT NOT NULL REFERENCES models (id) ON DELETE RESTRICT,
    PRIMARY KEY (service_id, model_id)
);
CREATE INDEX service_models_by_model ON service_models (model_id);

-- A service's instance records (the address is not stored: a re-adopted
-- instance's comes from its handle).
CREATE TABLE service_instances (
    service_id   TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    instance_id  TEXT NOT NULL,
    config_index INTEGER NOT NULL,
    model_id     TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    status       TEXT NOT NULL,
    restarts     INTEGER NOT NULL DEFAULT 0,
    reason       TEXT NOT NULL DEFAULT '',
    handle       TEXT NOT NULL DEFAULT '',
    started_at   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (service_id, instance_id)
);

-- +goose Down
DROP TABLE service_instances;
DROP TABLE service_models;
DROP TABLE services;
DROP TABLE models;
DROP TABLE workspaces;
