-- +goose Up
-- ListModels' sort indexes carry the status, version and folded name that
-- the list filters on most, after their keys: SQLite tests those filters on
-- the index entries and reads only the rows that match (a name filter no
-- longer reads every row of the tenant), and counts the matches from an
-- index alone.
DROP INDEX models_by_created;
DROP INDEX models_by_version;
DROP INDEX models_by_size;
CREATE INDEX models_by_created ON models (tenant_id, workspace_id, created_at, id, status, version, name_fold);
CREATE INDEX models_by_version ON models (tenant_id, workspace_id, version_key, id, status, version, name_fold);
CREATE INDEX models_by_size ON models (tenant_id, workspace_id, size, id, status, version, name_fold);

-- The number of models of each workspace, kept by CreateModel and
-- DeleteModel in their transactions: an unfiltered list counts its matches
-- by reading one row instead of every model of the workspace.
CREATE TABLE model_counts (
    tenant_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    models       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, workspace_id)
);
INSERT INTO model_counts (tenant_id, workspace_id, models)
    SELECT tenant_id, workspace_id, COUNT(*) FROM models GROUP BY tenant_id, workspace_id;

-- +goose Down
DROP TABLE model_counts;
DROP INDEX models_by_created;
DROP INDEX models_by_version;
DROP INDEX models_by_size;
CREATE INDEX models_by_created ON models (tenant_id, workspace_id, created_at, id);
CREATE INDEX models_by_version ON models (tenant_id, workspace_id, version_key, id);
CREATE INDEX models_by_size ON models (tenant_id, workspace_id, size, id);
