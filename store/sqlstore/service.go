package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Page sizes of ListServices.
const (
	defaultServiceLimit = 100
	maxServiceLimit     = 1000
)

const serviceCols = `id, tenant_id, workspace_id, name, description, infer_type, configs, status, reason, generation,
	owner, created_at, updated_at`

func scanService(s scanner) (*atelier.InferenceService, error) {
	var v atelier.InferenceService
	var configs string
	var created, updated int64
	if err := s.Scan(&v.ID, &v.TenantID, &v.WorkspaceID, &v.Name, &v.Description, &v.InferType, &configs, &v.Status,
		&v.Reason, &v.Generation, &v.Owner, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(configs), &v.Configs); err != nil {
		return nil, fmt.Errorf("decode service configs: %w", err)
	}
	if v.Configs == nil {
		v.Configs = []atelier.ServiceConfig{}
	}
	v.CreatedAt = fromUS(created)
	v.UpdatedAt = fromUSZ(updated)
	return &v, nil
}

// encodeConfigs returns the stored JSON of configs and the configs as they
// read back from it (empty maps become nil, a nil list an empty one), so
// that what a write returns equals what a later read gives.
func encodeConfigs(configs []atelier.ServiceConfig) (string, []atelier.ServiceConfig, error) {
	if configs == nil {
		configs = []atelier.ServiceConfig{}
	}
	b, err := json.Marshal(configs)
	if err != nil {
		return "", nil, fmt.Errorf("encode service configs: %w", err)
	}
	back := []atelier.ServiceConfig{}
	if err := json.Unmarshal(b, &back); err != nil {
		return "", nil, fmt.Errorf("decode service configs: %w", err)
	}
	return string(b), back, nil
}

// resolveConfigs fills in the model name and version of each of configs
// from the tenant's models, inside tx, and returns the distinct model ids
// in order. The models are read FOR SHARE where the backend locks rows, so
// that a concurrent DeleteModel waits for tx (the service_models foreign
// key would refuse it anyway). A model that is missing or another
// tenant's gives sql.ErrNoRows.
func (db *DB) resolveConfigs(ctx context.Context, tx *sql.Tx, tenantID string, configs []atelier.ServiceConfig) ([]string, error) {
	var ids []string
	for _, c := range configs {
		if !slices.Contains(ids, c.ModelID) {
			ids = append(ids, c.ModelID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{tenantID}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, db.q(`SELECT id, name, version FROM models WHERE tenant_id = ? AND id IN (?`+
		strings.Repeat(`, ?`, len(ids)-1)+`)`+db.flavor.ForShare), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type nameVersion struct{ name, version string }
	found := map[string]nameVersion{}
	for rows.Next() {
		var id string
		var nv nameVersion
		if err := rows.Scan(&id, &nv.name, &nv.version); err != nil {
			return nil, err
		}
		found[id] = nv
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range configs {
		nv, ok := found[configs[i].ModelID]
		if !ok {
			return nil, fmt.Errorf("model %q: %w", configs[i].ModelID, sql.ErrNoRows)
		}
		configs[i].ModelName, configs[i].ModelVersion = nv.name, nv.version
	}
	return ids, nil
}

// writeServiceModels makes the service's rows of service_models the models
// in ids, inside tx.
func (db *DB) writeServiceModels(ctx context.Context, tx *sql.Tx, serviceID string, ids []string) error {
	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM service_models WHERE service_id = ?`), serviceID); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO service_models (service_id, model_id) VALUES (?, ?)`),
			serviceID, id); err != nil {
			return err
		}
	}
	return nil
}

// serviceErr is wrap for the writes of services, where a foreign key
// violation means that a model is gone: ErrNotFound.
func (db *DB) serviceErr(op string, err error) error {
	if err != nil && db.flavor.IsForeignKeyViolation(err) {
		return fmt.Errorf("%s: %s: a model is missing: %w", db.flavor.Name, op, store.ErrNotFound)
	}
	return db.wrap(op, err)
}

// CreateService inserts s with the references to the models its configs
// name, in one transaction, and fills in the configs' model names and
// versions; its times and configs are replaced by their stored forms (its
// Instances and AccessAddress are not stored). ErrConflict when the id is
// taken or the tenant has a service of that name; ErrNotFound when a
// config's model is missing or another tenant's.
func (db *DB) CreateService(ctx context.Context, s *atelier.InferenceService) error {
	const op = "create service"
	s.CreatedAt = fromUS(us(s.CreatedAt))
	s.UpdatedAt = fromUSZ(usz(s.UpdatedAt))
	configs := slices.Clone(s.Configs)
	var stored []atelier.ServiceConfig
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		ids, err := db.resolveConfigs(ctx, tx, s.TenantID, configs)
		if err != nil {
			return err
		}
		enc, back, err := encodeConfigs(configs)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO services (`+serviceCols+`, name_fold)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			s.ID, s.TenantID, s.WorkspaceID, s.Name, s.Description, s.InferType, enc, s.Status, s.Reason, s.Generation,
			s.Owner, us(s.CreatedAt), usz(s.UpdatedAt), fold(s.Name))
		if err != nil {
			return err
		}
		stored = back
		return db.writeServiceModels(ctx, tx, s.ID, ids)
	})
	if err != nil {
		return db.serviceErr(op, err)
	}
	s.Configs = stored
	return nil
}

// GetService returns the tenant's service with the id, or ErrNotFound
// (also for another tenant's). Its Instances are not filled in.
func (db *DB) GetService(ctx context.Context, tenantID, id string) (*atelier.InferenceService, error) {
	return queryOne(ctx, db, "get service", scanService,
		`SELECT `+serviceCols+` FROM services WHERE id = ? AND tenant_id = ?`, id, tenantID)
}

// GetServiceByName returns the tenant's service with the name, or
// ErrNotFound.
func (db *DB) GetServiceByName(ctx context.Context, tenantID, name string) (*atelier.InferenceService, error) {
	return queryOne(ctx, db, "get service", scanService,
		`SELECT `+serviceCols+` FROM services WHERE tenant_id = ? AND name = ?`, tenantID, name)
}

// ListServices returns the page of the tenant's services that f selects,
// newest first by (created, id), with the number of all that match, read
// in one read-only transaction. Name matches a substring of the
// lower-cased name (as ListModels' name), Status exactly, WorkspaceID
// exactly when set ("" lists every workspace). The limit defaults to 100
// and is capped at 1000.
func (db *DB) ListServices(ctx context.Context, tenantID string, f atelier.ServiceFilter) (*atelier.ServicePage, error) {
	where := []string{`tenant_id = ?`}
	args := []any{tenantID}
	if f.Name != "" {
		where = append(where, `name_fold LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(fold(f.Name)))
	}
	if f.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if f.WorkspaceID != "" {
		where = append(where, `workspace_id = ?`)
		args = append(args, f.WorkspaceID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultServiceLimit
	}
	limit = min(limit, maxServiceLimit)
	w := strings.Join(where, ` AND `)
	page := &atelier.ServicePage{Services: []*atelier.InferenceService{}}
	err := db.readTx(ctx, func(q querier) error {
		var total int64
		if err := q.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM services WHERE `+w), args...).Scan(&total); err != nil {
			return err
		}
		page.TotalCount = int(total)
		rows, err := q.QueryContext(ctx, db.q(`SELECT `+serviceCols+` FROM services WHERE `+w+
			` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`), append(args, limit, max(f.Offset, 0))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			s, err := scanService(rows)
			if err != nil {
				return err
			}
			page.Services = append(page.Services, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, db.wrap("list services", err)
	}
	page.Count = len(page.Services)
	return page, nil
}

// UpdateService reads the tenant's service, calls fn on it and writes it
// back with the references to its configs' models, in one transaction that
// locks the row, and returns it as stored (configs' model names and
// versions filled in, no Instances). The id, tenant, workspace, name and
// creation time cannot change. An error from fn aborts the update and is
// returned as is; ErrNotFound when the service is missing (without
// calling fn) or a config's model is missing or another tenant's.
func (db *DB) UpdateService(ctx context.Context, tenantID, id string, fn func(s *atelier.InferenceService) error) (*atelier.InferenceService, error) {
	const op = "update service"
	var out *atelier.InferenceService
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		s, err := scanService(tx.QueryRowContext(ctx, db.q(`SELECT `+serviceCols+` FROM services
			WHERE id = ? AND tenant_id = ?`+db.flavor.ForUpdate), id, tenantID))
		if err != nil {
			return err
		}
		old := *s
		if err := fn(s); err != nil {
			return fnError{err}
		}
		s.ID, s.TenantID, s.WorkspaceID, s.Name, s.CreatedAt = old.ID, old.TenantID, old.WorkspaceID, old.Name, old.CreatedAt
		s.UpdatedAt = fromUSZ(usz(s.UpdatedAt))
		s.Instances, s.AccessAddress = nil, ""
		ids, err := db.resolveConfigs(ctx, tx, tenantID, s.Configs)
		if err != nil {
			return err
		}
		enc, back, err := encodeConfigs(s.Configs)
		if err != nil {
			return err
		}
		s.Configs = back
		_, err = tx.ExecContext(ctx, db.q(`UPDATE services SET description = ?, infer_type = ?, configs = ?, status = ?,
			reason = ?, generation = ?, owner = ?, updated_at = ? WHERE id = ?`),
			s.Description, s.InferType, enc, s.Status, s.Reason, s.Generation, s.Owner, usz(s.UpdatedAt), s.ID)
		if err != nil {
			return err
		}
		if err := db.writeServiceModels(ctx, tx, s.ID, ids); err != nil {
			return err
		}
		out = s
		return nil
	})
	if fe, ok := err.(fnError); ok {
		return nil, fe.err
	}
	if err != nil {
		return nil, db.serviceErr(op, err)
	}
	return out, nil
}

// DeleteService deletes the tenant's service; its model references and
// instance records go with it (ON DELETE CASCADE). ErrNotFound when
// missing.
func (db *DB) DeleteService(ctx context.Context, tenantID, id string) error {
	return db.execOne(ctx, "delete service", `DELETE FROM services WHERE id = ? AND tenant_id = ?`, id, tenantID)
}

// ActiveServices returns every service of every tenant that is not
// stopped, oldest first by (created, id). The predicate is the one of the
// partial index services_active, word for word, so that the index serves
// the query.
func (db *DB) ActiveServices(ctx context.Context) ([]*atelier.InferenceService, error) {
	return queryAll(ctx, db, "active services", scanService, `SELECT `+serviceCols+` FROM services
		WHERE status <> 'stopped' ORDER BY created_at, id`)
}

const instanceCols = `service_id, instance_id, config_index, model_id, generation, status, restarts, reason, handle,
	started_at, created_at`

func scanInstance(s scanner) (*atelier.ServiceInstance, error) {
	var in atelier.ServiceInstance
	var serviceID string
	var started, created int64
	if err := s.Scan(&serviceID, &in.ID, &in.Config, &in.ModelID, &in.Generation, &in.Status, &in.Restarts, &in.Reason,
		&in.Handle, &started, &created); err != nil {
		return nil, err
	}
	in.StartedAt = fromUSZ(started)
	in.CreatedAt = fromUS(created)
	return &in, nil
}

// PutInstance inserts or replaces the service's instance record in.ID
// (everything but Addr, which is not stored); in itself is not changed.
// ErrNotFound when the service is gone.
func (db *DB) PutInstance(ctx context.Context, serviceID string, in *atelier.ServiceInstance) error {
	const op = "put instance"
	_, err := db.exec(ctx, op, `INSERT INTO service_instances (`+instanceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (service_id, instance_id) DO UPDATE SET config_index = excluded.config_index,
		model_id = excluded.model_id, generation = excluded.generation, status = excluded.status,
		restarts = excluded.restarts, reason = excluded.reason, handle = excluded.handle,
		started_at = excluded.started_at, created_at = excluded.created_at`,
		serviceID, in.ID, in.Config, in.ModelID, in.Generation, in.Status, in.Restarts, in.Reason, in.Handle,
		usz(in.StartedAt), us(in.CreatedAt))
	if err != nil && db.flavor.IsForeignKeyViolation(err) {
		return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, store.ErrNotFound)
	}
	return err
}

// DeleteInstance deletes the service's instance record; a missing one is
// not an error.
func (db *DB) DeleteInstance(ctx context.Context, serviceID, instanceID string) error {
	_, err := db.exec(ctx, "delete instance", `DELETE FROM service_instances WHERE service_id = ? AND instance_id = ?`,
		serviceID, instanceID)
	return err
}

// ListInstances returns the service's instance records by config index,
// then creation (then id); none for an unknown service.
func (db *DB) ListInstances(ctx context.Context, serviceID string) ([]*atelier.ServiceInstance, error) {
	return queryAll(ctx, db, "list instances", scanInstance, `SELECT `+instanceCols+` FROM service_instances
		WHERE service_id = ? ORDER BY config_index, created_at, instance_id`, serviceID)
}
