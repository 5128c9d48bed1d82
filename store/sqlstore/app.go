package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/atelier-dev/atelier"
)

const appCols = `id, tenant_id, client_id, name, built_in, isv, access, redirect_uris, id_token_ttl, secret_hash,
	created_at, updated_at`

func scanApp(s scanner) (*atelier.App, error) {
	var a atelier.App
	var uris string
	var created, updated int64
	if err := s.Scan(&a.ID, &a.TenantID, &a.ClientID, &a.Name, &a.BuiltIn, &a.ISV, &a.Access, &uris,
		&a.IDTokenTTL, &a.SecretHash, &created, &updated); err != nil {
		return nil, err
	}
	u, err := parseStrings(uris)
	if err != nil {
		return nil, err
	}
	a.RedirectURIs = u
	a.CreatedAt = fromUS(created)
	a.UpdatedAt = fromUSZ(updated)
	return &a, nil
}

// CreateApp inserts a; ErrConflict when the id or client id is taken.
func (db *DB) CreateApp(ctx context.Context, a *atelier.App) error {
	_, err := db.exec(ctx, "create app",
		`INSERT INTO apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.TenantID, a.ClientID, a.Name, a.BuiltIn, a.ISV, a.Access, jsonStrings(a.RedirectURIs),
		a.IDTokenTTL, a.SecretHash, us(a.CreatedAt), usz(a.UpdatedAt))
	return err
}

// GetAppByClientID returns the app with the client id, or ErrNotFound.
func (db *DB) GetAppByClientID(ctx context.Context, clientID string) (*atelier.App, error) {
	return queryOne(ctx, db, "get app", scanApp, `SELECT `+appCols+` FROM apps WHERE client_id = ?`, clientID)
}

// ListApps returns a tenant's apps ordered by name, then client id.
func (db *DB) ListApps(ctx context.Context, tenantID string) ([]*atelier.App, error) {
	return queryAll(ctx, db, "list apps", scanApp,
		`SELECT `+appCols+` FROM apps WHERE tenant_id = ? ORDER BY name, client_id`, tenantID)
}

// UpdateApp reads the app, calls fn on it and writes back every field but
// the ids, the tenant and the built-in flag, in one transaction that locks
// the row. An error from fn is returned as is; ErrNotFound when missing.
func (db *DB) UpdateApp(ctx context.Context, clientID string, fn func(a *atelier.App) error) (*atelier.App, error) {
	var out *atelier.App
	err := db.update(ctx, "update app", func(tx *sql.Tx) error {
		a, err := scanApp(tx.QueryRowContext(ctx,
			db.q(`SELECT `+appCols+` FROM apps WHERE client_id = ?`+db.flavor.ForUpdate), clientID))
		if err != nil {
			return err
		}
		id, tenantID, builtIn := a.ID, a.TenantID, a.BuiltIn
		if err := fn(a); err != nil {
			return fnError{err}
		}
		a.ID, a.TenantID, a.ClientID, a.BuiltIn = id, tenantID, clientID, builtIn
		a.CreatedAt = fromUS(us(a.CreatedAt))
		a.UpdatedAt = fromUSZ(usz(a.UpdatedAt))
		if a.RedirectURIs == nil {
			a.RedirectURIs = []string{}
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE apps SET name = ?, isv = ?, access = ?, redirect_uris = ?,
			id_token_ttl = ?, secret_hash = ?, created_at = ?, updated_at = ? WHERE id = ?`),
			a.Name, a.ISV, a.Access, jsonStrings(a.RedirectURIs), a.IDTokenTTL, a.SecretHash,
			us(a.CreatedAt), usz(a.UpdatedAt), id)
		if err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteApp deletes the app with its grants, the tokens issued through it
// and its callback subscription and deliveries, in one transaction;
// ErrNotFound when missing.
func (db *DB) DeleteApp(ctx context.Context, clientID string) error {
	return db.wrap("delete app", db.inTx(ctx, func(tx *sql.Tx) error {
		var id string
		if err := tx.QueryRowContext(ctx, db.q(`DELETE FROM apps WHERE client_id = ? RETURNING id`), clientID).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM app_grants WHERE app_id = ?`), id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM tokens WHERE client_id = ?`,
			`DELETE FROM callback_attempts WHERE delivery_id IN (SELECT id FROM callback_deliveries WHERE client_id = ?)`,
			`DELETE FROM callback_deliveries WHERE client_id = ?`,
			`DELETE FROM callback_subscriptions WHERE client_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, db.q(q), clientID); err != nil {
				return err
			}
		}
		return nil
	}))
}

// GrantApp lets the user use the app; granting twice is not an error and
// keeps the first grant's time.
func (db *DB) GrantApp(ctx context.Context, appID, userID string, at time.Time) error {
	_, err := db.exec(ctx, "grant app",
		`INSERT INTO app_grants (app_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT (app_id, user_id) DO NOTHING`,
		appID, userID, us(at))
	return err
}

// RevokeApp removes a grant; ErrNotFound when there was none.
func (db *DB) RevokeApp(ctx context.Context, appID, userID string) error {
	return db.execOne(ctx, "revoke app", `DELETE FROM app_grants WHERE app_id = ? AND user_id = ?`, appID, userID)
}

// HasAppGrant reports whether the user was granted the app.
func (db *DB) HasAppGrant(ctx context.Context, appID, userID string) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM app_grants WHERE app_id = ? AND user_id = ?`),
		appID, userID).Scan(&n)
	if err != nil {
		return false, db.wrap("has app grant", err)
	}
	return n > 0, nil
}

// ListAppGrants returns the ids of the users granted the app, sorted.
func (db *DB) ListAppGrants(ctx context.Context, appID string) ([]string, error) {
	const op = "list app grants"
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT user_id FROM app_grants WHERE app_id = ? ORDER BY user_id`), appID)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, db.wrap(op, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}
