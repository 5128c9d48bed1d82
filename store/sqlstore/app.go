package sqlstore

import (
	"context"

	"github.com/atelier-dev/atelier"
)

const appCols = `id, tenant_id, client_id, name, built_in, created_at`

func scanApp(s scanner) (*atelier.App, error) {
	var a atelier.App
	var created int64
	if err := s.Scan(&a.ID, &a.TenantID, &a.ClientID, &a.Name, &a.BuiltIn, &created); err != nil {
		return nil, err
	}
	a.CreatedAt = fromUS(created)
	return &a, nil
}

// CreateApp inserts a; ErrConflict when the id or client id is taken.
func (db *DB) CreateApp(ctx context.Context, a *atelier.App) error {
	_, err := db.exec(ctx, "create app",
		`INSERT INTO apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, a.TenantID, a.ClientID, a.Name, a.BuiltIn, us(a.CreatedAt))
	return err
}

// GetAppByClientID returns the app with the client id, or ErrNotFound.
func (db *DB) GetAppByClientID(ctx context.Context, clientID string) (*atelier.App, error) {
	return queryOne(ctx, db, "get app", scanApp, `SELECT `+appCols+` FROM apps WHERE client_id = ?`, clientID)
}
