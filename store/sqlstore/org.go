package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

const orgCols = `id, tenant_id, parent_id, name, created_at, updated_at`

func scanOrg(s scanner) (*atelier.Organization, error) {
	var o atelier.Organization
	var created, updated int64
	if err := s.Scan(&o.ID, &o.TenantID, &o.ParentID, &o.Name, &created, &updated); err != nil {
		return nil, err
	}
	o.CreatedAt = fromUS(created)
	o.UpdatedAt = fromUS(updated)
	return &o, nil
}

// CreateOrg inserts o and replaces its times by their stored forms;
// ErrConflict on a taken id or a taken name under the parent. A child is
// inserted in the transaction that checks that its parent exists in the
// tenant, ErrNotFound when it does not, so that a concurrent DeleteOrg of
// the parent cannot leave an orphan.
func (db *DB) CreateOrg(ctx context.Context, o *atelier.Organization) error {
	o.CreatedAt, o.UpdatedAt = fromUS(us(o.CreatedAt)), fromUS(us(o.UpdatedAt))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if o.ParentID != "" {
			if err := db.checkOrg(ctx, tx, o.TenantID, o.ParentID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO orgs (`+orgCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
			o.ID, o.TenantID, o.ParentID, o.Name, us(o.CreatedAt), us(o.UpdatedAt))
		return err
	})
	return db.wrap("create org", err)
}

// GetOrg returns the organization with the id, or ErrNotFound.
func (db *DB) GetOrg(ctx context.Context, id string) (*atelier.Organization, error) {
	return queryOne(ctx, db, "get org", scanOrg, `SELECT `+orgCols+` FROM orgs WHERE id = ?`, id)
}

// ListOrgs returns a tenant's organizations ordered by name (byte-wise),
// then id.
func (db *DB) ListOrgs(ctx context.Context, tenantID string) ([]*atelier.Organization, error) {
	return queryAll(ctx, db, "list orgs", scanOrg,
		`SELECT `+orgCols+` FROM orgs WHERE tenant_id = ? ORDER BY name, id`, tenantID)
}

// UpdateOrg reads the organization, calls fn on it and writes back its name,
// parent and updated_at, in one transaction that locks the row. An error
// from fn is returned as is. ErrNotFound when the organization or its new
// parent (in the tenant) is missing, ErrConflict on a taken name under the
// parent. The store does not look for cycles beyond an organization being
// its own parent, which is ErrConflict; the caller checks deeper ones. It
// returns the organization as stored.
func (db *DB) UpdateOrg(ctx context.Context, id string, fn func(o *atelier.Organization) error) (*atelier.Organization, error) {
	const op = "update org"
	var out *atelier.Organization
	err := db.update(ctx, op, func(tx *sql.Tx) error {
		o, err := scanOrg(tx.QueryRowContext(ctx,
			db.q(`SELECT `+orgCols+` FROM orgs WHERE id = ?`+db.flavor.ForUpdate), id))
		if err != nil {
			return err
		}
		tenantID, parentID, created := o.TenantID, o.ParentID, o.CreatedAt
		if err := fn(o); err != nil {
			return fnError{err}
		}
		o.ID, o.TenantID, o.CreatedAt = id, tenantID, created
		o.UpdatedAt = fromUS(us(o.UpdatedAt))
		if o.ParentID == id {
			return fnError{fmt.Errorf("%s: %s: organization is its own parent: %w", db.flavor.Name, op, store.ErrConflict)}
		}
		if o.ParentID != parentID && o.ParentID != "" {
			if err := db.checkOrg(ctx, tx, tenantID, o.ParentID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE orgs SET parent_id = ?, name = ?, updated_at = ? WHERE id = ?`),
			o.ParentID, o.Name, us(o.UpdatedAt), id)
		if err != nil {
			return err
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteOrg deletes an organization that has no children and no users:
// ErrNotEmpty otherwise, ErrNotFound when missing. It locks the row first,
// and CreateUser, UpdateUser, CreateOrg and UpdateOrg check a referenced
// organization with a share lock, so no user or child can be added between
// the check and the delete. It returns the organization as it was deleted.
func (db *DB) DeleteOrg(ctx context.Context, id string) (*atelier.Organization, error) {
	const op = "delete org"
	var out *atelier.Organization
	err := db.update(ctx, op, func(tx *sql.Tx) error {
		o, err := scanOrg(tx.QueryRowContext(ctx,
			db.q(`SELECT `+orgCols+` FROM orgs WHERE id = ?`+db.flavor.ForUpdate), id))
		if err != nil {
			return err
		}
		var used bool
		err = tx.QueryRowContext(ctx, db.q(`SELECT EXISTS (SELECT 1 FROM orgs WHERE parent_id = ?)
			OR EXISTS (SELECT 1 FROM users WHERE org_id = ?)`), id, id).Scan(&used)
		if err != nil {
			return err
		}
		if used {
			return fnError{fmt.Errorf("%s: %s: %w", db.flavor.Name, op, store.ErrNotEmpty)}
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM orgs WHERE id = ?`), id); err != nil {
			return err
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
