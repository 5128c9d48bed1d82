package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

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

// CreateOrg inserts o and appends its CREATE_ORGANIZATION event, in one
// transaction; ErrConflict on a taken id or a taken name under the parent. A
// child is inserted in the transaction that checks that its parent exists in
// the tenant, ErrNotFound when it does not, so that a concurrent DeleteOrg
// of the parent cannot leave an orphan.
func (db *DB) CreateOrg(ctx context.Context, o *atelier.Organization) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if o.ParentID != "" {
			if err := db.checkOrg(ctx, tx, o.TenantID, o.ParentID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO orgs (`+orgCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
			o.ID, o.TenantID, o.ParentID, o.Name, us(o.CreatedAt), us(o.UpdatedAt))
		if err != nil {
			return err
		}
		return db.appendEvent(ctx, tx, orgEvent(atelier.EventCreateOrganization, o, o.CreatedAt))
	})
	if err != nil {
		return db.wrap("create org", err)
	}
	db.signalEvents()
	return nil
}

// orgEvent is atelier.NewOrgEvent with o's times as the store keeps them.
func orgEvent(typ string, o *atelier.Organization, at time.Time) *atelier.Event {
	c := *o
	c.CreatedAt, c.UpdatedAt = fromUS(us(o.CreatedAt)), fromUS(us(o.UpdatedAt))
	return atelier.NewOrgEvent(typ, &c, fromUS(us(at)))
}

// orgEventChanged reports whether the UPDATE_ORGANIZATION event data of a
// and b differ other than in updatedAt.
func orgEventChanged(a, b *atelier.Organization) bool {
	x, y := *a, *b
	x.UpdatedAt, y.UpdatedAt = time.Time{}, time.Time{}
	return !bytes.Equal(orgEvent(atelier.EventUpdateOrganization, &x, time.Time{}).Data,
		orgEvent(atelier.EventUpdateOrganization, &y, time.Time{}).Data)
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
// its own parent, which is ErrConflict; the caller checks deeper ones. When
// the name or parent changed, the transaction appends an
// UPDATE_ORGANIZATION event at the new UpdatedAt.
func (db *DB) UpdateOrg(ctx context.Context, id string, fn func(o *atelier.Organization) error) (*atelier.Organization, error) {
	const op = "update org"
	var out *atelier.Organization
	var appended bool
	err := db.update(ctx, op, func(tx *sql.Tx) error {
		appended = false
		o, err := scanOrg(tx.QueryRowContext(ctx,
			db.q(`SELECT `+orgCols+` FROM orgs WHERE id = ?`+db.flavor.ForUpdate), id))
		if err != nil {
			return err
		}
		before := *o
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
		if orgEventChanged(&before, o) {
			if err := db.appendEvent(ctx, tx, orgEvent(atelier.EventUpdateOrganization, o, o.UpdatedAt)); err != nil {
				return err
			}
			appended = true
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	if appended {
		db.signalEvents()
	}
	return out, nil
}

// DeleteOrg deletes an organization that has no children and no users:
// ErrNotEmpty otherwise, ErrNotFound when missing. It locks the row first,
// and CreateUser, UpdateUser, CreateOrg and UpdateOrg check a referenced
// organization with a share lock, so no user or child can be added between
// the check and the delete. The transaction appends the organization's
// DELETE_ORGANIZATION event.
func (db *DB) DeleteOrg(ctx context.Context, id string) error {
	const op = "delete org"
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
		return db.appendEvent(ctx, tx, orgEvent(atelier.EventDeleteOrganization, o, time.Now()))
	})
	if err != nil {
		return err
	}
	db.signalEvents()
	return nil
}
