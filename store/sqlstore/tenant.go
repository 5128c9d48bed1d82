package sqlstore

import (
	"context"

	"github.com/atelier-dev/atelier"
)

const tenantCols = `id, name, created_at`

func scanTenant(s scanner) (*atelier.Tenant, error) {
	var t atelier.Tenant
	var created int64
	if err := s.Scan(&t.ID, &t.Name, &created); err != nil {
		return nil, err
	}
	t.CreatedAt = fromUS(created)
	return &t, nil
}

// CreateTenant inserts t; ErrConflict when the id or name is taken.
func (db *DB) CreateTenant(ctx context.Context, t *atelier.Tenant) error {
	_, err := db.exec(ctx, "create tenant",
		`INSERT INTO tenants (`+tenantCols+`) VALUES (?, ?, ?)`, t.ID, t.Name, us(t.CreatedAt))
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
