package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/atelier-dev/atelier"
)

const tenantCols = `id, name, settings, created_at, updated_at`

func scanTenant(s scanner) (*atelier.Tenant, error) {
	var t atelier.Tenant
	var settings string
	var created, updated int64
	if err := s.Scan(&t.ID, &t.Name, &settings, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &t.Settings); err != nil {
		return nil, fmt.Errorf("decode tenant settings: %w", err)
	}
	t.CreatedAt = fromUS(created)
	t.UpdatedAt = fromUSZ(updated)
	return &t, nil
}

func tenantSettings(t *atelier.Tenant) (string, error) {
	b, err := json.Marshal(t.Settings)
	if err != nil {
		return "", fmt.Errorf("encode tenant settings: %w", err)
	}
	return string(b), nil
}

// CreateTenant inserts t; ErrConflict when the id or name is taken.
func (db *DB) CreateTenant(ctx context.Context, t *atelier.Tenant) error {
	settings, err := tenantSettings(t)
	if err != nil {
		return db.wrap("create tenant", err)
	}
	_, err = db.exec(ctx, "create tenant",
		`INSERT INTO tenants (`+tenantCols+`) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Name, settings, us(t.CreatedAt), usz(t.UpdatedAt))
	return err
}

// GetTenant returns the tenant with the id, or ErrNotFound.
func (db *DB) GetTenant(ctx context.Context, id string) (*atelier.Tenant, error) {
	return queryOne(ctx, db, "get tenant", scanTenant,
		`SELECT `+tenantCols+` FROM tenants WHERE id = ?`, id)
}

// GetTenantByName returns the tenant with the name, or ErrNotFound.
func (db *DB) GetTenantByName(ctx context.Context, name string) (*atelier.Tenant, error) {
	return queryOne(ctx, db, "get tenant by name", scanTenant,
		`SELECT `+tenantCols+` FROM tenants WHERE name = ?`, name)
}

// ListTenants returns every tenant ordered by name.
func (db *DB) ListTenants(ctx context.Context) ([]*atelier.Tenant, error) {
	return queryAll(ctx, db, "list tenants", scanTenant,
		`SELECT `+tenantCols+` FROM tenants ORDER BY name`)
}

// UpdateTenant reads the tenant, calls fn on it and writes back its name,
// settings and updated_at, in one transaction that locks the row. The id and
// creation time cannot change. An error from fn is returned as is;
// ErrNotFound when missing, ErrConflict on a taken name.
func (db *DB) UpdateTenant(ctx context.Context, id string, fn func(t *atelier.Tenant) error) (*atelier.Tenant, error) {
	var out *atelier.Tenant
	err := db.update(ctx, "update tenant", func(tx *sql.Tx) error {
		t, err := scanTenant(tx.QueryRowContext(ctx,
			db.q(`SELECT `+tenantCols+` FROM tenants WHERE id = ?`+db.flavor.ForUpdate), id))
		if err != nil {
			return err
		}
		created := t.CreatedAt
		if err := fn(t); err != nil {
			return fnError{err}
		}
		t.ID, t.CreatedAt = id, created
		t.UpdatedAt = fromUSZ(usz(t.UpdatedAt))
		settings, err := tenantSettings(t)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE tenants SET name = ?, settings = ?, updated_at = ? WHERE id = ?`),
			t.Name, settings, usz(t.UpdatedAt), id); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
