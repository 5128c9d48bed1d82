package sqlstore

import (
	"context"

	"github.com/atelier-dev/atelier"
)

const apiKeyCols = `access_key, tenant_id, user_id, description, secret_hash, created_at`

func scanAPIKey(s scanner) (*atelier.APIKey, error) {
	var k atelier.APIKey
	var created int64
	if err := s.Scan(&k.AccessKey, &k.TenantID, &k.UserID, &k.Description, &k.SecretHash, &created); err != nil {
		return nil, err
	}
	k.CreatedAt = fromUS(created)
	return &k, nil
}

// CreateAPIKey inserts k; ErrConflict when the access key exists.
func (db *DB) CreateAPIKey(ctx context.Context, k *atelier.APIKey) error {
	_, err := db.exec(ctx, "create api key",
		`INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.AccessKey, k.TenantID, k.UserID, k.Description, k.SecretHash, us(k.CreatedAt))
	return err
}

// GetAPIKey returns the key, or ErrNotFound.
func (db *DB) GetAPIKey(ctx context.Context, accessKey string) (*atelier.APIKey, error) {
	return queryOne(ctx, db, "get api key", scanAPIKey,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE access_key = ?`, accessKey)
}

// ListAPIKeys returns the keys of one user, oldest first.
func (db *DB) ListAPIKeys(ctx context.Context, tenantID, userID string) ([]*atelier.APIKey, error) {
	return queryAll(ctx, db, "list api keys", scanAPIKey,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, access_key`,
		tenantID, userID)
}

// DeleteAPIKey deletes the key if it belongs to the tenant and user, else
// returns ErrNotFound.
func (db *DB) DeleteAPIKey(ctx context.Context, tenantID, userID, accessKey string) error {
	return db.execOne(ctx, "delete api key",
		`DELETE FROM api_keys WHERE access_key = ? AND tenant_id = ? AND user_id = ?`, accessKey, tenantID, userID)
}
