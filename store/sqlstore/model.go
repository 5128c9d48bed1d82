package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// defaultWorkspaceName is the name of the implicit workspace "0".
const defaultWorkspaceName = "default"

const workspaceCols = `id, tenant_id, name, description, created_at`

func scanWorkspace(s scanner) (*atelier.Workspace, error) {
	var w atelier.Workspace
	var created int64
	if err := s.Scan(&w.ID, &w.TenantID, &w.Name, &w.Description, &created); err != nil {
		return nil, err
	}
	w.CreatedAt = fromUS(created)
	return &w, nil
}

// CreateWorkspace inserts w and replaces its creation time by its stored
// form; ErrConflict when the id is taken or the tenant has a workspace of
// that name. The default workspace's id ("0") and name ("default") are
// always taken.
func (db *DB) CreateWorkspace(ctx context.Context, w *atelier.Workspace) error {
	const op = "create workspace"
	if w.ID == atelier.DefaultWorkspace || w.Name == defaultWorkspaceName {
		return fmt.Errorf("%s: %s: the default workspace exists: %w", db.flavor.Name, op, store.ErrConflict)
	}
	w.CreatedAt = fromUS(us(w.CreatedAt))
	_, err := db.exec(ctx, op, `INSERT INTO workspaces (`+workspaceCols+`) VALUES (?, ?, ?, ?, ?)`,
		w.ID, w.TenantID, w.Name, w.Description, us(w.CreatedAt))
	return err
}

// defaultWorkspace returns the tenant's implicit workspace "0", created
// with the tenant; ErrNotFound when the tenant does not exist.
func (db *DB) defaultWorkspace(ctx context.Context, op, tenantID string) (*atelier.Workspace, error) {
	var created int64
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT created_at FROM tenants WHERE id = ?`), tenantID).Scan(&created); err != nil {
		return nil, db.wrap(op, err)
	}
	return &atelier.Workspace{ID: atelier.DefaultWorkspace, TenantID: tenantID, Name: defaultWorkspaceName,
		CreatedAt: fromUS(created)}, nil
}

// GetWorkspace returns the tenant's workspace with the id, or ErrNotFound
// (also for another tenant's). Workspace "0" is the tenant's default,
// named "default" and created with the tenant.
func (db *DB) GetWorkspace(ctx context.Context, tenantID, id string) (*atelier.Workspace, error) {
	const op = "get workspace"
	if id == atelier.DefaultWorkspace {
		return db.defaultWorkspace(ctx, op, tenantID)
	}
	return queryOne(ctx, db, op, scanWorkspace,
		`SELECT `+workspaceCols+` FROM workspaces WHERE id = ? AND tenant_id = ?`, id, tenantID)
}

// ListWorkspaces returns the tenant's default workspace, then its other
// workspaces by name; ErrNotFound when the tenant does not exist.
func (db *DB) ListWorkspaces(ctx context.Context, tenantID string) ([]*atelier.Workspace, error) {
	const op = "list workspaces"
	def, err := db.defaultWorkspace(ctx, op, tenantID)
	if err != nil {
		return nil, err
	}
	ws, err := queryAll(ctx, db, op, scanWorkspace,
		`SELECT `+workspaceCols+` FROM workspaces WHERE tenant_id = ? ORDER BY name, id`, tenantID)
	if err != nil {
		return nil, err
	}
	return append([]*atelier.Workspace{def}, ws...), nil
}

const modelCols = `id, tenant_id, workspace_id, name, version, description, source_location, source_job_id,
	source_job_version, model_type, runtime, execution_code, input_params, output_params, dependencies, apis,
	status, reason, handler, size, digest, owner, created_at, updated_at`

func scanModel(s scanner) (*atelier.Model, error) {
	var m atelier.Model
	var in, out, deps, apis string
	var created, updated int64
	if err := s.Scan(&m.ID, &m.TenantID, &m.WorkspaceID, &m.Name, &m.Version, &m.Description, &m.SourceLocation,
		&m.SourceJobID, &m.SourceJobVersion, &m.ModelType, &m.Runtime, &m.ExecutionCode, &in, &out, &deps, &apis,
		&m.Status, &m.Reason, &m.Handler, &m.Size, &m.Digest, &m.Owner, &created, &updated); err != nil {
		return nil, err
	}
	m.InputParams, m.OutputParams, m.Dependencies, m.APIs = rawJSON(in), rawJSON(out), rawJSON(deps), rawJSON(apis)
	m.CreatedAt = fromUS(created)
	m.UpdatedAt = fromUSZ(updated)
	return &m, nil
}

// rawJSON is the inverse of the stored form of a json.RawMessage: ""
// reads back as nil.
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// roundModel replaces m's times by their stored forms and its empty JSON
// by nil, as they read back.
func roundModel(m *atelier.Model) {
	m.CreatedAt = fromUS(us(m.CreatedAt))
	m.UpdatedAt = fromUSZ(usz(m.UpdatedAt))
	for _, p := range []*json.RawMessage{&m.InputParams, &m.OutputParams, &m.Dependencies, &m.APIs} {
		if len(*p) == 0 {
			*p = nil
		}
	}
}

// fold is the form the substring filters of lists compare: lower case, the
// same on every backend (SQLite's own lower() knows only ASCII).
func fold(s string) string { return strings.ToLower(s) }

// VersionKey returns the sort key of a model version: the version with
// every run of decimal digits replaced by its value's length-prefixed form
// (leading zeros dropped), so that the keys compare byte-wise as the
// versions do with each run of digits taken as a number: "0.0.9" <
// "0.0.10" < "0.1" < "1.0.0-rc1" < "1.0.0-rc2" < "1.0.0-rc10". Everything
// else compares byte-wise, so pre-releases are not semver's ("1.0.0" <
// "1.0.0-rc1"), and versions that differ only in leading zeros ("1.01",
// "1.1") get the same key (ListModels then orders them by id).
//
// A run of n digits (after the leading zeros) is encoded as its length
// then the digits; the length is one digit '0'+n below 9, else '9'
// followed by the length of n-9, so that the lengths are prefix-free and
// sort numerically. The encoding of a run starts with a digit, so it
// compares with any other byte as the run's first digit did.
func VersionKey(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); {
		if !isDigit(v[i]) {
			b.WriteByte(v[i])
			i++
			continue
		}
		j := i
		for j < len(v) && isDigit(v[j]) {
			j++
		}
		run := strings.TrimLeft(v[i:j], "0")
		n := len(run)
		for n >= 9 {
			b.WriteByte('9')
			n -= 9
		}
		b.WriteByte(byte('0' + n))
		b.WriteString(run)
		i = j
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// likeContains returns a LIKE pattern (with ESCAPE '\') that matches the
// strings containing s literally: %, _ and \ in s are escaped.
func likeContains(s string) string {
	var b strings.Builder
	b.WriteByte('%')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || c == '_' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('%')
	return b.String()
}

// CreateModel inserts m and replaces its times by their stored forms;
// ErrConflict when the id is taken or the workspace has a model of that
// name and version. The workspace's count of models (model_counts) goes up
// in the same transaction.
func (db *DB) CreateModel(ctx context.Context, m *atelier.Model) error {
	roundModel(m)
	return db.wrap("create model", db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO models (`+modelCols+`, name_fold, version_key, description_fold)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			m.ID, m.TenantID, m.WorkspaceID, m.Name, m.Version, m.Description, m.SourceLocation, m.SourceJobID,
			m.SourceJobVersion, m.ModelType, m.Runtime, m.ExecutionCode, string(m.InputParams), string(m.OutputParams),
			string(m.Dependencies), string(m.APIs), m.Status, m.Reason, m.Handler, m.Size, m.Digest, m.Owner,
			us(m.CreatedAt), usz(m.UpdatedAt), fold(m.Name), VersionKey(m.Version), fold(m.Description))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO model_counts (tenant_id, workspace_id, models) VALUES (?, ?, 1)
			ON CONFLICT (tenant_id, workspace_id) DO UPDATE SET models = model_counts.models + 1`),
			m.TenantID, m.WorkspaceID)
		return err
	}))
}

// GetModel returns the tenant's model with the id, or ErrNotFound (also
// for another tenant's).
func (db *DB) GetModel(ctx context.Context, tenantID, id string) (*atelier.Model, error) {
	return queryOne(ctx, db, "get model", scanModel,
		`SELECT `+modelCols+` FROM models WHERE id = ? AND tenant_id = ?`, id, tenantID)
}

// modelSortColumns are the columns of each sort of ListModels; each has
// its index (tenant_id, workspace_id, column, id).
var modelSortColumns = map[string]string{
	atelier.ModelSortCreateAt: "created_at",
	atelier.ModelSortVersion:  "version_key",
	atelier.ModelSortSize:     "size",
}

// ListModels returns the page of the tenant's models that f selects, with
// the number of all that match. f is the caller's, validated; the store
// still defaults an unset workspace ("0"), sort (create_at), order (desc)
// and limit (DefaultModelPage), caps the limit at MaxModelPage and
// refuses an unknown sort or order.
//
// Name and Description match substrings of the lower-cased fields
// (strings.ToLower on both sides, every backend alike), with %, _ and \
// in the filter taken literally; Version and Status match exactly.
// model_version sorts by VersionKey: runs of digits compare as numbers.
// Ties of the sort key are ordered by id in the same direction.
//
// The count and the page are read in one read-only transaction, so that
// they agree. Without a filter but the workspace, the count is the
// workspace's counter (model_counts), one row; a filter's matches are
// counted on a sort index, whose entries carry the status, version and
// folded name (a description filter reads the rows). A page past the
// middle of the matches is read from the other end of the sort's index (in
// the opposite order, then reversed), so that the last page costs what the
// first does instead of stepping over every row before it; an offset past
// the end gives no models and the count.
func (db *DB) ListModels(ctx context.Context, tenantID string, f atelier.ModelFilter) (*atelier.ModelPage, error) {
	const op = "list models"
	col, ok := modelSortColumns[cmp.Or(f.SortBy, atelier.ModelSortCreateAt)]
	if !ok {
		return nil, fmt.Errorf("%s: %s: unknown sort %q", db.flavor.Name, op, f.SortBy)
	}
	desc := true
	switch f.Order {
	case "", "desc":
	case "asc":
		desc = false
	default:
		return nil, fmt.Errorf("%s: %s: unknown order %q", db.flavor.Name, op, f.Order)
	}
	limit := modelLimit(f.Limit)
	offset := max(f.Offset, 0)
	where, args := modelWhere(tenantID, f)

	page := &atelier.ModelPage{Models: []*atelier.Model{}}
	err := db.readTx(ctx, func(q querier) error {
		var total int64
		var err error
		if f.Name == "" && f.Description == "" && f.Version == "" && f.Status == "" {
			err = q.QueryRowContext(ctx, db.q(`SELECT COALESCE(MAX(models), 0) FROM model_counts
				WHERE tenant_id = ? AND workspace_id = ?`), args[:2]...).Scan(&total)
		} else {
			err = q.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM models WHERE `+where), args...).Scan(&total)
		}
		if err != nil {
			return err
		}
		page.TotalCount = int(total)
		n := min(limit, page.TotalCount-offset)
		if n <= 0 {
			return nil
		}
		// Read from the nearer end of the index.
		reverse := offset > page.TotalCount-offset-n
		skip := offset
		if reverse {
			skip = page.TotalCount - offset - n
		}
		dir := "ASC"
		if desc != reverse {
			dir = "DESC"
		}
		rows, err := q.QueryContext(ctx, db.q(`SELECT `+modelCols+` FROM models WHERE `+where+
			` ORDER BY `+col+` `+dir+`, id `+dir+` LIMIT ? OFFSET ?`), append(args, n, skip)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanModel(rows)
			if err != nil {
				return err
			}
			page.Models = append(page.Models, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if reverse {
			slices.Reverse(page.Models)
		}
		return nil
	})
	if err != nil {
		return nil, db.wrap(op, err)
	}
	page.Count = len(page.Models)
	return page, nil
}

// modelLimit is the page size of ListModels for the filter's limit.
func modelLimit(limit int) int {
	if limit <= 0 {
		limit = atelier.DefaultModelPage
	}
	return min(limit, atelier.MaxModelPage)
}

// modelWhere returns the WHERE clause of ListModels (its count and its
// page) and its arguments.
func modelWhere(tenantID string, f atelier.ModelFilter) (string, []any) {
	where := []string{`tenant_id = ?`, `workspace_id = ?`}
	args := []any{tenantID, cmp.Or(f.WorkspaceID, atelier.DefaultWorkspace)}
	if f.Name != "" {
		where = append(where, `name_fold LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(fold(f.Name)))
	}
	if f.Description != "" {
		where = append(where, `description_fold LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(fold(f.Description)))
	}
	if f.Version != "" {
		where = append(where, `version = ?`)
		args = append(args, f.Version)
	}
	if f.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	return strings.Join(where, ` AND `), args
}

// ListModelsPlain runs the one plain SQL statement that reads what
// ListModels reads for f, and returns how many rows it read: the page in
// the sort's index order with LIMIT and OFFSET, each row with the count of
// all matches (an uncorrelated subquery, computed once), every row scanned
// as ListModels scans it. It is the yardstick of the ListModels benchmark
// (storetest.BenchListModels), run on the same pool; nothing else uses it.
func (db *DB) ListModelsPlain(ctx context.Context, tenantID string, f atelier.ModelFilter) (int, error) {
	where, args := modelWhere(tenantID, f)
	col, ok := modelSortColumns[cmp.Or(f.SortBy, atelier.ModelSortCreateAt)]
	if !ok {
		return 0, fmt.Errorf("%s: list models plainly: unknown sort %q", db.flavor.Name, f.SortBy)
	}
	dir := "DESC"
	if f.Order == "asc" {
		dir = "ASC"
	}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+modelCols+`, (SELECT COUNT(*) FROM models WHERE `+where+
		`) FROM models WHERE `+where+` ORDER BY `+col+` `+dir+`, id `+dir+` LIMIT ? OFFSET ?`),
		append(append(slices.Clone(args), args...), modelLimit(f.Limit), max(f.Offset, 0))...)
	if err != nil {
		return 0, db.wrap("list models plainly", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var total int64
		if _, err := scanModel(withTotal{rows, &total}); err != nil {
			return 0, db.wrap("list models plainly", err)
		}
		n++
	}
	return n, db.wrap("list models plainly", rows.Err())
}

// withTotal scans a model row followed by one more column into total.
type withTotal struct {
	s     scanner
	total *int64
}

func (w withTotal) Scan(dest ...any) error { return w.s.Scan(append(dest, w.total)...) }

// readTx runs fn with a querier that reads one snapshot: a read-only
// transaction on the reader pool, or the caller's transaction inside InTx.
func (db *DB) readTx(ctx context.Context, fn func(q querier) error) error {
	if db.tx != nil {
		return fn(db.r)
	}
	tx, err := db.rdb.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// UpdateModel reads the tenant's model, calls fn on it and writes it back,
// in one transaction that locks the row, and returns it as stored. The id,
// tenant, workspace, name, version and creation time cannot change. An
// error from fn aborts the update and is returned as is; ErrNotFound when
// the model is missing, without calling fn.
func (db *DB) UpdateModel(ctx context.Context, tenantID, id string, fn func(m *atelier.Model) error) (*atelier.Model, error) {
	var out *atelier.Model
	err := db.update(ctx, "update model", func(tx *sql.Tx) error {
		m, err := scanModel(tx.QueryRowContext(ctx, db.q(`SELECT `+modelCols+` FROM models WHERE id = ? AND tenant_id = ?`+
			db.flavor.ForUpdate), id, tenantID))
		if err != nil {
			return err
		}
		old := *m
		if err := fn(m); err != nil {
			return fnError{err}
		}
		m.ID, m.TenantID, m.WorkspaceID, m.Name, m.Version, m.CreatedAt =
			old.ID, old.TenantID, old.WorkspaceID, old.Name, old.Version, old.CreatedAt
		roundModel(m)
		_, err = tx.ExecContext(ctx, db.q(`UPDATE models SET description = ?, description_fold = ?, source_location = ?,
			source_job_id = ?, source_job_version = ?, model_type = ?, runtime = ?, execution_code = ?, input_params = ?,
			output_params = ?, dependencies = ?, apis = ?, status = ?, reason = ?, handler = ?, size = ?, digest = ?,
			owner = ?, updated_at = ? WHERE id = ?`),
			m.Description, fold(m.Description), m.SourceLocation, m.SourceJobID, m.SourceJobVersion, m.ModelType,
			m.Runtime, m.ExecutionCode, string(m.InputParams), string(m.OutputParams), string(m.Dependencies),
			string(m.APIs), m.Status, m.Reason, m.Handler, m.Size, m.Digest, m.Owner, usz(m.UpdatedAt), m.ID)
		if err != nil {
			return err
		}
		out = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteModel deletes the tenant's model: ErrNotFound when missing, and
// ErrConflict with the name of a service that uses it (the first by name).
// The service_models foreign key (ON DELETE RESTRICT) is what refuses the
// delete, in the DELETE statement itself, so that a CreateService or
// UpdateService committing concurrently cannot slip in between a check
// and the delete; the name is looked up first, in the same transaction,
// and again after a refusal the lookup did not foresee.
func (db *DB) DeleteModel(ctx context.Context, tenantID, id string) (string, error) {
	const op = "delete model"
	var usedBy string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// Someone else's model is not found, used or not.
		var one int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM models WHERE id = ? AND tenant_id = ?`),
			id, tenantID).Scan(&one); err != nil {
			return err
		}
		name, err := db.modelUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if name != "" {
			usedBy = name
			return errInUse
		}
		var workspaceID string
		if err := tx.QueryRowContext(ctx, db.q(`DELETE FROM models WHERE id = ? AND tenant_id = ? RETURNING workspace_id`),
			id, tenantID).Scan(&workspaceID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE model_counts SET models = models - 1
			WHERE tenant_id = ? AND workspace_id = ?`), tenantID, workspaceID)
		return err
	})
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, errInUse):
	case db.flavor.IsForeignKeyViolation(err):
		// A service committed its reference after the lookup.
		if name, lerr := db.modelUser(ctx, db.r, id); lerr == nil {
			usedBy = name
		}
	default:
		return "", db.wrap(op, err)
	}
	return usedBy, fmt.Errorf("%s: %s: used by service %q: %w", db.flavor.Name, op, usedBy, store.ErrConflict)
}

// errInUse aborts DeleteModel's transaction when a service uses the model.
var errInUse = errors.New("model in use")

// modelUser returns the name of the first service (by name) whose configs
// name the model, or "".
func (db *DB) modelUser(ctx context.Context, q querier, modelID string) (string, error) {
	var name string
	err := q.QueryRowContext(ctx, db.q(`SELECT s.name FROM service_models sm JOIN services s ON s.id = sm.service_id
		WHERE sm.model_id = ? ORDER BY s.name LIMIT 1`), modelID).Scan(&name)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return name, err
}
